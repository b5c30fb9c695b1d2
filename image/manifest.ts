/**
 * Manifests and indexes, parsed and validated before anything they name is
 * fetched: OCI image manifest and index, Docker v2 schema 2 manifest and
 * manifest list. Schema 1 is refused: it has no content-addressed config, its
 * signatures are over a different serialisation than its digest, and every
 * registry that serves it also serves schema 2 when asked (reference/peers.md §3).
 *
 * The media type is taken from the document's own `mediaType` field when it
 * has one; the HTTP Content-Type is only a fallback, and a document whose two
 * disagree, or that carries both `manifests` and `config`/`layers`, is refused
 * (the "ambiguous manifest" confusion of CVE-2021-41190). Reads are bounded:
 * a manifest over 4 MiB or a config over 8 MiB is refused unread.
 */
import { ImageError } from '../runtime/errors.js';
import { SHA256_DIGEST } from './digest.js';
import {
  DOCKER_CONFIG,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
} from './media-types.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const MANIFEST_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];
const INDEX_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
const CONFIG_TYPES: readonly string[] = [OCI_CONFIG, DOCKER_CONFIG];

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
  'os.version'?: string | undefined;
  'os.features'?: string[] | undefined;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[] | undefined;
  annotations?: Record<string, string> | undefined;
  platform?: Platform | undefined;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string> | undefined;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string> | undefined;
}

export type Manifest = ImageManifest | ImageIndex;

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType);
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.includes(mediaType);
}

/** 'application/json; charset=utf-8' → 'application/json'. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}

function schema1Error(where: string): ImageError {
  return new ImageError(
    `${where} is a Docker schema 1 manifest, which Skiff does not support; push the image again with a current docker or skopeo`,
    { input: where },
  );
}

/** Refuses schema 1 by its media type alone (before reading a body). */
export function assertNotSchema1(mediaType: string | undefined, where: string): void {
  const bare = bareMediaType(mediaType);
  if (bare === DOCKER_SCHEMA1 || bare === DOCKER_SCHEMA1_SIGNED) throw schema1Error(where);
}

/**
 * Parses a manifest or index. `mediaType` is what the server or the parent
 * descriptor said it is (may be undefined or generic); `where` names the
 * document in errors: 'docker://127.0.0.1:5000/skiff/probe:oci'.
 */
export function parseManifest(bytes: Buffer, mediaType: string | undefined, where: string): Manifest {
  assertNotSchema1(mediaType, where);
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ImageError(`${where}: manifest is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`, { input: where });
  }
  const doc = parseJsonObject(bytes, where, 'manifest');
  const bodyType = doc['mediaType'];
  if (doc['schemaVersion'] === 1 || bodyType === DOCKER_SCHEMA1 || bodyType === DOCKER_SCHEMA1_SIGNED) throw schema1Error(where);
  if (doc['schemaVersion'] !== 2) {
    throw new ImageError(`${where}: unsupported manifest schemaVersion ${JSON.stringify(doc['schemaVersion'])} (expected 2)`, { input: where });
  }
  if (bodyType !== undefined && typeof bodyType !== 'string') throw bad(where, 'mediaType is not a string');
  const served = bareMediaType(mediaType);
  const servedKnown = served !== undefined && (isManifestMediaType(served) || isIndexMediaType(served));
  if (bodyType !== undefined && servedKnown && bodyType !== served) {
    throw bad(where, `it says it is ${bodyType} but was served as ${served}`);
  }
  const hasManifests = 'manifests' in doc;
  const hasImageFields = 'config' in doc || 'layers' in doc;
  if (hasManifests && hasImageFields) throw bad(where, 'it has both "manifests" and "config"/"layers" (ambiguous manifest)');
  const type = bodyType ?? (servedKnown ? served : hasManifests ? OCI_INDEX : OCI_MANIFEST);

  if (isIndexMediaType(type)) {
    if (hasImageFields) throw bad(where, `a ${type} must not have "config" or "layers"`);
    const manifests = doc['manifests'];
    if (!Array.isArray(manifests)) throw bad(where, '"manifests" is not a list');
    return {
      kind: 'index',
      mediaType: type,
      manifests: manifests.map((m, i) => parseDescriptor(m, where, `manifests[${i}]`)),
      annotations: optionalStringMap(doc['annotations'], where, 'annotations'),
    };
  }
  if (isManifestMediaType(type)) {
    if (hasManifests) throw bad(where, `a ${type} must not have "manifests"`);
    const config = parseDescriptor(doc['config'], where, 'config');
    if (!CONFIG_TYPES.includes(config.mediaType)) {
      throw new ImageError(`${where} is not a container image: its config has media type ${config.mediaType}`, { input: where });
    }
    const layers = doc['layers'];
    if (!Array.isArray(layers)) throw bad(where, '"layers" is not a list');
    return {
      kind: 'manifest',
      mediaType: type,
      config,
      layers: layers.map((l, i) => parseDescriptor(l, where, `layers[${i}]`)),
      annotations: optionalStringMap(doc['annotations'], where, 'annotations'),
    };
  }
  throw new ImageError(`${where}: unsupported manifest media type ${type}`, {
    input: where,
    hint: 'Skiff reads OCI image manifests and indexes and Docker v2 schema 2 manifests and manifest lists',
  });
}

function parseDescriptor(value: unknown, where: string, field: string): Descriptor {
  if (!isObject(value)) throw bad(where, `${field} is not an object`);
  const { mediaType, digest, size, urls, annotations, platform } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw bad(where, `${field}.mediaType is missing`);
  checkDigest(digest, where, `${field}.digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(where, `${field}.size is not a non-negative integer`);
  }
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string'))) {
    throw bad(where, `${field}.urls is not a list of strings`);
  }
  return {
    mediaType,
    digest,
    size,
    urls: urls as string[] | undefined,
    annotations: optionalStringMap(annotations, where, `${field}.annotations`),
    platform: platform === undefined ? undefined : parsePlatformField(platform, where, `${field}.platform`),
  };
}

function parsePlatformField(value: unknown, where: string, field: string): Platform {
  if (!isObject(value)) throw bad(where, `${field} is not an object`);
  const { os, architecture, variant } = value;
  if (typeof os !== 'string' || typeof architecture !== 'string') throw bad(where, `${field} lacks os or architecture`);
  if (variant !== undefined && typeof variant !== 'string') throw bad(where, `${field}.variant is not a string`);
  const osVersion = value['os.version'];
  const osFeatures = value['os.features'];
  return {
    os,
    architecture,
    variant: variant === '' ? undefined : variant,
    'os.version': typeof osVersion === 'string' ? osVersion : undefined,
    'os.features': Array.isArray(osFeatures) ? osFeatures.filter((f): f is string => typeof f === 'string') : undefined,
  };
}

/** Only sha256: it is the only algorithm Skiff verifies, so nothing else may name content. */
export function checkDigest(value: unknown, where: string, field: string): asserts value is string {
  if (typeof value !== 'string') throw bad(where, `${field} is missing`);
  if (SHA256_DIGEST.test(value)) return;
  if (/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:/.test(value) && !value.startsWith('sha256:')) {
    throw new ImageError(`${where}: ${field} uses ${value.split(':')[0]}, and Skiff verifies sha256 digests only`, { input: where });
  }
  throw bad(where, `${field} "${value.slice(0, 80)}" is not a sha256 digest`);
}

export function parseJsonObject(bytes: Buffer, where: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ImageError(`${where}: ${what} is not valid JSON (${(err as Error).message})`, { input: where, cause: err });
  }
  if (!isObject(doc)) throw new ImageError(`${where}: ${what} is not a JSON object`, { input: where });
  return doc;
}

export function optionalStringMap(value: unknown, where: string, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw bad(where, `${field} is not a map of strings`);
  }
  return { ...(value as Record<string, string>) };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(where: string, what: string): ImageError {
  return new ImageError(`${where}: invalid manifest: ${what}`, { input: where });
}

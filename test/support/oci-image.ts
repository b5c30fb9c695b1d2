/**
 * Builds OCI and Docker v2 schema 2 images in memory, for tests and benches:
 * layers from tar entries, the image config, manifests and indexes, each as a
 * content-addressed blob.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from '../../image/media-types.js';
import { tarArchive, type TarEntry, type TarOptions } from './tar-writer.js';

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export type ImageFormat = 'oci' | 'docker';

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blobOf(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: sha256(data), size: data.length, data };
}

export function descriptorOf(blob: Blob, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, ...extra };
}

export interface Layer {
  /** The uncompressed tar; its digest is the diffID. */
  tar: Buffer;
  diffId: string;
  compression: 'gzip' | 'none';
  /** The bytes as stored in the registry (gzip or the tar itself). */
  stored: Buffer;
  digest: string;
}

export function buildLayer(
  entries: Iterable<TarEntry> | Buffer,
  options: TarOptions & { compression?: 'gzip' | 'none'; gzipLevel?: number } = {},
): Layer {
  const tar = Buffer.isBuffer(entries) ? entries : tarArchive(entries, options);
  const compression = options.compression ?? 'gzip';
  const stored = compression === 'gzip' ? gzipSync(tar, { level: options.gzipLevel ?? 6 }) : tar;
  return { tar, diffId: sha256(tar), compression, stored, digest: sha256(stored) };
}

export interface ImageConfigSpec {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
}

export interface BuiltImage {
  format: ImageFormat;
  platform: Platform;
  config: Blob;
  layers: Blob[];
  manifest: Blob;
  /** Every blob the manifest refers to, config first. */
  blobs: Blob[];
}

export function buildImage(spec: {
  layers: Layer[];
  config?: ImageConfigSpec;
  platform?: Platform;
  format?: ImageFormat;
  created?: string;
}): BuiltImage {
  const format = spec.format ?? 'oci';
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const configJson = {
    created: spec.created ?? '2026-01-01T00:00:00Z',
    architecture: platform.architecture,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    os: platform.os,
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => ({ created: spec.created ?? '2026-01-01T00:00:00Z', created_by: 'skiff test fixture' })),
  };
  const config = blobOf(format === 'oci' ? OCI_CONFIG : DOCKER_CONFIG, Buffer.from(JSON.stringify(configJson)));
  const layers = spec.layers.map((l) => {
    const mediaType =
      format === 'docker' ? DOCKER_LAYER_GZIP : l.compression === 'gzip' ? OCI_LAYER_GZIP : OCI_LAYER;
    if (format === 'docker' && l.compression !== 'gzip') {
      throw new Error('Docker v2 schema 2 layers are gzip-compressed; build the layer with compression gzip');
    }
    return blobOf(mediaType, l.stored);
  });
  const manifestJson = {
    schemaVersion: 2,
    mediaType: format === 'oci' ? OCI_MANIFEST : DOCKER_MANIFEST,
    config: descriptorOf(config),
    layers: layers.map((b) => descriptorOf(b)),
  };
  const manifest = blobOf(manifestJson.mediaType, Buffer.from(JSON.stringify(manifestJson, null, 2)));
  return { format, platform, config, layers, manifest, blobs: [config, ...layers] };
}

/** An OCI index (or Docker manifest list) over per-platform images. */
export function buildIndex(images: BuiltImage[], format: ImageFormat = 'oci'): Blob {
  const mediaType = format === 'oci' ? OCI_INDEX : DOCKER_MANIFEST_LIST;
  const indexJson = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img) => descriptorOf(img.manifest, { platform: img.platform })),
  };
  return blobOf(mediaType, Buffer.from(JSON.stringify(indexJson, null, 2)));
}

/**
 * The image config (OCI `application/vnd.oci.image.config.v1+json`, Docker
 * `application/vnd.docker.container.image.v1+json`: the same JSON): the layer
 * chain's diffIDs, which unpack verifies each uncompressed layer against, and
 * the defaults an app starts with. Docker writes `null` for empty lists and
 * maps; those become undefined. Strings that end up in execve or in paths may
 * not hold NUL bytes. The diffID count must equal the manifest's layer count,
 * or layers and diffIDs could be paired wrongly.
 */
import { ImageError } from '../runtime/errors.js';
import { compareStrings } from '../runtime/compare-strings.js';
import {
  checkDigest,
  isObject,
  MAX_CONFIG_BYTES,
  optionalStringMap,
  parseJsonObject,
} from './manifest.js';

export interface ExposedPort {
  port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** OCI `config` (Docker `config`): what an app of this image runs with by default. */
export interface RunConfig {
  cmd: string[] | undefined;
  entrypoint: string[] | undefined;
  env: string[];
  workingDir: string | undefined;
  user: string | undefined;
  exposedPorts: ExposedPort[];
  labels: Record<string, string>;
  stopSignal: string | undefined;
}

export interface ImageConfig {
  /** As the config states them (not normalised). */
  os: string;
  architecture: string;
  variant: string | undefined;
  created: string | undefined;
  /** rootfs.diff_ids, in layer order. */
  diffIds: string[];
  config: RunConfig;
}

/** `layerCount`: how many layers the image's manifest lists. */
export function parseImageConfig(bytes: Buffer, layerCount: number, where: string): ImageConfig {
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new ImageError(`${where}: image config is ${bytes.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`, { input: where });
  }
  const doc = parseJsonObject(bytes, where, 'image config');
  const { os, architecture, variant, created, rootfs } = doc;
  if (typeof os !== 'string' || os === '') throw bad(where, '"os" is missing');
  if (typeof architecture !== 'string' || architecture === '') throw bad(where, '"architecture" is missing');
  if (!isObject(rootfs) || rootfs['type'] !== 'layers' || !Array.isArray(rootfs['diff_ids'])) {
    throw bad(where, 'rootfs must be {"type": "layers", "diff_ids": [...]}');
  }
  const diffIds = rootfs['diff_ids'] as unknown[];
  diffIds.forEach((d, i) => checkDigest(d, where, `rootfs.diff_ids[${i}]`));
  if (diffIds.length !== layerCount) {
    throw bad(where, `it lists ${diffIds.length} diff_ids but the manifest has ${layerCount} layers`);
  }
  const run = doc['config'] ?? {};
  if (!isObject(run)) throw bad(where, '"config" is not an object');
  return {
    os,
    architecture,
    variant: typeof variant === 'string' && variant !== '' ? variant : undefined,
    created: typeof created === 'string' ? created : undefined,
    diffIds: diffIds as string[],
    config: {
      cmd: stringList(run['Cmd'], where, 'Cmd'),
      entrypoint: stringList(run['Entrypoint'], where, 'Entrypoint'),
      env: stringList(run['Env'], where, 'Env') ?? [],
      workingDir: optionalString(run['WorkingDir'], where, 'WorkingDir'),
      user: optionalString(run['User'], where, 'User'),
      exposedPorts: exposedPorts(run['ExposedPorts'], where),
      labels: optionalStringMap(run['Labels'], where, 'config.Labels') ?? {},
      stopSignal: optionalString(run['StopSignal'], where, 'StopSignal'),
    },
  };
}

function stringList(value: unknown, where: string, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw bad(where, `config.${field} is not a list of strings`);
  for (const v of value as string[]) noNul(v, where, field);
  return [...(value as string[])];
}

function optionalString(value: unknown, where: string, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw bad(where, `config.${field} is not a string`);
  noNul(value, where, field);
  return value;
}

function noNul(value: string, where: string, field: string): void {
  if (value.includes('\0')) throw bad(where, `config.${field} contains a NUL byte`);
}

/** Keys are "80/tcp", "53/udp" or "8080" (tcp); the values are empty objects. Sorted by port. */
function exposedPorts(value: unknown, where: string): ExposedPort[] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) throw bad(where, 'config.ExposedPorts is not a map');
  const ports = Object.keys(value).map((key) => {
    const m = /^([0-9]{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
    const port = Number(m?.[1]);
    if (!m || port < 1 || port > 65535) throw bad(where, `config.ExposedPorts has "${key}", not PORT[/tcp|udp|sctp]`);
    return { port, protocol: (m[2]?.toLowerCase() ?? 'tcp') as ExposedPort['protocol'] };
  });
  return ports.sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol));
}

function bad(where: string, what: string): ImageError {
  return new ImageError(`${where}: invalid image config: ${what}`, { input: where });
}

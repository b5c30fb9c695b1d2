/**
 * What image commands take from the global flags and the environment: the
 * store under --dir, how to reach registries, and the cap on a layer's
 * unpacked size (SKIFF_MAX_LAYER_SIZE).
 */
import { DEFAULT_CERTS_DIR } from '../../image/registry/options.js';
import { storePaths, type StorePaths } from '../../image/store/store-paths.js';
import type { SourceOptions } from '../../image/sources/open-source.js';
import { UsageError } from '../errors.js';
import { RUN_INSECURE_OPTIONS, type GlobalOptions, type InsecureOption } from './global-options.js';

type RunInsecureOption = (typeof RUN_INSECURE_OPTIONS)[number];

export function storeOf(global: GlobalOptions): StorePaths {
  return storePaths(global.dir);
}

/** Where a fetch gets its image from, and the cap on each layer it unpacks. */
export function sourceOptionsOf(global: GlobalOptions, env: NodeJS.ProcessEnv = process.env): SourceOptions & { maxLayerBytes?: number; discardBlobs?: boolean } {
  const maxLayerBytes = maxLayerBytesOf(env);
  const discardBlobs = discardBlobsOf(env);
  return {
    // The fetch options only: `seccomp` and `paths` are the run path's (build-apps.ts, stage1-pairs.ts).
    insecure: new Set([...global.insecureOptions].filter((o): o is Exclude<InsecureOption, RunInsecureOption> => !(RUN_INSECURE_OPTIONS as readonly string[]).includes(o))),
    certsDir: env['SKIFF_CERTS_DIR'] ?? DEFAULT_CERTS_DIR,
    ...(env['SKIFF_DOCKER_CONFIG'] === undefined ? {} : { dockerConfigPath: env['SKIFF_DOCKER_CONFIG'] }),
    ...(maxLayerBytes === undefined ? {} : { maxLayerBytes }),
    ...(discardBlobs ? { discardBlobs } : {}),
  };
}

/**
 * SKIFF_DISCARD_BLOBS=1: the host's setting for every fetch (`fetch --discard-blobs` for one):
 * layer blobs are dropped once unpacked. 0 or unset: kept. Anything else is a usage error.
 */
export function discardBlobsOf(env: NodeJS.ProcessEnv = process.env): boolean {
  const text = env['SKIFF_DISCARD_BLOBS'];
  if (text === undefined || text === '' || text === '0') return false;
  if (text === '1') return true;
  throw new UsageError(`SKIFF_DISCARD_BLOBS "${text}" is not 0 or 1`, { input: text, hint: 'set 1 to drop layer blobs once unpacked, 0 or unset to keep them' });
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * SKIFF_MAX_LAYER_SIZE: bytes, or a number with K, M, G or T (binary, as
 * docker's sizes; `64G`, `64Gi` and `64GiB` are the same). Unset or empty:
 * the default (64 GiB).
 */
export function maxLayerBytesOf(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env['SKIFF_MAX_LAYER_SIZE'];
  if (text === undefined || text === '') return undefined;
  const m = /^(\d{1,16})([KMGT]?)(?:i|iB|B)?$/i.exec(text.trim());
  const bytes = m === null ? 0 : Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toUpperCase()] ?? 0);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`SKIFF_MAX_LAYER_SIZE "${text}" is not a size`, { input: text, hint: 'write bytes or a size such as 512M, 64G or 1T, or unset it for the default 64G' });
  }
  return bytes;
}

export function shortId(id: string, full: boolean): string {
  return full ? id : id.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * What image commands take from the global flags and the environment: the
 * store under --dir, and how to reach registries.
 */
import { DEFAULT_CERTS_DIR } from '../../image/registry/options.js';
import { storePaths, type StorePaths } from '../../image/store/store-paths.js';
import type { SourceOptions } from '../../image/sources/open-source.js';
import type { GlobalOptions, InsecureOption } from './global-options.js';

export function storeOf(global: GlobalOptions): StorePaths {
  return storePaths(global.dir);
}

export function sourceOptionsOf(global: GlobalOptions, env: NodeJS.ProcessEnv = process.env): SourceOptions {
  return {
    // The fetch options only: `seccomp` is the run path's (build-apps.ts).
    insecure: new Set([...global.insecureOptions].filter((o): o is Exclude<InsecureOption, 'seccomp'> => o !== 'seccomp')),
    certsDir: env['SKIFF_CERTS_DIR'] ?? DEFAULT_CERTS_DIR,
    ...(env['SKIFF_DOCKER_CONFIG'] === undefined ? {} : { dockerConfigPath: env['SKIFF_DOCKER_CONFIG'] }),
  };
}

export function shortId(id: string, full: boolean): string {
  return full ? id : id.replace(/^sha256:/, '').slice(0, 12);
}

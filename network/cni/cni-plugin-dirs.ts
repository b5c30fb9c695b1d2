/**
 * Where CNI plugin binaries are found: `SKIFF_CNI_PATH` (a colon list of dirs, searched in
 * order), else /usr/lib/cni, where Debian's containernetworking-plugins installs them. The same
 * list is passed to every plugin as CNI_PATH (a plugin finds its IPAM plugin there).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkError } from '../../runtime/errors.js';
import type { CniNetwork } from './cni-config.js';

export const CNI_PATH_ENV = 'SKIFF_CNI_PATH';
export const DEFAULT_CNI_PATH: readonly string[] = ['/usr/lib/cni'];

/** The plugin dirs this environment names; only absolute dirs count (a relative one would depend on the cwd of whoever runs the plugin). */
export function cniPathFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const value = env[CNI_PATH_ENV];
  if (value === undefined || value === '') return [...DEFAULT_CNI_PATH];
  const dirs = value.split(':').filter((d) => d !== '');
  const relative = dirs.find((d) => !d.startsWith('/'));
  if (relative !== undefined) {
    throw new NetworkError(`${CNI_PATH_ENV}: "${relative}" is not an absolute dir`, { input: value, hint: 'give a colon list of absolute dirs, e.g. /usr/lib/cni' });
  }
  return dirs;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `dir/type` of the dirs, or undefined. */
export function findPlugin(type: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const path = join(dir, type);
    if (isExecutableFile(path)) return path;
  }
  return undefined;
}

/** Every plugin binary of the network's chain, in order; a missing one is an error naming its type, the network and the dirs searched. */
export function requirePlugins(net: CniNetwork, dirs: readonly string[]): string[] {
  return net.plugins.map(({ type }) => {
    const path = findPlugin(type, dirs);
    if (path === undefined) {
      throw new NetworkError(`network ${net.name} (${net.source}): CNI plugin "${type}" not found in ${dirs.join(':')}`, {
        input: type,
        hint: `install it (Debian: containernetworking-plugins) or set ${CNI_PATH_ENV} to the dirs holding it`,
      });
    }
    return path;
  });
}

/**
 * CNI network configurations (spec 1.0, section 1): a `.conflist` is `{cniVersion, name,
 * disableCheck?, plugins: [...]}`; a `.conf` is one plugin's configuration with `name` and
 * `cniVersion` in it, read as a list of that one plugin (what libcni does). Skiff runs these
 * through the real plugin binaries (cni-chain.ts), except a `.conf` of `"type": "bridge"`, which
 * Skiff wires itself (network-config.ts, rkt's and Skiff's built-in bridge).
 *
 * Every problem in a file is one error naming the file and the field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkError } from '../../runtime/errors.js';

/** One plugin of a chain: its `type` is the binary's file name; everything else is passed on as is. */
export interface CniPluginConf {
  type: string;
  [field: string]: unknown;
}

export interface CniNetwork {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: CniPluginConf[];
  /** The file it came from. */
  source: string;
}

/** The `type` Skiff implements itself: such a `.conf` is the built-in bridge, not the plugin. */
export const BUILT_IN_TYPE = 'bridge';

const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;
/** A plugin binary's file name: no path, so a config cannot point outside the plugin dirs. */
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const VERSION = /^\d+\.\d+\.\d+$/;

function bad(source: string, field: string, problem: string): NetworkError {
  return new NetworkError(`network config ${source}: ${field} ${problem}`, { input: source, hint: 'fix the file (CNI network configuration format)' });
}

function plugin(source: string, field: string, value: unknown): CniPluginConf {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(source, field, 'is not a JSON object');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !PLUGIN_TYPE.test(type)) throw bad(source, `${field}.type`, `${JSON.stringify(type)} is not a plugin name (a file name in the CNI plugin dirs)`);
  return value as CniPluginConf;
}

function common(raw: Record<string, unknown>, source: string): { name: string; cniVersion: string } {
  const { name, cniVersion } = raw;
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) throw bad(source, 'name', `${JSON.stringify(name)} is not a network name (letters, digits, . _ -)`);
  if (typeof cniVersion !== 'string' || !VERSION.test(cniVersion)) throw bad(source, 'cniVersion', `${JSON.stringify(cniVersion)} is not a version such as "1.0.0"`);
  return { name, cniVersion };
}

/** A parsed `.conflist` (list true) or `.conf` (a list of the one plugin it is). */
export function parseCniConfig(raw: unknown, source: string, list: boolean): CniNetwork {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(source, 'the file', 'is not a JSON object');
  const obj = raw as Record<string, unknown>;
  const { name, cniVersion } = common(obj, source);
  if (!list) return { name, cniVersion, disableCheck: false, plugins: [plugin(source, 'the file', obj)], source };
  const { plugins, disableCheck } = obj;
  if (!Array.isArray(plugins) || plugins.length === 0) throw bad(source, 'plugins', 'is not a non-empty list of plugin configurations');
  if (disableCheck !== undefined && typeof disableCheck !== 'boolean') throw bad(source, 'disableCheck', 'is not true or false');
  return { name, cniVersion, disableCheck: disableCheck === true, plugins: plugins.map((p, i) => plugin(source, `plugins[${i}]`, p)), source };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NetworkError(`network config ${path} is not valid JSON: ${(err as Error).message}`, { input: path, cause: err, hint: 'fix the file' });
  }
}

/** The config files of a net.d dir that Skiff hands to CNI plugins: its `.conflist`s, and its `.conf`s of a type other than the built-in bridge. */
export function isCniConfFile(name: string): boolean {
  return name.endsWith('.conf') || name.endsWith('.conflist');
}

/**
 * The CNI networks of `netDir` by name, read in lexicographic order (`.conf` and `.conflist`
 * alike); a `.conf` of the built-in type is skipped (network-config.ts reads it). A name defined
 * twice is an error naming both files. No dir: none.
 */
export function loadCniNetworks(netDir: string): Map<string, CniNetwork> {
  const nets = new Map<string, CniNetwork>();
  let files: string[];
  try {
    files = readdirSync(netDir).filter(isCniConfFile).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return nets;
    throw new NetworkError(`cannot read network configs in ${netDir}`, { input: netDir, cause: err });
  }
  for (const file of files) {
    const path = join(netDir, file);
    const raw = readJson(path);
    const list = file.endsWith('.conflist');
    // Skiff's own types: the bridge (network-config.ts) and the overlay (overlay-network.ts, rkt+flannel's "flannel").
    if (!list && typeof raw === 'object' && raw !== null && [BUILT_IN_TYPE, 'flannel'].includes((raw as { type?: unknown }).type as string)) continue;
    const net = parseCniConfig(raw, path, list);
    const earlier = nets.get(net.name);
    if (earlier !== undefined) throw bad(path, 'name', `"${net.name}" is defined by ${earlier.source} too`);
    nets.set(net.name, net);
  }
  return nets;
}

/**
 * The networks a pod can join, by name: the built-in `default` (bridge skiff0, NAT to the
 * outside, as rkt's default) and `default-restricted` (its own bridge, host-only, no NAT), and
 * named networks from `LOCAL_CONFIG/net.d/*.conf` (rkt's and CNI's file format, read in
 * lexicographic order; a file naming `default` or `default-restricted` overrides the built-in).
 *
 * Skiff wires `"type": "bridge"` networks itself (stage1, native/stage1/net-attach.c); IPAM is
 * host-local: one file per address in `ipam.dataDir` (default /run/skiff/networks/NAME).
 * A `.conf` of any other type (and every `.conflist`) is a CNI network, run through the real
 * plugins (network/cni/): this loader passes over it.
 * Every problem in a file is one error naming the file and the field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NetworkError } from '../runtime/errors.js';
import { broadcastOf, contains, formatCidr, formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';

export interface NetworkDef {
  name: string;
  /** Where it was defined: a file path, or 'built-in'. */
  source: string;
  type: 'bridge';
  bridge: string;
  /** The bridge holds the gateway address (CNI's isGateway). */
  isGateway: boolean;
  /** Masquerade what leaves the subnet for elsewhere. */
  ipMasq: boolean;
  mtu: number;
  subnet: Cidr;
  rangeStart: number;
  rangeEnd: number;
  gateway: number;
  /** A default route via the gateway in the pod (`routes: [{dst: "0.0.0.0/0"}]`). */
  defaultRoute: boolean;
  dataDir: string;
  /** Destinations the masquerade leaves alone (default: the subnet): the overlay network for an overlay network. */
  masqExempt?: Cidr;
  /** An overlay network (overlay-network.ts): the whole overlay and the subnet.env it came from. */
  overlay?: { network: Cidr; subnetFile: string };
}

export const DEFAULT_RUN_DIR = '/run/skiff/networks';
const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;

interface RawConf {
  name?: unknown;
  type?: unknown;
  bridge?: unknown;
  isGateway?: unknown;
  ipMasq?: unknown;
  mtu?: unknown;
  ipam?: { type?: unknown; subnet?: unknown; rangeStart?: unknown; rangeEnd?: unknown; gateway?: unknown; routes?: unknown; dataDir?: unknown };
}

/** rkt's built-ins, on Skiff's bridges: rkt users find the subnets they know. */
const BUILT_IN: Record<string, RawConf> = {
  default: {
    name: 'default', type: 'bridge', bridge: 'skiff0', isGateway: true, ipMasq: true,
    ipam: { type: 'host-local', subnet: '172.16.28.0/24', routes: [{ dst: '0.0.0.0/0' }] },
  },
  'default-restricted': {
    name: 'default-restricted', type: 'bridge', bridge: 'skiff1', isGateway: true, ipMasq: false,
    ipam: { type: 'host-local', subnet: '172.31.0.0/16' },
  },
};

function bad(source: string, field: string, problem: string): NetworkError {
  return new NetworkError(`network config ${source}: ${field} ${problem}`, { input: source, hint: 'fix the file (rkt/CNI network config format)' });
}

function address(source: string, field: string, value: unknown, subnet: Cidr): number {
  const a = typeof value === 'string' ? parseIpv4(value) : undefined;
  if (a === undefined) throw bad(source, field, `${JSON.stringify(value)} is not an IPv4 address`);
  if (!contains(subnet, a) || a === subnet.network || a === broadcastOf(subnet)) {
    throw bad(source, field, `${value as string} is not a host address of ${formatCidr(subnet)}`);
  }
  return a;
}

export function parseNetworkConf(raw: RawConf, source: string): NetworkDef {
  if (typeof raw.name !== 'string' || !NETWORK_NAME.test(raw.name)) throw bad(source, 'name', `${JSON.stringify(raw.name)} is not a network name (letters, digits, . _ -)`);
  if (raw.type !== 'bridge') {
    throw bad(source, 'type', `${JSON.stringify(raw.type)} is not a type Skiff wires itself ("bridge"); a net.d file of another type runs through the CNI plugins`);
  }
  const bridge = raw.bridge ?? 'skiff0';
  if (typeof bridge !== 'string' || !BRIDGE_NAME.test(bridge)) throw bad(source, 'bridge', `${JSON.stringify(bridge)} is not an interface name (1-15 characters)`);
  const mtu = raw.mtu ?? 1500;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw bad(source, 'mtu', `${JSON.stringify(mtu)} is not 68..65535`);
  for (const flag of ['isGateway', 'ipMasq'] as const) {
    if (raw[flag] !== undefined && typeof raw[flag] !== 'boolean') throw bad(source, flag, 'is not true or false');
  }
  const ipam = raw.ipam;
  if (typeof ipam !== 'object' || ipam === null) throw bad(source, 'ipam', 'is missing');
  if (ipam.type !== 'host-local') throw bad(source, 'ipam.type', `${JSON.stringify(ipam.type)} is not "host-local"`);
  const subnet = typeof ipam.subnet === 'string' ? parseCidr(ipam.subnet) : undefined;
  if (subnet === undefined) throw bad(source, 'ipam.subnet', `${JSON.stringify(ipam.subnet)} is not a network address/prefix (e.g. 198.18.0.0/24)`);
  if (subnet.prefix > 30) throw bad(source, 'ipam.subnet', `${formatCidr(subnet)} has no room for a gateway and a pod (prefix at most 30)`);
  const gateway = ipam.gateway === undefined ? subnet.network + 1 : address(source, 'ipam.gateway', ipam.gateway, subnet);
  const rangeStart = ipam.rangeStart === undefined ? subnet.network + 1 : address(source, 'ipam.rangeStart', ipam.rangeStart, subnet);
  const rangeEnd = ipam.rangeEnd === undefined ? broadcastOf(subnet) - 1 : address(source, 'ipam.rangeEnd', ipam.rangeEnd, subnet);
  if (rangeEnd < rangeStart) throw bad(source, 'ipam.rangeEnd', `${formatIpv4(rangeEnd)} is before rangeStart ${formatIpv4(rangeStart)}`);
  const routes = ipam.routes ?? [];
  if (!Array.isArray(routes) || !routes.every((r) => typeof r === 'object' && r !== null && typeof (r as { dst?: unknown }).dst === 'string')) {
    throw bad(source, 'ipam.routes', 'is not a list of {"dst": "a.b.c.d/len"}');
  }
  const dsts = routes.map((r) => (r as { dst: string }).dst);
  const other = dsts.find((d) => d !== '0.0.0.0/0');
  if (other !== undefined) throw bad(source, 'ipam.routes', `${other}: only the default route (0.0.0.0/0) is supported`);
  const dataDir = ipam.dataDir ?? join(DEFAULT_RUN_DIR, raw.name);
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) throw bad(source, 'ipam.dataDir', `${JSON.stringify(dataDir)} is not an absolute path`);
  return {
    name: raw.name, source, type: 'bridge', bridge, isGateway: raw.isGateway !== false, ipMasq: raw.ipMasq === true, mtu,
    subnet, rangeStart, rangeEnd, gateway, defaultRoute: dsts.length > 0, dataDir,
  };
}

/** Every network by name: the built-ins, overridden or joined by LOCAL_CONFIG/net.d/*.conf. */
export function loadNetworks(localConfig: string): Map<string, NetworkDef> {
  const nets = new Map<string, NetworkDef>();
  for (const raw of Object.values(BUILT_IN)) {
    const def = parseNetworkConf(raw, 'built-in');
    nets.set(def.name, def);
  }
  for (const def of netConfsOfType(readNetConfFiles(localConfig), 'bridge', (raw, path) => parseNetworkConf(raw as RawConf, path)).values()) {
    nets.set(def.name, def);
  }
  return nets;
}

/**
 * The `.conf` files of LOCAL_CONFIG/net.d, in lexicographic order, each parsed: one that is not a
 * JSON object is an error naming it. No net.d: none. Every reader of net.d (bridges here, the
 * overlay in overlay-network.ts) goes through this, so a file is judged the same way by all.
 */
export function readNetConfFiles(localConfig: string): Array<{ path: string; raw: Record<string, unknown> }> {
  const dir = join(localConfig, 'net.d');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.conf')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new NetworkError(`cannot read network configs in ${dir}`, { input: dir, cause: err });
  }
  return files.map((file) => {
    const path = join(dir, file);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new NetworkError(`network config ${path} is not valid JSON: ${(err as Error).message}`, { input: path, cause: err, hint: 'fix the file' });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(path, 'the file', 'is not a JSON object');
    return { path, raw: raw as Record<string, unknown> };
  });
}

/** The files of one `type`, parsed, by name (a file of another type is another reader's); a name two files give is an error naming the later. */
export function netConfsOfType<T extends { name: string }>(
  files: ReadonlyArray<{ path: string; raw: Record<string, unknown> }>, type: string, parse: (raw: Record<string, unknown>, path: string) => T,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const { path, raw } of files) {
    if (raw['type'] !== type) continue;
    const def = parse(raw, path);
    if (out.has(def.name)) throw bad(path, 'name', `"${def.name}" is defined by an earlier file in ${dirname(path)} too`);
    out.set(def.name, def);
  }
  return out;
}

/**
 * The overlay's network config, `<prefix>/config` in the key-value store: flannel's JSON, so a
 * flannel node and a Skiff node can share one etcd (../shared/reference/flannel.md §1).
 *
 * flannel decodes it into Go structs without JSON tags, so its keys match case-insensitively
 * (`network`, `Network`, `NETWORK`); we do the same. Defaults and checks are flannel's
 * CheckNetworkConfig, with two differences where flannel misleads:
 * - `Backend.Type` is required: flannel's code falls back to "udp" when Backend is absent while
 *   its documentation says vxlan; Skiff builds vxlan only and says so instead of guessing.
 * - every error names the key in the store and the field, so "invalid config" is never the
 *   whole message.
 */
import { UsageError } from '../../runtime/errors.js';
import { formatCidr, formatIpv4, maskOf, parseCidr, parseIpv4, type Cidr } from '../ipv4.js';

/** The kernel vxlan module's default UDP port, which flannel's Port 0 means. */
export const VXLAN_DEFAULT_PORT = 8472;

export interface VxlanBackendConfig {
  type: 'vxlan';
  vni: number;
  port: number;
  /** The underlay MTU to subtract the encapsulation from; undefined: the underlay link's own. */
  mtu: number | undefined;
  directRouting: boolean;
}

export interface OverlayConfig {
  network: Cidr;
  subnetLen: number;
  /** Network addresses of the first and last subnet leases may take. */
  subnetMin: number;
  subnetMax: number;
  backend: VxlanBackendConfig;
}

/** A config error: the key it came from, the field, what is wrong. */
function bad(key: string, field: string, problem: string, hint?: string): UsageError {
  return new UsageError(`overlay config ${key}: ${field} ${problem}`, { input: key, hint: hint ?? 'fix it with `skiff net config set FILE` (flannel\'s JSON)' });
}

/** Field `name` of `obj`, matched case-insensitively as Go's decoder does. */
function field(obj: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === want);
  return key === undefined ? undefined : obj[key];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function integer(key: string, name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(key, name, `is ${JSON.stringify(value)}, not a whole number in ${min}..${max}`);
  }
  return value;
}

function address(key: string, name: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const addr = typeof value === 'string' ? parseIpv4(value) : undefined;
  if (addr === undefined) throw bad(key, name, `is ${JSON.stringify(value)}, not an IPv4 address`);
  return addr;
}

/** Parses and checks the config's text; `key` (the store key it was read from) names it in errors. */
export function parseOverlayConfig(text: string, key = '/coreos.com/network/config'): OverlayConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(key, 'the value', `is not JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw bad(key, 'the value', 'is not a JSON object');
  if (field(json, 'EnableIPv6') === true || field(json, 'EnableIPv4') === false) {
    throw bad(key, 'EnableIPv6/EnableIPv4', 'asks for IPv6: Skiff\'s overlay is IPv4 only (as flannel\'s vxlan default)');
  }
  const networkText = field(json, 'Network');
  if (typeof networkText !== 'string') throw bad(key, 'Network', networkText === undefined ? 'is missing' : 'is not a string', 'write e.g. "Network": "198.18.0.0/16"');
  const network = parseCidr(networkText);
  if (network === undefined) throw bad(key, 'Network', `${JSON.stringify(networkText)} is not an IPv4 network (a.b.c.d/n, no host bits)`);
  if (network.prefix > 28) throw bad(key, 'Network', `${formatCidr(network)} is smaller than a /28: no room for subnets`);

  // flannel: /24 leases when the network is /22 or larger, else two bits below the network.
  const given = integer(key, 'SubnetLen', field(json, 'SubnetLen'), 0, 32);
  const subnetLen = given === undefined || given === 0 ? (network.prefix <= 22 ? 24 : network.prefix + 2) : given;
  if (subnetLen > 30) throw bad(key, 'SubnetLen', `${subnetLen} is above 30: a lease needs room for a gateway and pods`);
  if (subnetLen < network.prefix + 2) throw bad(key, 'SubnetLen', `${subnetLen} leaves fewer than 4 subnets in ${formatCidr(network)} (at least the network's prefix + 2)`);

  const size = 2 ** (32 - subnetLen);
  const last = (network.network + 2 ** (32 - network.prefix) - size) >>> 0;
  const aligned = (name: string, addr: number | undefined, dflt: number): number => {
    if (addr === undefined) return dflt;
    if (((addr & maskOf(network.prefix)) >>> 0) !== network.network) throw bad(key, name, `${formatIpv4(addr)} is outside Network ${formatCidr(network)}`);
    if (((addr & maskOf(subnetLen)) >>> 0) !== addr) throw bad(key, name, `${formatIpv4(addr)} is not the start of a /${subnetLen}`);
    return addr;
  };
  // flannel skips the first subnet by default (its network address would be the whole Network's).
  const subnetMin = aligned('SubnetMin', address(key, 'SubnetMin', field(json, 'SubnetMin')), (network.network + size) >>> 0);
  const subnetMax = aligned('SubnetMax', address(key, 'SubnetMax', field(json, 'SubnetMax')), last);
  if (subnetMin > subnetMax) throw bad(key, 'SubnetMin', `${formatIpv4(subnetMin)} is above SubnetMax ${formatIpv4(subnetMax)}`);

  return { network, subnetLen, subnetMin, subnetMax, backend: parseBackend(key, field(json, 'Backend')) };
}

function parseBackend(key: string, backend: unknown): VxlanBackendConfig {
  if (backend === undefined) throw bad(key, 'Backend', 'is missing', 'write "Backend": {"Type": "vxlan"} (flannel would silently take "udp")');
  if (!isObject(backend)) throw bad(key, 'Backend', 'is not a JSON object');
  const type = field(backend, 'Type');
  if (type !== 'vxlan') {
    throw bad(key, 'Backend.Type', type === undefined ? 'is missing' : `is ${JSON.stringify(type)}: Skiff's overlay is vxlan only`, 'write "Backend": {"Type": "vxlan"}');
  }
  // VNI 0 is flannel's "unset": 1.
  const vni = integer(key, 'Backend.VNI', field(backend, 'VNI'), 0, 0xffffff) || 1;
  const port = integer(key, 'Backend.Port', field(backend, 'Port'), 0, 65535) || VXLAN_DEFAULT_PORT;
  const mtu = integer(key, 'Backend.MTU', field(backend, 'MTU'), 0, 65535) || undefined;
  if (mtu !== undefined && mtu < 68 + 50) throw bad(key, 'Backend.MTU', `${mtu} leaves less than IPv4's 68 bytes after the 50 of vxlan`);
  const directRouting = field(backend, 'DirectRouting');
  if (directRouting !== undefined && typeof directRouting !== 'boolean') throw bad(key, 'Backend.DirectRouting', 'is not true or false');
  for (const unsupported of ['GBP', 'Learning']) {
    if (field(backend, unsupported) === true) throw bad(key, `Backend.${unsupported}`, 'is not supported by Skiff (the daemon programs the FDB itself)');
  }
  return { type: 'vxlan', vni, port, mtu, directRouting: directRouting === true };
}

/** The config as flannel's JSON (what `skiff net config get` prints after a set). */
export function formatOverlayConfig(c: OverlayConfig): string {
  return JSON.stringify({
    Network: formatCidr(c.network),
    SubnetLen: c.subnetLen,
    SubnetMin: formatIpv4(c.subnetMin),
    SubnetMax: formatIpv4(c.subnetMax),
    Backend: { Type: 'vxlan', VNI: c.backend.vni, Port: c.backend.port, ...(c.backend.mtu === undefined ? {} : { MTU: c.backend.mtu }), DirectRouting: c.backend.directRouting },
  });
}

/**
 * A host's subnet lease as flannel writes it (../shared/reference/flannel.md §1):
 * key `<prefix>/subnets/<a.b.c.d>-<len>` (dual stack appends `&<ipv6>-<len>`, which we read and
 * ignore), value `{"PublicIP":"…","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,
 * "VtepMAC":"…"}}`. Leases of other backends are listed (they hold subnets) but never programmed.
 */
import { formatIpv4, parseIpv4, type Cidr } from '../ipv4.js';

export const DEFAULT_PREFIX = '/coreos.com/network';

export interface LeaseAttrs {
  publicIp: string;
  backendType: string;
  /** vxlan's BackendData; undefined for other backends or when malformed. */
  vxlan: { vni: number; vtepMac: string } | undefined;
}

export interface SubnetLease {
  subnet: Cidr;
  attrs: LeaseAttrs;
  /** The store key, as read (so a delete hits exactly it). */
  key: string;
}

const KEY = /(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export const configKey = (prefix: string) => `${prefix}/config`;
export const subnetsPrefix = (prefix: string) => `${prefix}/subnets/`;
export const subnetKey = (prefix: string, subnet: Cidr) => `${subnetsPrefix(prefix)}${formatIpv4(subnet.network)}-${subnet.prefix}`;

/** The subnet a lease key names; undefined for keys that are not leases. */
export function parseSubnetKey(key: string): Cidr | undefined {
  const m = KEY.exec(key);
  if (m === null) return undefined;
  const network = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (network === undefined || prefix > 32) return undefined;
  return { network, prefix };
}

export function encodeLeaseAttrs(a: LeaseAttrs): string {
  return JSON.stringify({
    PublicIP: a.publicIp,
    PublicIPv6: null,
    BackendType: a.backendType,
    ...(a.vxlan === undefined ? {} : { BackendData: { VNI: a.vxlan.vni, VtepMAC: a.vxlan.vtepMac } }),
  });
}

/** The attrs of a lease value; undefined when it is not flannel's JSON (the lease is then skipped, with a log line). */
export function decodeLeaseAttrs(value: string): LeaseAttrs | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  const publicIp = o['PublicIP'];
  if (typeof publicIp !== 'string' || parseIpv4(publicIp) === undefined) return undefined;
  const backendType = typeof o['BackendType'] === 'string' ? (o['BackendType'] as string) : '';
  const data = o['BackendData'];
  let vxlan: LeaseAttrs['vxlan'];
  if (backendType === 'vxlan' && typeof data === 'object' && data !== null) {
    const d = data as Record<string, unknown>;
    const mac = typeof d['VtepMAC'] === 'string' ? (d['VtepMAC'] as string).toLowerCase() : '';
    const vni = typeof d['VNI'] === 'number' ? (d['VNI'] as number) : 1;
    if (MAC.test(mac)) vxlan = { vni, vtepMac: mac };
  }
  return { publicIp, backendType, vxlan };
}

/** A store entry as a lease; undefined when the key or value is not one. */
export function leaseOf(key: string, value: string): SubnetLease | undefined {
  const subnet = parseSubnetKey(key);
  const attrs = subnet === undefined ? undefined : decodeLeaseAttrs(value);
  return subnet === undefined || attrs === undefined ? undefined : { subnet, attrs, key };
}

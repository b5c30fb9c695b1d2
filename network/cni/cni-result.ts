/**
 * What Skiff reads out of a CNI result: the attachment's address, gateway and MAC (for `status`
 * and `list`), the host-side interface, and the DNS settings. Results of spec 0.3.0 to 1.0
 * (`interfaces`, `ips` with an `interface` index) and of 0.2.0 (`ip4`) are understood; anything
 * missing is left out rather than guessed.
 */
export interface CniSummary {
  ip?: string;
  prefixLength?: number;
  gateway?: string;
  mac?: string;
  /** The interface without a sandbox: the host's end (a veth peer), when the plugin says. */
  hostIfName?: string;
  dns?: { nameservers: string[]; domain?: string; search: string[]; options: string[] };
}

interface Iface { name?: unknown; mac?: unknown; sandbox?: unknown }
interface IpConf { address?: unknown; gateway?: unknown; interface?: unknown }

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
const isV4 = (cidr: string) => /^\d+\.\d+\.\d+\.\d+\//.test(cidr);

function splitCidr(cidr: string): { ip: string; prefixLength: number } | undefined {
  const m = /^([^/]+)\/(\d+)$/.exec(cidr);
  return m === null ? undefined : { ip: m[1] as string, prefixLength: Number(m[2]) };
}

export function summarizeResult(result: unknown, ifName: string): CniSummary {
  const out: CniSummary = {};
  if (typeof result !== 'object' || result === null) return out;
  const r = result as { interfaces?: unknown; ips?: unknown; ip4?: { ip?: unknown; gateway?: unknown }; dns?: Record<string, unknown> };
  const ifaces: Iface[] = Array.isArray(r.interfaces) ? (r.interfaces as Iface[]) : [];
  const inPod = ifaces.findIndex((i) => i.name === ifName && str(i.sandbox) !== undefined);
  const mac = inPod >= 0 ? str(ifaces[inPod]?.mac) : undefined;
  if (mac !== undefined) out.mac = mac;
  // bridge lists the bridge, then the veth; ptp the veth alone: the host's end is the last without a sandbox.
  const hostIfaces = ifaces.filter((i) => str(i.sandbox) === undefined && str(i.name) !== undefined);
  const hostIf = str(hostIfaces[hostIfaces.length - 1]?.name);
  if (hostIf !== undefined) out.hostIfName = hostIf;
  const ips: IpConf[] = Array.isArray(r.ips) ? (r.ips as IpConf[]) : [];
  const v4 = ips.filter((i) => typeof i.address === 'string' && isV4(i.address));
  const mine = v4.find((i) => i.interface === inPod) ?? v4[0];
  const address = str(mine?.address) ?? str(r.ip4?.ip);
  const parsed = address === undefined ? undefined : splitCidr(address);
  if (parsed !== undefined) Object.assign(out, parsed);
  const gateway = str(mine?.gateway) ?? str(r.ip4?.gateway);
  if (gateway !== undefined) out.gateway = gateway;
  if (typeof r.dns === 'object' && r.dns !== null) {
    const domain = str(r.dns['domain']);
    const dns = { nameservers: strings(r.dns['nameservers']), search: strings(r.dns['search']), options: strings(r.dns['options']), ...(domain === undefined ? {} : { domain }) };
    if (dns.nameservers.length > 0 || dns.search.length > 0 || domain !== undefined) out.dns = dns;
  }
  return out;
}

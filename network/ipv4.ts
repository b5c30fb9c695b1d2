/**
 * IPv4 addresses and prefixes as numbers: what network configs, IPAM ranges and overlap checks
 * need, nothing more. Parsing is strict (four decimal octets, no leading zeros that could be
 * read as octal), so a config value means one thing.
 */

export interface Cidr {
  /** The network address (host bits cleared). */
  network: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(addr: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(addr / 2 ** shift) % 256).join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `a.b.c.d/len`; the address must be the network's own (no host bits), unless `allowHost`. */
export function parseCidr(text: string, allowHost = false): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (m === null) return undefined;
  const addr = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === undefined || prefix > 32) return undefined;
  const network = (addr & maskOf(prefix)) >>> 0;
  if (!allowHost && network !== addr) return undefined;
  return { network, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function contains(c: Cidr, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === c.network;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefix)) >>> 0;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.network) || contains(b, a.network);
}

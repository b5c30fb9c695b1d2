/**
 * IPv4 addresses, CIDRs and MACs: strings at the Netlink surface, bytes on
 * the wire. Bad input is a UsageError naming the value (it comes from flags
 * and config files), never a kernel EINVAL later.
 */
import { isIPv4 } from 'node:net';
import { UsageError } from '../../runtime/errors.js';

export function ipv4ToBuffer(address: string): Buffer {
  if (!isIPv4(address)) throw new UsageError(`not an IPv4 address: ${JSON.stringify(address)}`, { input: address });
  return Buffer.from(address.split('.').map(Number));
}

export function bufferToIpv4(bytes: Uint8Array): string {
  if (bytes.length !== 4) throw new UsageError(`not a 4-byte IPv4 address: ${bytes.length} bytes`);
  return Array.from(bytes).join('.');
}

export function ipv4ToNumber(address: string): number {
  return ipv4ToBuffer(address).readUInt32BE(0);
}

export function numberToIpv4(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return bufferToIpv4(b);
}

export interface Cidr {
  address: string;
  prefixLength: number;
}

/** '198.18.0.0/24' → {address, prefixLength}; 'default' is '0.0.0.0/0'. */
export function parseCidr(cidr: string): Cidr {
  if (cidr === 'default') return { address: '0.0.0.0', prefixLength: 0 };
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  const prefixLength = m === null ? NaN : Number(m[2]);
  if (m === null || !isIPv4(m[1]!) || prefixLength > 32) {
    throw new UsageError(`not an IPv4 CIDR (a.b.c.d/n): ${JSON.stringify(cidr)}`, { input: cidr });
  }
  return { address: m[1]!, prefixLength };
}

/** The network part of `address/prefixLength`, e.g. 198.18.0.7/24 → 198.18.0.0. */
export function networkOf(address: string, prefixLength: number): string {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return numberToIpv4((ipv4ToNumber(address) & mask) >>> 0);
}

/** Whether `address` lies inside `network/prefixLength`. */
export function cidrContains(network: string, prefixLength: number, address: string): boolean {
  return networkOf(address, prefixLength) === networkOf(network, prefixLength);
}

/** The CIDR in canonical form (host bits cleared), as the kernel reports routes. */
export function canonicalCidr(cidr: string): string {
  const { address, prefixLength } = parseCidr(cidr);
  return `${networkOf(address, prefixLength)}/${prefixLength}`;
}

export function macToBuffer(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new UsageError(`not a MAC address (xx:xx:xx:xx:xx:xx): ${JSON.stringify(mac)}`, { input: mac });
  }
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bufferToMac(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return '';
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A random locally administered unicast MAC (flannel's pkg/mac), as the kernel gives new links. */
export function randomMac(random: () => number = Math.random): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(random() * 256));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bufferToMac(Uint8Array.from(bytes));
}

/**
 * Address messages (RTM_*ADDR), IPv4. The kernel wants IFA_LOCAL for the
 * interface's own address; IFA_ADDRESS (the peer on point-to-point links) is
 * set to the same, as `ip addr add` does.
 */
import { AttrStream, rt } from 'netlink';
import { bufferToIpv4, ipv4ToBuffer } from './inet.js';
import type { AddressInfo } from './types.js';

export const AF_INET = 2;

export function addressPayload(address: AddressInfo): Uint8Array[] {
  const bytes = ipv4ToBuffer(address.address);
  const stream = new AttrStream();
  rt.formatAddressMessage({
    kind: 'address',
    data: { family: AF_INET, prefixlen: address.prefixLength, index: address.index },
    attrs: { local: bytes, address: bytes },
  }, stream);
  return stream.bufs;
}

export function dumpAddressesPayload(): Uint8Array[] {
  const stream = new AttrStream();
  rt.formatAddressMessage({ kind: 'address', data: { family: AF_INET }, attrs: {} }, stream);
  return stream.bufs;
}

export function toAddressInfo(message: rt.AddressMessage): AddressInfo | undefined {
  const bytes = message.attrs.local ?? message.attrs.address;
  if (message.data.family !== AF_INET || bytes === undefined) return undefined;
  return { index: message.data.index ?? 0, address: bufferToIpv4(bytes), prefixLength: message.data.prefixlen ?? 0 };
}

export function describeAddress(address: AddressInfo): string {
  return `${address.address}/${address.prefixLength} on link #${address.index}`;
}

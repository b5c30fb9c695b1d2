/**
 * Neighbour messages (RTM_*NEIGH) in their two uses by the overlay
 * (flannel.md §2): a permanent ARP entry (AF_INET: the remote subnet's
 * address → the remote VTEP MAC) and an FDB entry on the vxlan device
 * (AF_BRIDGE with NTF_SELF, so the device's own table and not a bridge's:
 * the VTEP MAC → the remote host's public IP as NDA_DST).
 */
import { AttrStream, rt } from 'netlink';
import { AF_INET } from './address-codec.js';
import { bufferToIpv4, bufferToMac, ipv4ToBuffer, macToBuffer } from './inet.js';
import type { FdbInfo, NeighbourInfo } from './types.js';

export const AF_BRIDGE = 7;

function neighbourMessage(data: rt.Neighbor, attrs: rt.NeighborAttrs): Uint8Array[] {
  const stream = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, stream);
  return stream.bufs;
}

export function newNeighbourPayload(n: { index: number; address: string; mac: string }): Uint8Array[] {
  return neighbourMessage(
    { family: AF_INET, ifindex: n.index, state: { permanent: true } },
    { dst: ipv4ToBuffer(n.address), lladdr: macToBuffer(n.mac) },
  );
}

export function deleteNeighbourPayload(n: { index: number; address: string }): Uint8Array[] {
  return neighbourMessage({ family: AF_INET, ifindex: n.index }, { dst: ipv4ToBuffer(n.address) });
}

export function dumpNeighboursPayload(family: number): Uint8Array[] {
  return neighbourMessage({ family }, {});
}

export function toNeighbourInfo(message: rt.NeighborMessage): NeighbourInfo | undefined {
  const { data, attrs } = message;
  if (data.family !== AF_INET || attrs.dst === undefined || attrs.lladdr === undefined) return undefined;
  return {
    index: data.ifindex ?? 0,
    address: bufferToIpv4(attrs.dst),
    mac: bufferToMac(attrs.lladdr),
    permanent: data.state?.permanent === true,
  };
}

export function newFdbPayload(e: { index: number; mac: string; dst: string }): Uint8Array[] {
  return neighbourMessage(
    { family: AF_BRIDGE, ifindex: e.index, state: { permanent: true }, flags: { self: true } },
    { lladdr: macToBuffer(e.mac), dst: ipv4ToBuffer(e.dst) },
  );
}

export function deleteFdbPayload(e: { index: number; mac: string; dst?: string }): Uint8Array[] {
  return neighbourMessage(
    { family: AF_BRIDGE, ifindex: e.index, flags: { self: true } },
    { lladdr: macToBuffer(e.mac), ...(e.dst === undefined ? {} : { dst: ipv4ToBuffer(e.dst) }) },
  );
}

export function toFdbInfo(message: rt.NeighborMessage): FdbInfo | undefined {
  const { data, attrs } = message;
  if (data.family !== AF_BRIDGE || attrs.lladdr === undefined) return undefined;
  return {
    index: data.ifindex ?? 0,
    mac: bufferToMac(attrs.lladdr),
    dst: attrs.dst === undefined || attrs.dst.length !== 4 ? undefined : bufferToIpv4(attrs.dst),
    permanent: data.state?.permanent === true,
  };
}

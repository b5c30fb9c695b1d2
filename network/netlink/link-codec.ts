/**
 * Link messages (RTM_*LINK): the helpers the `netlink` package lacks
 * (dependency-probe.md §2) and the mapping to LinkInfo.
 * - IFLA_LINKINFO is typed as a raw Buffer: we encode {kind, data} ourselves.
 * - A veth peer is a whole ifinfomsg plus attributes inside VETH_INFO_PEER,
 *   where IFLA_NET_NS_FD puts it straight into another namespace.
 * - IFLA_VXLAN_PORT is a 2-byte big-endian value (the rest of the message is
 *   host order); IFLA_VXLAN_LOCAL is the 4 address bytes.
 */
import { AttrStream, ifla, rt, type StreamData } from 'netlink';
import { bufferToIpv4, bufferToMac, ipv4ToBuffer, macToBuffer } from './inet.js';
import type { LinkInfo, LinkRef, VethPeer, VxlanInfo, VxlanOptions } from './types.js';

export function flatten(data: StreamData): Buffer {
  const stream = new AttrStream();
  stream.emit(data);
  return Buffer.concat(stream.bufs);
}

/** The wire form of a whole message body (fixed header + attributes). */
export function linkPayload(data: rt.Link, attrs: ifla.LinkAttrs): Uint8Array[] {
  const stream = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data, attrs }, stream);
  return stream.bufs;
}

/** Picks the link by index, or by name (the kernel resolves IFLA_IFNAME when the index is 0). */
export function linkSelector(link: LinkRef): { data: rt.Link; attrs: ifla.LinkAttrs } {
  return typeof link === 'number' ? { data: { index: link }, attrs: {} } : { data: {}, attrs: { ifname: link } };
}

export function describe(link: LinkRef): string {
  return typeof link === 'number' ? `link #${link}` : `link ${link}`;
}

export function commonAttrs(options: { mtu?: number; mac?: string }): ifla.LinkAttrs {
  return {
    ...(options.mtu === undefined ? {} : { mtu: options.mtu }),
    ...(options.mac === undefined ? {} : { address: macToBuffer(options.mac) }),
  };
}

export function bridgeInfo(): Buffer {
  return flatten(ifla.formatInfo({ kind: 'bridge' }));
}

export function vethInfo(peer: VethPeer): Buffer {
  const peerMessage = Buffer.concat([
    rt.formatLink({}),
    flatten(ifla.formatLinkAttrs({
      ifname: peer.name,
      ...(peer.netnsFd === undefined ? {} : { netNsFd: peer.netnsFd }),
      ...commonAttrs(peer),
    })),
  ]);
  return flatten(ifla.formatInfo({ kind: 'veth', data: flatten(ifla.formatVethInfo({ peer: peerMessage })) }));
}

export function vxlanPort(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port, 0);
  return b;
}

export function vxlanInfo(options: VxlanOptions): Buffer {
  const data = flatten(ifla.formatVxlan({
    id: options.vni,
    port: vxlanPort(options.port),
    learning: options.learning === true ? 1 : 0,
    ...(options.local === undefined ? {} : { local: ipv4ToBuffer(options.local) }),
    ...(options.underlay === undefined ? {} : { link: options.underlay }),
  }));
  return flatten(ifla.formatInfo({ kind: 'vxlan', data }));
}

function parseVxlanInfo(data: Buffer | undefined): VxlanInfo | undefined {
  if (data === undefined) return undefined;
  const v = ifla.parseVxlan(data);
  return {
    vni: v.id ?? 0,
    port: v.port === undefined ? 0 : v.port.readUInt16BE(0),
    local: v.local === undefined ? undefined : bufferToIpv4(v.local),
    underlay: v.link === undefined || v.link === 0 ? undefined : v.link,
    learning: v.learning === 1,
  };
}

export function toLinkInfo(message: rt.LinkMessage): LinkInfo {
  const { data, attrs } = message;
  const info = attrs.linkinfo === undefined ? undefined : ifla.parseInfo(attrs.linkinfo);
  return {
    index: data.index ?? 0,
    name: attrs.ifname ?? '',
    kind: info?.kind,
    mtu: attrs.mtu ?? 0,
    up: data.flags?.up === true,
    mac: bufferToMac(attrs.address),
    master: attrs.master === undefined || attrs.master === 0 ? undefined : attrs.master,
    vxlan: info?.kind === 'vxlan' ? parseVxlanInfo(info.data) : undefined,
  };
}

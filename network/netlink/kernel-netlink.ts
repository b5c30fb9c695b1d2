/**
 * The Netlink interface over the kernel: one rtnetlink socket (opened in any
 * namespace by open-netlink.ts), requests pipelined through RequestChannel.
 * The codecs hold the byte layouts; this file only says which message, which
 * flags, and what the operation is called in an error.
 */
import { constants } from 'node:os';
import { FlagsNew, rt, type NetlinkMessage } from 'netlink';
import { addressPayload, describeAddress, dumpAddressesPayload, toAddressInfo } from './address-codec.js';
import {
  bridgeInfo, commonAttrs, describe, linkPayload, linkSelector, toLinkInfo, vethInfo, vxlanInfo,
} from './link-codec.js';
import { deleting, NetlinkError } from './netlink-error.js';
import {
  AF_BRIDGE, deleteFdbPayload, deleteNeighbourPayload, dumpNeighboursPayload, newFdbPayload, newNeighbourPayload,
  toFdbInfo, toNeighbourInfo,
} from './neighbour-codec.js';
import type { RequestChannel } from './request-channel.js';
import { AF_INET } from './address-codec.js';
import { deleteRoutePayload, describeRoute, dumpRoutesPayload, newRoutePayload, RT_TABLE_MAIN, toRouteInfo } from './route-codec.js';
import { macToBuffer } from './inet.js';
import type {
  AddressInfo, AddressSpec, CreateMode, DeleteOptions, FdbInfo, FdbSpec, LinkInfo, LinkOptions, LinkRef,
  Netlink, NeighbourInfo, NeighbourSpec, RouteInfo, RouteKey, RouteSpec, VethPeer, VxlanOptions,
} from './types.js';

const T = rt.MessageType;

export function createFlags(mode: CreateMode = 'exclusive'): number {
  switch (mode) {
    case 'create': return FlagsNew.CREATE;
    case 'exclusive': return FlagsNew.CREATE | FlagsNew.EXCL;
    case 'replace': return FlagsNew.CREATE | FlagsNew.REPLACE;
  }
}

function parsed<M extends rt.Message['kind']>(kind: M, messages: NetlinkMessage[]): Array<Extract<rt.Message, { kind: M }>> {
  return messages.map((m) => rt.parseMessage(m.type, m.data)).filter((m): m is Extract<rt.Message, { kind: M }> => m.kind === kind);
}

function defined<T>(items: Array<T | undefined>): T[] {
  return items.filter((x): x is T => x !== undefined);
}

export class KernelNetlink implements Netlink {
  constructor(private readonly channel: RequestChannel) {}

  close(): void {
    this.channel.close();
  }

  // Links.

  async listLinks(): Promise<LinkInfo[]> {
    const replies = await this.channel.dump(T.GETLINK, linkPayload({}, {}), 'list links');
    return parsed('link', replies).map(toLinkInfo);
  }

  async getLink(link: LinkRef): Promise<LinkInfo> {
    const { data, attrs } = linkSelector(link);
    const replies = await this.channel.request(T.GETLINK, linkPayload(data, attrs), 0, `get ${describe(link)}`);
    const found = parsed('link', replies)[0];
    if (found === undefined) throw new NetlinkError(`get ${describe(link)}`, constants.errno.ENODEV);
    return toLinkInfo(found);
  }

  async findLink(link: LinkRef): Promise<LinkInfo | undefined> {
    try {
      return await this.getLink(link);
    } catch (err) {
      if (err instanceof NetlinkError && err.errnoName === 'ENODEV') return undefined;
      throw err;
    }
  }

  private async newLink(name: string, kind: string, linkinfo: Buffer, options: LinkOptions): Promise<LinkInfo> {
    const operation = `create ${kind} ${name}`;
    await this.channel.request(T.NEWLINK, linkPayload({}, { ifname: name, linkinfo, ...commonAttrs(options) }),
      createFlags(options.mode ?? 'exclusive'), operation);
    return this.getLink(name);
  }

  createBridge(name: string, options: LinkOptions = {}): Promise<LinkInfo> {
    return this.newLink(name, 'bridge', bridgeInfo(), options);
  }

  createVeth(name: string, peer: VethPeer, options: LinkOptions = {}): Promise<LinkInfo> {
    return this.newLink(name, 'veth', vethInfo(peer), options);
  }

  createVxlan(name: string, vxlan: VxlanOptions, options: LinkOptions = {}): Promise<LinkInfo> {
    return this.newLink(name, 'vxlan', vxlanInfo(vxlan), options);
  }

  private async setLink(link: LinkRef, data: rt.Link, attrs: Parameters<typeof linkPayload>[1], what: string): Promise<void> {
    const selector = linkSelector(link);
    await this.channel.request(T.SETLINK, linkPayload({ ...selector.data, ...data }, { ...selector.attrs, ...attrs }), 0,
      `${what} ${describe(link)}`);
  }

  setLinkUp(link: LinkRef, up: boolean): Promise<void> {
    return this.setLink(link, { flags: up ? { up: true } : {}, change: { up: true } }, {}, up ? 'set up' : 'set down');
  }

  setLinkMtu(link: LinkRef, mtu: number): Promise<void> {
    return this.setLink(link, {}, { mtu }, `set mtu ${mtu} on`);
  }

  setLinkMaster(link: LinkRef, master: number | null): Promise<void> {
    return this.setLink(link, {}, { master: master ?? 0 }, master === null ? 'release' : `enslave to link #${master}`);
  }

  setLinkMac(link: LinkRef, mac: string): Promise<void> {
    return this.setLink(link, {}, { address: macToBuffer(mac) }, `set mac ${mac} on`);
  }

  deleteLink(link: LinkRef, options: DeleteOptions = {}): Promise<boolean> {
    const { data, attrs } = linkSelector(link);
    return deleting(options.missingOk, async () => {
      await this.channel.request(T.DELLINK, linkPayload(data, attrs), 0, `delete ${describe(link)}`);
    });
  }

  // Addresses.

  async listAddresses(index?: number): Promise<AddressInfo[]> {
    const replies = await this.channel.dump(T.GETADDR, dumpAddressesPayload(), 'list addresses');
    return defined(parsed('address', replies).map(toAddressInfo)).filter((a) => index === undefined || a.index === index);
  }

  async addAddress(address: AddressSpec): Promise<void> {
    await this.channel.request(T.NEWADDR, addressPayload(address), createFlags(address.mode), `add address ${describeAddress(address)}`);
  }

  deleteAddress(address: AddressInfo, options: DeleteOptions = {}): Promise<boolean> {
    return deleting(options.missingOk, async () => {
      await this.channel.request(T.DELADDR, addressPayload(address), 0, `delete address ${describeAddress(address)}`);
    });
  }

  // Routes.

  async listRoutes(table = RT_TABLE_MAIN): Promise<RouteInfo[]> {
    const replies = await this.channel.dump(T.GETROUTE, dumpRoutesPayload(), 'list routes');
    return defined(parsed('route', replies).map((m) => toRouteInfo(m, table)));
  }

  async addRoute(route: RouteSpec): Promise<void> {
    await this.channel.request(T.NEWROUTE, newRoutePayload(route), createFlags(route.mode), `add ${describeRoute(route)}`);
  }

  deleteRoute(route: RouteKey, options: DeleteOptions = {}): Promise<boolean> {
    return deleting(options.missingOk, async () => {
      await this.channel.request(T.DELROUTE, deleteRoutePayload(route), 0, `delete ${describeRoute(route)}`);
    });
  }

  // Neighbours (ARP).

  async listNeighbours(index?: number): Promise<NeighbourInfo[]> {
    const replies = await this.channel.dump(T.GETNEIGH, dumpNeighboursPayload(AF_INET), 'list neighbours');
    return defined(parsed('neighbor', replies).map(toNeighbourInfo)).filter((n) => index === undefined || n.index === index);
  }

  async addNeighbour(n: NeighbourSpec): Promise<void> {
    await this.channel.request(T.NEWNEIGH, newNeighbourPayload(n), createFlags(n.mode),
      `add neighbour ${n.address} lladdr ${n.mac} on link #${n.index}`);
  }

  deleteNeighbour(n: { index: number; address: string }, options: DeleteOptions = {}): Promise<boolean> {
    return deleting(options.missingOk, async () => {
      await this.channel.request(T.DELNEIGH, deleteNeighbourPayload(n), 0, `delete neighbour ${n.address} on link #${n.index}`);
    });
  }

  // FDB (vxlan).

  async listFdb(index: number): Promise<FdbInfo[]> {
    const replies = await this.channel.dump(T.GETNEIGH, dumpNeighboursPayload(AF_BRIDGE), 'list fdb');
    return defined(parsed('neighbor', replies).map(toFdbInfo)).filter((e) => e.index === index);
  }

  async addFdb(e: FdbSpec): Promise<void> {
    await this.channel.request(T.NEWNEIGH, newFdbPayload(e), createFlags(e.mode), `add fdb ${e.mac} dst ${e.dst} on link #${e.index}`);
  }

  deleteFdb(e: { index: number; mac: string; dst?: string }, options: DeleteOptions = {}): Promise<boolean> {
    return deleting(options.missingOk, async () => {
      await this.channel.request(T.DELNEIGH, deleteFdbPayload(e), 0, `delete fdb ${e.mac} on link #${e.index}`);
    });
  }
}

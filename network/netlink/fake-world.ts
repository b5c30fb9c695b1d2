/**
 * The fake kernel's state: network namespaces with their links and tables,
 * and fds that name namespaces (for VethPeer.netnsFd). fake-netlink.ts holds
 * the rules (errnos, create modes, what goes with what); this file the data
 * and the one cascade every rule shares, removing a link.
 */
import type { AddressInfo, FdbInfo, LinkInfo, LinkRef, NeighbourInfo, RouteInfo } from './types.js';

export interface FakeLink extends LinkInfo {
  /** The other end of a veth: its namespace and index. */
  peer?: { ns: FakeNamespace; index: number };
}

/** One network namespace's tables. */
export class FakeNamespace {
  readonly links = new Map<number, FakeLink>();
  addresses: AddressInfo[] = [];
  routes: RouteInfo[] = [];
  neighbours: NeighbourInfo[] = [];
  fdb: FdbInfo[] = [];
  private nextIndex = 1;

  constructor() {
    this.addLink({ name: 'lo', kind: undefined, mtu: 65536, up: true, mac: '00:00:00:00:00:00', master: undefined, vxlan: undefined });
  }

  addLink(link: Omit<FakeLink, 'index'>): FakeLink {
    const created: FakeLink = { ...link, index: this.nextIndex++ };
    this.links.set(created.index, created);
    return created;
  }

  byName(name: string): FakeLink | undefined {
    for (const link of this.links.values()) if (link.name === name) return link;
    return undefined;
  }

  resolve(ref: LinkRef): FakeLink | undefined {
    return typeof ref === 'number' ? this.links.get(ref) : this.byName(ref);
  }
}

/** The fake kernel: namespaces, and fds that name them (for VethPeer.netnsFd). */
export class FakeNetworkWorld {
  private readonly fds = new Map<number, FakeNamespace>();
  private nextFd = 1000;

  createNamespace(): FakeNamespace {
    return new FakeNamespace();
  }

  /** A number standing for an open fd of `ns`, as /run/netns/NAME opened. */
  fdFor(ns: FakeNamespace): number {
    const fd = this.nextFd++;
    this.fds.set(fd, ns);
    return fd;
  }

  namespaceOf(fd: number): FakeNamespace | undefined {
    return this.fds.get(fd);
  }
}

/** Removes a link and everything that goes with it in the kernel. */
export function removeLink(ns: FakeNamespace, link: FakeLink): void {
  if (!ns.links.delete(link.index)) return;
  const index = link.index;
  ns.addresses = ns.addresses.filter((a) => a.index !== index);
  ns.routes = ns.routes.filter((r) => r.index !== index);
  ns.neighbours = ns.neighbours.filter((n) => n.index !== index);
  ns.fdb = ns.fdb.filter((e) => e.index !== index);
  for (const other of [...ns.links.values()]) {
    if (other.master === index) other.master = undefined;
    if (other.vxlan?.underlay === index) removeLink(ns, other);
  }
  if (link.peer !== undefined) {
    const peer = link.peer.ns.links.get(link.peer.index);
    if (peer !== undefined) removeLink(link.peer.ns, peer);
  }
}

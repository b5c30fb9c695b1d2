/**
 * An in-memory kernel behind the Netlink interface, for unit tests (no root,
 * no namespaces). It models what Skiff relies on, with the kernel's errnos,
 * and netlink-contract.ts runs the same checks against it and the real
 * kernel so the two cannot drift. Modelled, beyond the plain tables:
 * - namespaces and fds for them (a veth peer made in another namespace;
 *   deleting either end deletes both);
 * - ifindexes per namespace, lo = 1;
 * - create modes per object kind (see CreateMode in types.ts);
 * - an address adds its prefix route (proto kernel, scope link, src) while
 *   the link is up; a link going down loses its routes and its neighbours
 *   (permanent ones too, as the kernel's neigh_ifdown does), keeps its FDB;
 * - a route's gateway must be reachable through a connected route unless
 *   onlink; the output link must be up (ENETDOWN);
 * - deleting a link takes its addresses, routes, neighbours and FDB entries,
 *   releases its bridge ports, deletes vxlan devices that use it as underlay;
 * - FDB: a delete with a dst that is not the entry's succeeds and deletes nothing;
 * - vxlan: MTU defaults to the underlay's − 50 (1500 without one), one device
 *   per VNI and port in a namespace (EEXIST).
 * Not modelled: IPv6, the local table, bridge MAC inheritance, FDB entries
 * on anything but vxlan devices (EOPNOTSUPP here), carrier.
 *
 * Tests can make an operation fail (`failNext`) and read the operations in
 * order (`log`), e.g. to check the overlay programs neigh, fdb, then route.
 */
import { constants } from 'node:os';
import { canonicalCidr, cidrContains, ipv4ToBuffer, macToBuffer, networkOf, parseCidr, randomMac } from './inet.js';
import { deleting, NetlinkError } from './netlink-error.js';
import { FakeNetworkWorld, removeLink, type FakeLink, type FakeNamespace } from './fake-world.js';
import { ROUTE_PROTOCOL } from './types.js';
import type {
  AddressInfo, AddressSpec, DeleteOptions, FdbInfo, FdbSpec, LinkInfo, LinkOptions, LinkRef, Netlink,
  NeighbourInfo, NeighbourSpec, RouteInfo, RouteKey, RouteSpec, VethPeer, VxlanInfo, VxlanOptions,
} from './types.js';

const ERRNO = constants.errno;
type ErrnoName = keyof typeof ERRNO;

const RT_TABLE_MAIN = 254;
const VXLAN_HEADROOM = 50;
const MIN_MTU = 68;
const MAX_MTU = 65535;
const IFNAMSIZ = 16;

function fail(operation: string, errnoName: ErrnoName): never {
  throw new NetlinkError(operation, ERRNO[errnoName]);
}

const copy = <T extends object>(x: T): T => ({ ...x });

/** A MAC as the kernel reports it back (validated as the kernel implementation's encoder does). */
function normalMac(mac: string | undefined): string {
  if (mac === undefined) return randomMac();
  macToBuffer(mac);
  return mac.toLowerCase();
}

function publicLink(link: FakeLink): LinkInfo {
  const { peer: _peer, ...info } = link;
  return { ...info, vxlan: info.vxlan === undefined ? undefined : copy(info.vxlan) };
}

export class FakeNetlink implements Netlink {
  /** Every mutating operation, in order, as `verb object` (e.g. `add neighbour 198.18.1.0`). */
  readonly log: string[] = [];
  private readonly failures: Array<{ pattern: RegExp; errno: number }> = [];
  private closed = false;

  constructor(readonly world = new FakeNetworkWorld(), readonly ns = world.createNamespace()) {}

  /** The next operation whose log line matches `pattern` fails with `errnoName` (once). */
  failNext(pattern: RegExp, errnoName: ErrnoName): void {
    this.failures.push({ pattern, errno: ERRNO[errnoName] });
  }

  close(): void {
    this.closed = true;
  }

  private begin(operation: string): void {
    if (this.closed) throw new NetlinkError(operation, 0);
    const i = this.failures.findIndex((f) => f.pattern.test(operation));
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw new NetlinkError(operation, f!.errno);
    }
    this.log.push(operation);
  }

  private link(ref: LinkRef, operation: string): FakeLink {
    const link = this.ns.resolve(ref);
    if (link === undefined) fail(operation, 'ENODEV');
    return link;
  }

  // Links.

  async listLinks(): Promise<LinkInfo[]> {
    return [...this.ns.links.values()].map(publicLink);
  }

  async getLink(ref: LinkRef): Promise<LinkInfo> {
    return publicLink(this.link(ref, `get link ${ref}`));
  }

  async findLink(ref: LinkRef): Promise<LinkInfo | undefined> {
    const link = this.ns.resolve(ref);
    return link === undefined ? undefined : publicLink(link);
  }

  private checkName(name: string, operation: string): void {
    // The attribute policy refuses a name past IFNAMSIZ − 1 (ERANGE); dev_valid_name the rest (EINVAL).
    if (name.length >= IFNAMSIZ) fail(operation, 'ERANGE');
    if (name === '' || name === '.' || name === '..' || /[\s/:]/.test(name)) fail(operation, 'EINVAL');
  }

  private checkMtu(mtu: number | undefined, max: number, operation: string): void {
    if (mtu !== undefined && (mtu < MIN_MTU || mtu > max)) fail(operation, 'EINVAL');
  }

  /**
   * The kernel's answer for an existing link: EEXIST (exclusive), or it
   * changes the link ('create'). Only a bridge gets that far: a veth's or a
   * vxlan's request carries IFLA_INFO_DATA (the peer; the port), which veth
   * cannot change and vxlan refuses to ("Cannot change VXLAN port"):
   * EOPNOTSUPP, whatever the existing link is.
   */
  private existing(name: string, kind: string, options: LinkOptions, operation: string): LinkInfo | undefined {
    const link = this.ns.byName(name);
    if (link === undefined) return undefined;
    if ((options.mode ?? 'exclusive') === 'exclusive') fail(operation, 'EEXIST');
    if (kind !== 'bridge') fail(operation, 'EOPNOTSUPP');
    this.checkMtu(options.mtu, MAX_MTU, operation);
    if (options.mtu !== undefined) link.mtu = options.mtu;
    if (options.mac !== undefined) link.mac = normalMac(options.mac);
    return publicLink(link);
  }

  async createBridge(name: string, options: LinkOptions = {}): Promise<LinkInfo> {
    const operation = `create bridge ${name}`;
    this.begin(operation);
    this.checkName(name, operation);
    const found = this.existing(name, 'bridge', options, operation);
    if (found !== undefined) return found;
    this.checkMtu(options.mtu, MAX_MTU, operation);
    return publicLink(this.ns.addLink({
      name, kind: 'bridge', mtu: options.mtu ?? 1500, up: false, mac: normalMac(options.mac), master: undefined, vxlan: undefined,
    }));
  }

  async createVeth(name: string, peer: VethPeer, options: LinkOptions = {}): Promise<LinkInfo> {
    const operation = `create veth ${name}`;
    this.begin(operation);
    this.checkName(name, operation);
    this.checkName(peer.name, operation);
    const found = this.existing(name, 'veth', options, operation);
    if (found !== undefined) return found;
    const peerNs = peer.netnsFd === undefined ? this.ns : this.world.namespaceOf(peer.netnsFd);
    if (peerNs === undefined) fail(operation, 'EBADF');
    if (peerNs.byName(peer.name) !== undefined || (peerNs === this.ns && peer.name === name)) fail(operation, 'EEXIST');
    this.checkMtu(options.mtu, MAX_MTU, operation);
    this.checkMtu(peer.mtu, MAX_MTU, operation);
    const mine = this.ns.addLink({
      name, kind: 'veth', mtu: options.mtu ?? 1500, up: false, mac: normalMac(options.mac), master: undefined, vxlan: undefined,
    });
    const theirs = peerNs.addLink({
      name: peer.name, kind: 'veth', mtu: peer.mtu ?? 1500, up: false, mac: normalMac(peer.mac), master: undefined, vxlan: undefined,
    });
    mine.peer = { ns: peerNs, index: theirs.index };
    theirs.peer = { ns: this.ns, index: mine.index };
    return publicLink(mine);
  }

  async createVxlan(name: string, vxlan: VxlanOptions, options: LinkOptions = {}): Promise<LinkInfo> {
    const operation = `create vxlan ${name}`;
    this.begin(operation);
    this.checkName(name, operation);
    const info: VxlanInfo = {
      vni: vxlan.vni, port: vxlan.port, local: vxlan.local, underlay: vxlan.underlay, learning: vxlan.learning === true,
    };
    const found = this.existing(name, 'vxlan', options, operation);
    if (found !== undefined) return found;
    if (!Number.isInteger(vxlan.vni) || vxlan.vni < 0 || vxlan.vni >= 1 << 24) fail(operation, 'ERANGE');
    // With an underlay the default leaves room for the 50 bytes of encapsulation; without one the
    // kernel gives 1500; an explicit MTU is taken as given.
    const mtu = vxlan.underlay === undefined ? 1500 : this.link(vxlan.underlay, operation).mtu - VXLAN_HEADROOM;
    for (const l of this.ns.links.values()) {
      if (l.vxlan !== undefined && l.vxlan.vni === vxlan.vni && l.vxlan.port === vxlan.port) fail(operation, 'EEXIST');
    }
    this.checkMtu(options.mtu, MAX_MTU, operation);
    return publicLink(this.ns.addLink({
      name, kind: 'vxlan', mtu: options.mtu ?? mtu, up: false, mac: normalMac(options.mac), master: undefined, vxlan: info,
    }));
  }

  async setLinkUp(ref: LinkRef, up: boolean): Promise<void> {
    const operation = `set ${up ? 'up' : 'down'} link ${ref}`;
    this.begin(operation);
    const link = this.link(ref, operation);
    if (link.up === up) return;
    link.up = up;
    if (up) {
      for (const a of this.ns.addresses.filter((x) => x.index === link.index)) this.addPrefixRoute(a);
    } else {
      this.ns.routes = this.ns.routes.filter((r) => r.index !== link.index);
      this.ns.neighbours = this.ns.neighbours.filter((n) => n.index !== link.index);
    }
  }

  async setLinkMtu(ref: LinkRef, mtu: number): Promise<void> {
    const operation = `set mtu ${mtu} link ${ref}`;
    this.begin(operation);
    const link = this.link(ref, operation);
    this.checkMtu(mtu, MAX_MTU, operation);
    link.mtu = mtu;
  }

  async setLinkMaster(ref: LinkRef, master: number | null): Promise<void> {
    const operation = `set master ${master ?? 'none'} link ${ref}`;
    this.begin(operation);
    const link = this.link(ref, operation);
    if (master === null || master === 0) {
      link.master = undefined;
      return;
    }
    const bridge = this.ns.links.get(master);
    if (bridge === undefined) fail(operation, 'EINVAL');
    if (bridge.kind !== 'bridge') fail(operation, 'EOPNOTSUPP');
    if (bridge === link) fail(operation, 'ELOOP');
    link.master = master;
  }

  async setLinkMac(ref: LinkRef, mac: string): Promise<void> {
    const operation = `set mac ${mac} link ${ref}`;
    const normal = normalMac(mac);
    this.begin(operation);
    this.link(ref, operation).mac = normal;
  }

  async deleteLink(ref: LinkRef, options: DeleteOptions = {}): Promise<boolean> {
    const operation = `delete link ${ref}`;
    return deleting(options.missingOk, async () => {
      this.begin(operation);
      const link = this.link(ref, operation);
      removeLink(this.ns, link);
    });
  }

  // Addresses.

  async listAddresses(index?: number): Promise<AddressInfo[]> {
    return this.ns.addresses.filter((a) => index === undefined || a.index === index).map(copy);
  }

  private addPrefixRoute(a: AddressInfo): void {
    if (a.prefixLength >= 32) return;
    const dst = `${networkOf(a.address, a.prefixLength)}/${a.prefixLength}`;
    if (this.ns.routes.some((r) => r.dst === dst && r.index === a.index && r.table === RT_TABLE_MAIN && r.metric === 0)) return;
    this.ns.routes.push({
      dst, gateway: undefined, index: a.index, onlink: false, table: RT_TABLE_MAIN, scope: 'link',
      protocol: ROUTE_PROTOCOL.kernel, metric: 0, source: a.address,
    });
  }

  async addAddress(spec: AddressSpec): Promise<void> {
    const operation = `add address ${spec.address}/${spec.prefixLength} link ${spec.index}`;
    parseCidr(`${spec.address}/${spec.prefixLength}`);
    this.begin(operation);
    const link = this.link(spec.index, operation);
    const exists = this.ns.addresses.some((a) => sameAddress(a, spec));
    if (exists) {
      if (spec.mode !== 'replace') fail(operation, 'EEXIST');
      return;
    }
    const address = { index: spec.index, address: spec.address, prefixLength: spec.prefixLength };
    this.ns.addresses.push(address);
    if (link.up) this.addPrefixRoute(address);
  }

  async deleteAddress(address: AddressInfo, options: DeleteOptions = {}): Promise<boolean> {
    const operation = `delete address ${address.address}/${address.prefixLength} link ${address.index}`;
    return deleting(options.missingOk, async () => {
      this.begin(operation);
      this.link(address.index, operation);
      const i = this.ns.addresses.findIndex((a) => sameAddress(a, address));
      if (i < 0) fail(operation, 'EADDRNOTAVAIL');
      this.ns.addresses.splice(i, 1);
      this.ns.routes = this.ns.routes.filter((r) => !(r.index === address.index && r.source === address.address));
    });
  }

  // Routes.

  async listRoutes(table = RT_TABLE_MAIN): Promise<RouteInfo[]> {
    return this.ns.routes.filter((r) => r.table === table).map(copy);
  }

  /** The link a non-onlink gateway is reached through: a connected (scope link) route must cover it. */
  private gatewayLink(gateway: string, index: number | undefined, operation: string): number {
    const via = this.ns.routes.find((r) => r.table === RT_TABLE_MAIN && r.scope === 'link' && r.gateway === undefined
      && (index === undefined || r.index === index) && cidrContains(parseCidr(r.dst).address, parseCidr(r.dst).prefixLength, gateway));
    if (via === undefined || via.index === undefined) fail(operation, 'ENETUNREACH');
    return via.index;
  }

  async addRoute(spec: RouteSpec): Promise<void> {
    const dst = canonicalCidr(spec.dst);
    const table = spec.table ?? RT_TABLE_MAIN;
    const operation = `add route ${dst} table ${table}`;
    if (spec.gateway !== undefined) ipv4ToBuffer(spec.gateway);
    if (spec.source !== undefined) ipv4ToBuffer(spec.source);
    this.begin(operation);
    let index = spec.index;
    if (index !== undefined) {
      const link = this.link(index, operation);
      if (!link.up) fail(operation, 'ENETDOWN');
    }
    if (spec.gateway !== undefined) {
      if (spec.onlink === true) {
        if (index === undefined) fail(operation, 'EINVAL');
      } else {
        index = this.gatewayLink(spec.gateway, index, operation);
      }
    } else if (index === undefined) {
      fail(operation, 'EINVAL');
    }
    const route: RouteInfo = {
      dst, gateway: spec.gateway, index, onlink: spec.onlink === true, table,
      scope: spec.scope ?? (spec.gateway === undefined ? 'link' : 'universe'),
      protocol: spec.protocol ?? ROUTE_PROTOCOL.boot, metric: spec.metric ?? 0, source: spec.source,
    };
    const sameKey = (r: RouteInfo) => r.table === table && r.dst === dst && r.metric === route.metric;
    const i = this.ns.routes.findIndex(sameKey);
    const mode = spec.mode ?? 'exclusive';
    if (i >= 0) {
      if (mode === 'exclusive') fail(operation, 'EEXIST');
      if (mode === 'replace') {
        this.ns.routes[i] = route;
        return;
      }
      const identical = this.ns.routes.some((r) => sameKey(r) && r.gateway === route.gateway && r.index === route.index && r.scope === route.scope);
      if (identical) fail(operation, 'EEXIST');
      this.ns.routes.splice(i, 0, route);
      return;
    }
    this.ns.routes.push(route);
  }

  async deleteRoute(key: RouteKey, options: DeleteOptions = {}): Promise<boolean> {
    const dst = canonicalCidr(key.dst);
    const table = key.table ?? RT_TABLE_MAIN;
    const operation = `delete route ${dst} table ${table}`;
    return deleting(options.missingOk, async () => {
      this.begin(operation);
      if (key.index !== undefined) this.link(key.index, operation);
      const i = this.ns.routes.findIndex((r) => r.table === table && r.dst === dst
        && (key.metric === undefined || r.metric === key.metric)
        && (key.gateway === undefined || r.gateway === key.gateway)
        && (key.index === undefined || r.index === key.index));
      if (i < 0) fail(operation, 'ESRCH');
      this.ns.routes.splice(i, 1);
    });
  }

  // Neighbours.

  async listNeighbours(index?: number): Promise<NeighbourInfo[]> {
    return this.ns.neighbours.filter((n) => index === undefined || n.index === index).map(copy);
  }

  async addNeighbour(spec: NeighbourSpec): Promise<void> {
    const operation = `add neighbour ${spec.address} lladdr ${spec.mac} link ${spec.index}`;
    ipv4ToBuffer(spec.address);
    macToBuffer(spec.mac);
    this.begin(operation);
    this.link(spec.index, operation);
    const existing = this.ns.neighbours.find((n) => n.index === spec.index && n.address === spec.address);
    if (existing !== undefined) {
      const mode = spec.mode ?? 'exclusive';
      if (mode === 'exclusive') fail(operation, 'EEXIST');
      if (mode === 'replace') existing.mac = spec.mac.toLowerCase();
      return;
    }
    this.ns.neighbours.push({ index: spec.index, address: spec.address, mac: spec.mac.toLowerCase(), permanent: true });
  }

  async deleteNeighbour(n: { index: number; address: string }, options: DeleteOptions = {}): Promise<boolean> {
    const operation = `delete neighbour ${n.address} link ${n.index}`;
    return deleting(options.missingOk, async () => {
      this.begin(operation);
      this.link(n.index, operation);
      const i = this.ns.neighbours.findIndex((x) => x.index === n.index && x.address === n.address);
      if (i < 0) fail(operation, 'ENOENT');
      this.ns.neighbours.splice(i, 1);
    });
  }

  // FDB.

  async listFdb(index: number): Promise<FdbInfo[]> {
    return this.ns.fdb.filter((e) => e.index === index).map(copy);
  }

  async addFdb(spec: FdbSpec): Promise<void> {
    const operation = `add fdb ${spec.mac} dst ${spec.dst} link ${spec.index}`;
    ipv4ToBuffer(spec.dst);
    macToBuffer(spec.mac);
    this.begin(operation);
    const link = this.link(spec.index, operation);
    if (link.kind !== 'vxlan') fail(operation, 'EOPNOTSUPP');
    const mac = spec.mac.toLowerCase();
    const existing = this.ns.fdb.find((e) => e.index === spec.index && e.mac === mac);
    if (existing !== undefined) {
      const mode = spec.mode ?? 'exclusive';
      if (mode === 'exclusive') fail(operation, 'EEXIST');
      if (mode === 'replace') existing.dst = spec.dst;
      return;
    }
    this.ns.fdb.push({ index: spec.index, mac, dst: spec.dst, permanent: true });
  }

  async deleteFdb(e: { index: number; mac: string; dst?: string }, options: DeleteOptions = {}): Promise<boolean> {
    const operation = `delete fdb ${e.mac} link ${e.index}`;
    return deleting(options.missingOk, async () => {
      this.begin(operation);
      this.link(e.index, operation);
      const mac = e.mac.toLowerCase();
      const i = this.ns.fdb.findIndex((x) => x.index === e.index && x.mac === mac);
      if (i < 0) fail(operation, 'ENOENT');
      // The kernel answers a delete whose dst is not the entry's with success, and deletes nothing.
      if (e.dst === undefined || this.ns.fdb[i]!.dst === e.dst) this.ns.fdb.splice(i, 1);
    });
  }
}

function sameAddress(a: AddressInfo, b: AddressInfo): boolean {
  return a.index === b.index && a.address === b.address && a.prefixLength === b.prefixLength;
}


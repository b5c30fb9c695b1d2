/**
 * What Skiff needs from rtnetlink, as one interface with two implementations:
 * the kernel (kernel-netlink.ts, over the `netlink` package) and an in-memory
 * fake (fake-netlink.ts) for unit tests. netlink-contract.ts runs the same
 * checks against both, so the fake behaves like the kernel where Skiff looks.
 *
 * IPv4 only (the pod network and the overlay are IPv4, as flannel's vxlan
 * backend is by default). Addresses and MACs are strings at this surface
 * ('198.18.0.1', '02:42:c6:12:00:01'); the byte layouts stay inside.
 *
 * Every failure is a NetlinkError carrying the kernel's errno (EEXIST,
 * ENODEV, ...). Deletes take `{ missingOk: true }` where "already gone" is
 * success (teardown, gc) and then resolve to false instead of throwing.
 *
 * Requests are pipelined: call many at once (Promise.all) and they share the
 * socket, a bounded number in flight, in the order they were issued.
 */

/**
 * How a create request treats an object that already exists: the NLM_F flags,
 * named. The kernel's answer differs per object kind; the contract pins the
 * cases Skiff relies on:
 * - `exclusive` (CREATE|EXCL): EEXIST if it exists. The default.
 * - `replace` (CREATE|REPLACE): create, or overwrite the existing one
 *   (addresses, routes, neighbours, FDB entries; links refuse: EOPNOTSUPP).
 * - `create` (CREATE alone): create, or leave the existing one (links: change
 *   the attributes given; neighbours and FDB entries: keep their MAC/dst; an
 *   identical address or route: EEXIST).
 */
export type CreateMode = 'create' | 'exclusive' | 'replace';

/** Links have no "replace": the kernel answers EOPNOTSUPP for an existing one. */
export type LinkCreateMode = 'create' | 'exclusive';

/** A link by name or by index (in the socket's namespace). */
export type LinkRef = string | number;

export interface VxlanInfo {
  vni: number;
  /** UDP destination port, host order (the kernel's default is 8472). */
  port: number;
  local: string | undefined;
  /** Index of the underlay link the device sends through. */
  underlay: number | undefined;
  learning: boolean;
}

export interface LinkInfo {
  index: number;
  name: string;
  /** 'bridge', 'veth', 'vxlan', ...; undefined for loopback and hardware. */
  kind: string | undefined;
  mtu: number;
  /** Administratively up (IFF_UP), not carrier. */
  up: boolean;
  mac: string;
  /** Index of the bridge this link is a port of. */
  master: number | undefined;
  vxlan: VxlanInfo | undefined;
}

export interface LinkOptions {
  mtu?: number;
  mac?: string;
  /** Default 'exclusive'. */
  mode?: LinkCreateMode;
}

export interface VethPeer {
  name: string;
  /**
   * An open fd of the namespace to create the peer in (e.g. of
   * /run/netns/NAME or /proc/PID/ns/net): creating it there directly costs
   * ~1 ms, moving it afterwards ~17 ms (DESIGN.md). Default: this namespace.
   */
  netnsFd?: number;
  mtu?: number;
  mac?: string;
}

export interface VxlanOptions {
  vni: number;
  /** UDP destination port, host order. flannel's (and the kernel's) default: 8472. */
  port: number;
  /** Source address of the encapsulated packets (the host's public IP). */
  local?: string;
  /** Underlay link index; the device's MTU defaults to the underlay's − 50 (1500 without one). */
  underlay?: number;
  /** Default false: the overlay programs the FDB itself (flannel's nolearning). */
  learning?: boolean;
}

export interface AddressInfo {
  index: number;
  address: string;
  prefixLength: number;
}

export interface AddressSpec extends AddressInfo {
  mode?: CreateMode;
}

/** Route protocols (rtm_protocol) Skiff meets; any number 0-255 is allowed. */
export const ROUTE_PROTOCOL = { kernel: 2, boot: 3, static: 4 } as const;

export type RouteScope = 'universe' | 'link' | 'host';

export interface RouteInfo {
  /** CIDR, '0.0.0.0/0' for the default route. */
  dst: string;
  gateway: string | undefined;
  /** Output link index. */
  index: number | undefined;
  /** RTNH_F_ONLINK: the gateway is on the link even without a route to it. */
  onlink: boolean;
  table: number;
  scope: RouteScope;
  protocol: number;
  /** The route's priority (metric); 0 when unset. */
  metric: number;
  /** Preferred source (the kernel sets it on the routes it derives from addresses). */
  source: string | undefined;
}

export interface RouteSpec {
  dst: string;
  gateway?: string;
  index?: number;
  onlink?: boolean;
  /** Default 254 (main). */
  table?: number;
  /** Default 'link' without a gateway, 'universe' with one. */
  scope?: RouteScope;
  /** Default ROUTE_PROTOCOL.boot, as `ip route add`. */
  protocol?: number;
  metric?: number;
  source?: string;
  /** Default 'exclusive'. */
  mode?: CreateMode;
}

/** Which route to delete: dst, table and metric always match; gateway and index if given. */
export interface RouteKey {
  dst: string;
  table?: number;
  metric?: number;
  gateway?: string;
  index?: number;
}

export interface NeighbourInfo {
  index: number;
  address: string;
  mac: string;
  permanent: boolean;
}

/** A permanent ARP entry (flannel's `ip neigh replace ... nud permanent`). */
export interface NeighbourSpec {
  index: number;
  address: string;
  mac: string;
  mode?: CreateMode;
}

/** An FDB entry on a vxlan device (AF_BRIDGE, NTF_SELF, permanent): MAC → remote VTEP. */
export interface FdbInfo {
  index: number;
  mac: string;
  dst: string | undefined;
  permanent: boolean;
}

export interface FdbSpec {
  index: number;
  mac: string;
  dst: string;
  mode?: CreateMode;
}

export interface DeleteOptions {
  /** "Already gone" (ENODEV, ENOENT, ESRCH, EADDRNOTAVAIL) is success: resolves to false. */
  missingOk?: boolean;
}

export interface Netlink {
  listLinks(): Promise<LinkInfo[]>;
  /** ENODEV when there is no such link. */
  getLink(link: LinkRef): Promise<LinkInfo>;
  /** undefined when there is no such link. */
  findLink(link: LinkRef): Promise<LinkInfo | undefined>;
  createBridge(name: string, options?: LinkOptions): Promise<LinkInfo>;
  /** Resolves to this side's link; the peer is in `peer.netnsFd`'s namespace. */
  createVeth(name: string, peer: VethPeer, options?: LinkOptions): Promise<LinkInfo>;
  createVxlan(name: string, vxlan: VxlanOptions, options?: LinkOptions): Promise<LinkInfo>;
  setLinkUp(link: LinkRef, up: boolean): Promise<void>;
  setLinkMtu(link: LinkRef, mtu: number): Promise<void>;
  /** Makes the link a port of bridge `master`, or of none (null). */
  setLinkMaster(link: LinkRef, master: number | null): Promise<void>;
  setLinkMac(link: LinkRef, mac: string): Promise<void>;
  /** Resolves to true when deleted, false when already gone and `missingOk`. */
  deleteLink(link: LinkRef, options?: DeleteOptions): Promise<boolean>;

  listAddresses(index?: number): Promise<AddressInfo[]>;
  addAddress(address: AddressSpec): Promise<void>;
  deleteAddress(address: AddressInfo, options?: DeleteOptions): Promise<boolean>;

  /** Unicast routes of one table (default main, 254). */
  listRoutes(table?: number): Promise<RouteInfo[]>;
  addRoute(route: RouteSpec): Promise<void>;
  deleteRoute(route: RouteKey, options?: DeleteOptions): Promise<boolean>;

  listNeighbours(index?: number): Promise<NeighbourInfo[]>;
  addNeighbour(neighbour: NeighbourSpec): Promise<void>;
  deleteNeighbour(neighbour: { index: number; address: string }, options?: DeleteOptions): Promise<boolean>;

  /** The FDB entries of one vxlan device. */
  listFdb(index: number): Promise<FdbInfo[]>;
  addFdb(entry: FdbSpec): Promise<void>;
  /**
   * Without `dst`, the whole entry for the MAC goes (what reconciliation wants). With a `dst`
   * that is not the entry's, the kernel answers success and deletes nothing.
   */
  deleteFdb(entry: { index: number; mac: string; dst?: string }, options?: DeleteOptions): Promise<boolean>;

  /** Closes the socket; pending requests fail. Idempotent. */
  close(): void;
}

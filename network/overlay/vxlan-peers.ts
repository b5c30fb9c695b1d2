/**
 * The data path to every other host, programmed on the vxlan device from their leases
 * (../shared/reference/flannel.md §2). Per peer, in this order so the kernel never has to ARP for
 * a gateway it cannot reach: a permanent neighbour (the peer subnet's network address → its VTEP
 * MAC), an FDB entry (that MAC → its public IP, NTF_SELF), then the onlink route to its subnet via
 * that address. Removal goes in reverse. With DirectRouting, a peer on the same underlay link gets
 * a plain route via its public IP instead of the three.
 *
 * Where flannel leaves stale state, this does not (flannel #2554, #533, #1036):
 * - reconcile() compares the kernel's entries on the device (and the overlay's routes) with the
 *   leases and removes what no lease explains, so peers that left while the daemon was down, or
 *   entries someone planted, go at start;
 * - a peer whose VTEP MAC changed loses its old FDB entry (an FDB entry is keyed by MAC: the
 *   new one would otherwise be added next to it).
 * All peers are programmed concurrently: the netlink layer pipelines the requests (a bounded
 * number in flight), which is what makes 1,000 peers fast.
 */
import { contains, formatCidr, formatIpv4, parseCidr, parseIpv4, type Cidr } from '../ipv4.js';
import type { Netlink, RouteInfo } from '../netlink/index.js';
import type { SubnetLease } from './subnet-lease.js';

const KERNEL_PROTOCOL = 2;

export interface Peer {
  subnet: Cidr;
  publicIp: string;
  vtepMac: string;
}

/** The peer a lease describes, or undefined for our own lease and leases of other backends or VNIs. */
export function peerOf(lease: SubnetLease, own: Cidr, vni: number): Peer | undefined {
  const vx = lease.attrs.vxlan;
  if (vx === undefined || vx.vni !== vni || lease.attrs.backendType !== 'vxlan') return undefined;
  if (lease.subnet.network === own.network && lease.subnet.prefix === own.prefix) return undefined;
  return { subnet: lease.subnet, publicIp: lease.attrs.publicIp, vtepMac: vx.vtepMac };
}

const subnetId = (s: Cidr) => formatCidr(s);

export interface VxlanPeersOptions {
  nl: Netlink;
  device: number;
  /** The overlay network (routes inside it are ours to reconcile) and our own lease. */
  network: Cidr;
  own: Cidr;
  /** DirectRouting: the underlay's connected prefixes (a peer inside one is on our link). */
  direct?: Cidr[] | undefined;
}

export class VxlanPeers {
  /** What we programmed, by subnet: the MAC an update must replace. */
  private readonly programmed = new Map<string, Peer>();

  constructor(private readonly o: VxlanPeersOptions) {}

  private isDirect(p: Peer): boolean {
    const ip = parseIpv4(p.publicIp);
    return ip !== undefined && (this.o.direct ?? []).some((c) => contains(c, ip));
  }

  /** Adds or updates one peer (idempotent: every request replaces). */
  async program(p: Peer): Promise<void> {
    const { nl, device } = this.o;
    const id = subnetId(p.subnet);
    const before = this.programmed.get(id);
    const gateway = formatIpv4(p.subnet.network);
    if (before !== undefined && before.vtepMac !== p.vtepMac) await nl.deleteFdb({ index: device, mac: before.vtepMac }, { missingOk: true });
    if (this.isDirect(p)) {
      await nl.addRoute({ dst: id, gateway: p.publicIp, mode: 'replace' });
    } else {
      await nl.addNeighbour({ index: device, address: gateway, mac: p.vtepMac, mode: 'replace' });
      try {
        await nl.addFdb({ index: device, mac: p.vtepMac, dst: p.publicIp, mode: 'replace' });
        await nl.addRoute({ dst: id, gateway, index: device, onlink: true, mode: 'replace' });
      } catch (err) {
        // Never half a peer: what was added goes again (flannel's rollback).
        await nl.deleteFdb({ index: device, mac: p.vtepMac }, { missingOk: true }).catch(() => false);
        await nl.deleteNeighbour({ index: device, address: gateway }, { missingOk: true }).catch(() => false);
        throw err;
      }
    }
    this.programmed.set(id, p);
  }

  /** Removes one peer's entries, in reverse order; already gone is fine. */
  async remove(p: Peer): Promise<void> {
    const { nl, device } = this.o;
    const id = subnetId(p.subnet);
    const known = this.programmed.get(id) ?? p;
    const gateway = formatIpv4(p.subnet.network);
    if (this.isDirect(known)) {
      await nl.deleteRoute({ dst: id, gateway: known.publicIp }, { missingOk: true });
    } else {
      await nl.deleteRoute({ dst: id, index: device }, { missingOk: true });
      await nl.deleteFdb({ index: device, mac: known.vtepMac }, { missingOk: true });
      await nl.deleteNeighbour({ index: device, address: gateway }, { missingOk: true });
    }
    this.programmed.delete(id);
  }

  /** Makes the kernel hold exactly `peers`: stale entries removed, every peer (re)programmed. */
  async reconcile(peers: readonly Peer[]): Promise<{ removed: number; programmed: number }> {
    const { nl, device } = this.o;
    const want = new Map(peers.map((p) => [subnetId(p.subnet), p]));
    const viaDevice = new Set(peers.filter((p) => !this.isDirect(p)).map((p) => p.vtepMac));
    const neighbours = new Set(peers.filter((p) => !this.isDirect(p)).map((p) => formatIpv4(p.subnet.network)));
    const [routes, neighs, fdb] = await Promise.all([nl.listRoutes(), nl.listNeighbours(device), nl.listFdb(device)]);
    const stale: Array<Promise<boolean>> = [];
    for (const r of routes.filter((r) => this.isOurs(r))) {
      const p = want.get(r.dst);
      const right = p !== undefined && (this.isDirect(p) ? r.gateway === p.publicIp && r.index !== device : r.index === device);
      if (!right) stale.push(nl.deleteRoute({ dst: r.dst, ...(r.gateway === undefined ? {} : { gateway: r.gateway }), ...(r.index === undefined ? {} : { index: r.index }) }, { missingOk: true }));
    }
    for (const f of fdb) {
      const p = peers.find((q) => q.vtepMac === f.mac);
      if (!viaDevice.has(f.mac) || p === undefined || f.dst !== p.publicIp) stale.push(nl.deleteFdb({ index: device, mac: f.mac }, { missingOk: true }));
    }
    for (const n of neighs) if (!neighbours.has(n.address)) stale.push(nl.deleteNeighbour({ index: device, address: n.address }, { missingOk: true }));
    const removed = (await Promise.all(stale)).filter(Boolean).length;
    for (const id of [...this.programmed.keys()]) if (!want.has(id)) this.programmed.delete(id);
    await Promise.all(peers.map((p) => this.program(p)));
    return { removed, programmed: peers.length };
  }

  /** A route of the overlay that only this daemon makes: inside the network, not our own subnet, not the kernel's. */
  private isOurs(r: RouteInfo): boolean {
    const dst = parseCidr(r.dst);
    if (dst === undefined || dst.prefix === 0) return false;
    const { network, own, device } = this.o;
    if (!contains(network, dst.network) || dst.prefix < network.prefix) return false;
    if (dst.network === own.network && dst.prefix === own.prefix) return false;
    return r.index === device || (r.protocol !== KERNEL_PROTOCOL && r.gateway !== undefined);
  }
}

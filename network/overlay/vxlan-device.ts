/**
 * The host's vxlan device, `skiff.<VNI>` (flannel's `flannel.<VNI>`; ../shared/reference/flannel.md
 * §2): nolearning (the daemon programs neighbours and the FDB itself), the underlay's MTU − 50,
 * a locally administered MAC that is published in the lease and kept across restarts, and, once
 * the lease is known, the subnet's network address as a /32 (no connected route) and up.
 *
 * An existing device is reused when it matches (VNI, port, source address, underlay), which is
 * what keeps the MAC when the daemon restarts; the caller passes the MAC it stored, so even a
 * device that was deleted (or a reboot) comes back with the MAC the lease already publishes.
 * A device that does not match is deleted and made again.
 */
import { contains, formatIpv4, parseIpv4, type Cidr } from '../ipv4.js';
import { randomMac } from '../netlink/inet.js';
import type { LinkInfo, Netlink } from '../netlink/index.js';

/** Inner Ethernet 14 + VXLAN 8 + UDP 8 + outer IPv4 20. */
export const VXLAN_OVERHEAD = 50;

export const vxlanDeviceName = (vni: number) => `skiff.${vni}`;

export interface VxlanDeviceSpec {
  vni: number;
  port: number;
  /** The host's public (underlay) address: the encapsulation's source. */
  publicIp: string;
  /** The underlay link's index and MTU. */
  underlay: { index: number; mtu: number };
  /** Backend.MTU of the config, when given: used instead of the underlay's. */
  mtu?: number | undefined;
  /** The MAC to keep (from the daemon's state); undefined: the existing device's, or a fresh one. */
  mac?: string | undefined;
}

function matches(link: LinkInfo, spec: VxlanDeviceSpec): boolean {
  const v = link.vxlan;
  return link.kind === 'vxlan' && v !== undefined && v.vni === spec.vni && v.port === spec.port && v.local === spec.publicIp &&
    v.underlay === spec.underlay.index && !v.learning;
}

/** Creates (or keeps) the device; resolves to its link with the MTU and MAC it will publish. */
export async function ensureVxlanDevice(nl: Netlink, spec: VxlanDeviceSpec): Promise<LinkInfo> {
  const name = vxlanDeviceName(spec.vni);
  const mtu = (spec.mtu ?? spec.underlay.mtu) - VXLAN_OVERHEAD;
  let link = await nl.findLink(name);
  // The MAC is what peers know us by: a device made again keeps it. A new one gets ours, never the
  // kernel's random one: systemd-udevd (MACAddressPolicy=persistent) replaces a random MAC of a
  // new device, after we read and published it (a VM pair caught it: peers' FDB on a dead MAC).
  const mac = spec.mac ?? link?.mac ?? randomMac();
  if (link !== undefined && !matches(link, spec)) {
    await nl.deleteLink(link.index, { missingOk: true });
    link = undefined;
  }
  if (link === undefined) {
    link = await nl.createVxlan(name, { vni: spec.vni, port: spec.port, local: spec.publicIp, underlay: spec.underlay.index, learning: false }, {
      mtu,
      ...(mac === undefined ? {} : { mac }),
    });
  } else {
    if (link.mtu !== mtu) await nl.setLinkMtu(link.index, mtu);
    if (mac !== undefined && link.mac !== mac) await nl.setLinkMac(link.index, mac);
  }
  return nl.getLink(link.index);
}

/**
 * The lease's network address as the device's one /32 (other addresses inside the overlay network,
 * an old lease's, go: flannel's EnsureV4AddressOnLink), then up.
 */
export async function configureVxlanDevice(nl: Netlink, index: number, lease: Cidr, network: Cidr): Promise<void> {
  const address = formatIpv4(lease.network);
  const inNetwork = (a: string) => {
    const n = parseIpv4(a);
    return n !== undefined && contains(network, n);
  };
  const present = await nl.listAddresses(index);
  await Promise.all(present.filter((a) => inNetwork(a.address) && !(a.address === address && a.prefixLength === 32)).map((a) => nl.deleteAddress(a, { missingOk: true })));
  if (!present.some((a) => a.address === address && a.prefixLength === 32)) await nl.addAddress({ index, address, prefixLength: 32, mode: 'replace' });
  await nl.setLinkUp(index, true);
}

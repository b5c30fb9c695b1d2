/**
 * The underlay: the link the vxlan device sends through and the address the host publishes in its
 * lease (flannel's --iface / --public-ip). `--iface` is a link name or one of the host's
 * addresses; without it, the link of the default route, as flannel does.
 */
import { NetworkError, UsageError } from '../../runtime/errors.js';
import { parseCidr, parseIpv4, type Cidr } from '../ipv4.js';
import type { Netlink } from '../netlink/index.js';

export interface Underlay {
  index: number;
  name: string;
  mtu: number;
  /** The address published as PublicIP. */
  publicIp: string;
  /** The link's connected prefixes (DirectRouting: a peer inside one is on our link). */
  connected: Cidr[];
}

export async function findUnderlay(nl: Netlink, iface: string | undefined, publicIp: string | undefined): Promise<Underlay> {
  if (publicIp !== undefined && parseIpv4(publicIp) === undefined) throw new UsageError(`--public-ip ${JSON.stringify(publicIp)} is not an IPv4 address`, { input: publicIp });
  const addresses = await nl.listAddresses();
  let index: number | undefined;
  if (iface !== undefined) {
    index = parseIpv4(iface) !== undefined ? addresses.find((a) => a.address === iface)?.index : (await nl.findLink(iface))?.index;
    if (index === undefined) throw new UsageError(`--iface ${iface}: no such link or address on this host`, { input: iface, hint: "give a link name or one of the host's IPv4 addresses" });
  } else {
    const route = (await nl.listRoutes()).find((r) => r.dst === '0.0.0.0/0' && r.index !== undefined);
    index = route?.index;
    if (index === undefined) throw new NetworkError('no default route to pick the underlay link from', { hint: 'give --iface NAME|ADDRESS' });
  }
  const link = await nl.getLink(index);
  const own = addresses.filter((a) => a.index === index);
  const chosen = iface !== undefined && parseIpv4(iface) !== undefined ? iface : own[0]?.address;
  if (chosen === undefined) throw new NetworkError(`the underlay link ${link.name} has no IPv4 address`, { input: link.name, hint: 'give --iface an addressed link, or --public-ip' });
  const connected = own.map((a) => parseCidr(`${a.address}/${a.prefixLength}`, true)).filter((c): c is Cidr => c !== undefined);
  return { index, name: link.name, mtu: link.mtu, publicIp: publicIp ?? chosen, connected };
}

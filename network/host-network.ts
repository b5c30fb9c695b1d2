/**
 * The host-wide half of a pod network, done by stage0 (the CLI) before stage1 attaches the pod:
 * the same for every pod of a network, so it is made once and only checked afterwards.
 *
 *   1. the network's subnet must not overlap a route of the host's other than its own bridge's
 *      (a pod address that shadows a real network would cut the host off from it);
 *   2. the bridge: created if missing (a link of that name that is no bridge is an error), the
 *      network's MTU, the gateway address (isGateway), up;
 *   3. forwarding (net.ipv4.ip_forward = 1) when a network routes beyond its bridge;
 *   4. masquerade (nat-rules.ts) for networks with ipMasq;
 *   5. for a pod that forwards host ports, the port-forward chains and route_localnet on the
 *      bridge of its first network (port-forward-host.ts).
 *
 * All in the caller's network namespace. What it made is returned for the run plan, so a
 * replayed run can check that it is still there (the bridge, the sysctl) and else fall back to
 * the CLI, which makes it again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { NetworkError } from '../runtime/errors.js';
import { contains, formatCidr, formatIpv4, overlaps, parseCidr, parseIpv4 } from './ipv4.js';
import type { Netlink } from './netlink/index.js';
import { IP_FORWARD, type HostNetworkState } from './host-network-state.js';
import { ensureMasquerade } from './nat-rules.js';
import type { JoinedNetwork } from './pod-networks.js';


async function ensureBridge(nl: Netlink, n: JoinedNetwork): Promise<number> {
  const d = n.def;
  let link = await nl.findLink(d.bridge);
  if (link === undefined) {
    try {
      link = await nl.createBridge(d.bridge, { mtu: d.mtu, mode: 'exclusive' });
    } catch (err) {
      // Another run made it between our look and our create: take theirs.
      link = await nl.findLink(d.bridge);
      if (link === undefined) throw err;
    }
  }
  if (link.kind !== 'bridge') {
    throw new NetworkError(`network ${d.name}: ${d.bridge} exists and is not a bridge (${link.kind ?? 'a device'})`, {
      input: d.bridge, hint: `rename that link or set another "bridge" in ${d.source}`,
    });
  }
  if (d.isGateway) {
    const have = await nl.listAddresses(link.index);
    const gateway = formatIpv4(d.gateway);
    if (!have.some((a) => a.address === gateway)) {
      await nl.addAddress({ index: link.index, address: gateway, prefixLength: d.subnet.prefix, mode: 'create' }).catch(async (err: unknown) => {
        const again = await nl.listAddresses(link!.index);
        if (!again.some((a) => a.address === gateway)) throw err;
      });
    }
  }
  if (d.overlay !== undefined) await dropOldLeaseAddresses(nl, link.index, n);
  if (!link.up) await nl.setLinkUp(link.index, true);
  return link.index;
}

/**
 * An overlay bridge keeps only the current lease's gateway: an address of an earlier lease (the
 * daemon got another subnet) would keep routing that subnet here (flannel #1850: "cni0 already
 * has an IP address different from ...", which users fix by deleting the bridge).
 */
async function dropOldLeaseAddresses(nl: Netlink, index: number, n: JoinedNetwork): Promise<void> {
  const { overlay, gateway, subnet } = n.def;
  const old = (await nl.listAddresses(index)).filter((a) => {
    const addr = parseIpv4(a.address);
    return addr !== undefined && overlay !== undefined && contains(overlay.network, addr) && !(addr === gateway && a.prefixLength === subnet.prefix);
  });
  await Promise.all(old.map((a) => nl.deleteAddress(a, { missingOk: true })));
}

/** The daemon gives its vxlan device the lease's network address (a /32): without it, the lease is not this host's data path. */
async function checkOverlayDevice(nl: Netlink, n: JoinedNetwork): Promise<void> {
  const want = formatIpv4(n.def.subnet.network);
  if ((await nl.listAddresses()).some((a) => a.address === want && a.prefixLength === 32)) return;
  throw new NetworkError(`network ${n.def.name}: no vxlan device holds ${want}/32, the lease in ${n.def.overlay?.subnetFile}: is \`skiff net daemon\` running on this host?`, {
    input: n.def.overlay?.subnetFile, hint: 'start skiff net daemon (it writes the subnet file and programs the device), or use another --net',
  });
}

/** Routes of the host that a network's subnet must not shadow: every one but the default and those on its own bridge. */
async function checkOverlap(nl: Netlink, n: JoinedNetwork, bridgeIndex: number | undefined): Promise<void> {
  for (const route of await nl.listRoutes()) {
    const dst = parseCidr(route.dst, true);
    if (dst === undefined || dst.prefix === 0 || route.index === bridgeIndex) continue;
    if (overlaps(dst, n.def.subnet)) {
      throw new NetworkError(`network ${n.def.name}: its subnet ${formatCidr(n.def.subnet)} overlaps the host's route to ${route.dst}`, {
        input: n.def.source, hint: `give the network another ipam.subnet in ${n.def.source === 'built-in' ? 'net.d/' + n.def.name + '.conf under --local-config' : n.def.source}`,
      });
    }
  }
}

function ensureSysctl(path: string, value: string): void {
  if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
}

export async function ensureHostNetworks(nl: Netlink, nets: JoinedNetwork[], options: { ports?: boolean } = {}): Promise<HostNetworkState> {
  const state: HostNetworkState = { bridges: [], sysctls: [] };
  for (const n of nets) {
    const existing = await nl.findLink(n.def.bridge);
    if (n.def.overlay !== undefined) await checkOverlayDevice(nl, n);
    await checkOverlap(nl, n, existing?.index);
    await ensureBridge(nl, n);
    if (!state.bridges.includes(n.def.bridge)) state.bridges.push(n.def.bridge);
    if (n.def.ipMasq) await ensureMasquerade(n.def.name, formatCidr(n.def.subnet), formatCidr(n.def.masqExempt ?? n.def.subnet));
  }
  const ports = options.ports === true ? nets[0] : undefined;
  if (nets.some((n) => n.def.defaultRoute || n.def.ipMasq) || ports !== undefined) {
    ensureSysctl(IP_FORWARD, '1');
    state.sysctls.push([IP_FORWARD, '1']);
  }
  if (ports !== undefined) {
    const { ensurePortForwarding } = await import('./port-forward-host.js');
    state.sysctls.push(...(await ensurePortForwarding(ports.def.name, ports.def.bridge, formatCidr(ports.def.subnet))));
  }
  return state;
}

/**
 * What `--net` asks for (rkt's syntax) and what it becomes for stage1.
 *
 *   --net=none                 a netns of its own, loopback only
 *   --net=host                 the host's netns
 *   --net=default              (the default) the built-in bridged, NATed network
 *   --net=a,b                  several networks, each at most once: eth0, eth1, ... in that order
 *   --net=name:IP=198.18.0.9   an address asked for on that network
 *
 * Each joined network becomes one stage1 `net` value (native/stage1-protocol.md); stage1 takes
 * the address and wires the veth, on the CLI path and on a replayed run alike.
 */
import { UsageError } from '../runtime/errors.js';
import { broadcastOf, contains, formatCidr, formatIpv4, parseIpv4 } from './ipv4.js';
import type { NetworkDef } from './network-config.js';

export type NetRequest =
  | { mode: 'none' }
  | { mode: 'host' }
  | { mode: 'networks'; networks: Array<{ name: string; ip?: string }> };

export const DEFAULT_NET = 'default';

export function parseNetArg(value: string): NetRequest {
  if (value === 'none' || value === 'host') return { mode: value };
  const networks: Array<{ name: string; ip?: string }> = [];
  for (const item of value.split(',')) {
    const [name = '', ...args] = item.split(':');
    if (name === '' || name === 'none' || name === 'host') {
      throw new UsageError(`--net: "${value}" mixes none or host with networks, or has an empty name`, { input: value, hint: 'give none, host, or a comma list of network names' });
    }
    if (networks.some((n) => n.name === name)) throw new UsageError(`--net: network "${name}" is given twice`, { input: value });
    const net: { name: string; ip?: string } = { name };
    for (const arg of args.join(':').split(';').filter((a) => a !== '')) {
      const m = /^IP=(.*)$/.exec(arg);
      if (m === null) throw new UsageError(`--net: "${arg}" is not IP=ADDRESS (the only argument a network takes)`, { input: value });
      if (parseIpv4(m[1]!) === undefined) throw new UsageError(`--net: "${m[1]}" is not an IPv4 address`, { input: value });
      net.ip = m[1]!;
    }
    networks.push(net);
  }
  return { mode: 'networks', networks };
}

export interface JoinedNetwork {
  def: NetworkDef;
  ifName: string;
  ip: string | undefined;
}

/**
 * The networks a request names, checked against what is defined; errors are usage errors naming the value.
 * Names in `cni` are CNI networks (network/cni/cni-pod-networks.ts): passed over here, but they
 * keep their place in the eth0, eth1, ... order.
 */
export function resolveNetworks(request: NetRequest, defs: Map<string, NetworkDef>, cni: ReadonlySet<string> = new Set()): JoinedNetwork[] {
  if (request.mode !== 'networks') return [];
  return request.networks.flatMap(({ name, ip }, i) => {
    if (cni.has(name)) return [];
    const def = defs.get(name);
    if (def === undefined) {
      throw new UsageError(`--net: no network named "${name}"`, { input: name, hint: `define it in net.d/ under --local-config, or use one of: none, host, ${[...defs.keys(), ...cni].join(', ')}` });
    }
    if (ip !== undefined) {
      const a = parseIpv4(ip)!;
      if (!contains(def.subnet, a) || a === def.subnet.network || a === broadcastOf(def.subnet) || a === def.gateway) {
        throw new UsageError(`--net: ${ip} is not a free host address of network ${name} (${formatCidr(def.subnet)}, gateway ${formatIpv4(def.gateway)})`, { input: ip });
      }
    }
    return [{ def, ifName: `eth${i}`, ip }];
  });
}

/** stage1's `net` value: NAME IFNAME BRIDGE MTU IPAM_DIR SUBNET RANGE GATEWAY ROUTE ADDRESS. */
export function stage1NetValue(n: JoinedNetwork): string {
  const d = n.def;
  return [
    d.name, n.ifName, d.bridge, String(d.mtu), d.dataDir, formatCidr(d.subnet),
    `${formatIpv4(d.rangeStart)}-${formatIpv4(d.rangeEnd)}`, formatIpv4(d.gateway), d.defaultRoute ? 'default' : 'none', n.ip ?? '',
  ].join('\t');
}

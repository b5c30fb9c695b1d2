/**
 * A pod's networks, from its manifest's `net` (rkt's --net syntax) and the network definitions
 * under --local-config, to what stage1 gets (`net` values) and what a run plan must check
 * (the definitions' file stamps; the host set-up's bridges and sysctls).
 *
 * `none` and `host` load nothing of network/: most runs pay no start-up for networks they do not
 * join.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileStamp } from '../file-stamp.js';
import type { HostNetworkState } from '../../network/host-network-state.js';
import type { JoinedNetwork } from '../../network/pod-networks.js';

export interface PodNetworks {
  joined: JoinedNetwork[];
  /** One stage1 `net` value per joined network. */
  values: string[];
  /** [path, stamp or '-' when absent]: the definitions the values came from, for a run plan. */
  stamps: Array<[string, string]>;
}

export const NO_NETWORKS: PodNetworks = { joined: [], values: [], stamps: [] };

/** The net.d dir and each *.conf in it, stamped: a replayed run of a changed definition must go to the CLI. */
function definitionStamps(localConfig: string): Array<[string, string]> {
  const dir = join(localConfig, 'net.d');
  const stamps: Array<[string, string]> = [[dir, fileStamp(dir) ?? '-']];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.conf')).sort();
  } catch {
    // No net.d: the built-ins only, and the '-' stamp says so.
  }
  for (const f of files) stamps.push([join(dir, f), fileStamp(join(dir, f)) ?? '-']);
  return stamps;
}

export async function resolvePodNetworks(net: string, localConfig: string): Promise<PodNetworks> {
  if (net === 'none' || net === 'host') return NO_NETWORKS;
  const [{ loadNetworks }, { parseNetArg, resolveNetworks, stage1NetValue }] = await Promise.all([
    import('../../network/network-config.js'),
    import('../../network/pod-networks.js'),
  ]);
  const stamps = definitionStamps(localConfig);
  const joined = resolveNetworks(parseNetArg(net), loadNetworks(localConfig));
  return { joined, values: joined.map(stage1NetValue), stamps };
}

/** The host-wide set-up (bridges, forwarding, NAT; the port-forward chains with `ports`) for the pod's networks, in the caller's netns. */
export async function setUpHostNetworks(networks: PodNetworks, options: { ports?: boolean } = {}): Promise<HostNetworkState> {
  if (networks.joined.length === 0) return { bridges: [], sysctls: [] };
  const [{ openNetlink }, { ensureHostNetworks }] = await Promise.all([import('../../network/netlink/index.js'), import('../../network/host-network.js')]);
  const nl = await openNetlink();
  try {
    return await ensureHostNetworks(nl, networks.joined, options);
  } finally {
    nl.close();
  }
}

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
import type { JoinedNetwork, NetRequest } from '../../network/pod-networks.js';
import type { NetworkDef } from '../../network/network-config.js';
import { NetworkError } from '../errors.js';
import type { HostHooks, JoinedCniNetwork } from '../../network/cni/cni-pod-networks.js';

export interface PodNetworks {
  joined: JoinedNetwork[];
  /** One stage1 `net` value per joined network. */
  values: string[];
  /** [path, stamp or '-' when absent]: the definitions the values came from, for a run plan. */
  stamps: Array<[string, string]>;
  /** The CNI networks joined (network/cni/), made by stage1 host hooks. */
  cni: JoinedCniNetwork[];
  hooks: HostHooks;
}

export const NO_NETWORKS: PodNetworks = { joined: [], values: [], stamps: [], cni: [], hooks: { up: [], down: [] } };

/** The net.d dir and each *.conf and *.conflist in it, stamped: a replayed run of a changed definition must go to the CLI. */
function definitionStamps(localConfig: string): Array<[string, string]> {
  const dir = join(localConfig, 'net.d');
  const stamps: Array<[string, string]> = [[dir, fileStamp(dir) ?? '-']];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.conf') || f.endsWith('.conflist')).sort();
  } catch {
    // No net.d: the built-ins only, and the '-' stamp says so.
  }
  for (const f of files) stamps.push([join(dir, f), fileStamp(join(dir, f)) ?? '-']);
  return stamps;
}

/** The CNI plugin dirs and the plugins found in them, stamped: a plugin added, moved or replaced sends a replay to the CLI. */
function pluginStamps(cniPath: readonly string[], cni: readonly JoinedCniNetwork[]): Array<[string, string]> {
  const paths = [...cniPath, ...new Set(cni.flatMap((n) => n.plugins))];
  return paths.map((p): [string, string] => [p, fileStamp(p) ?? '-']);
}

export async function resolvePodNetworks(net: string, localConfig: string): Promise<PodNetworks> {
  if (net === 'none' || net === 'host') return NO_NETWORKS;
  const [{ loadNetworks }, { parseNetArg, resolveNetworks, stage1NetValue }, { loadCniNetworks }, { resolveCniNetworks, cniHostHooks }, { cniPathFromEnv }] = await Promise.all([
    import('../../network/network-config.js'),
    import('../../network/pod-networks.js'),
    import('../../network/cni/cni-config.js'),
    import('../../network/cni/cni-pod-networks.js'),
    import('../../network/cni/cni-plugin-dirs.js'),
  ]);
  const stamps = definitionStamps(localConfig);
  const request = parseNetArg(net);
  const bridges = loadNetworks(localConfig);
  stamps.push(...(await joinOverlays(request, bridges, localConfig)));
  const cniNets = loadCniNetworks(join(localConfig, 'net.d'));
  const joined = resolveNetworks(request, bridges, new Set(cniNets.keys()));
  // SKIFF_CNI_PATH is read only by runs that join a CNI network: a bad value never stops the others.
  const wantsCni = request.mode === 'networks' && request.networks.some((n) => cniNets.has(n.name));
  const cniPath = wantsCni ? cniPathFromEnv() : [];
  const cni = resolveCniNetworks(request, cniNets, bridges, cniPath);
  if (cni.length > 0) stamps.push(...pluginStamps(cniPath, cni));
  return { joined, values: joined.map(stage1NetValue), stamps, cni, hooks: cniHostHooks(cni, cniPath) };
}

/**
 * The overlay networks the request joins, added to `bridges` as the bridge networks they are on
 * this host (overlay-network.ts reads their subnet.env now, and only theirs); their subnet files'
 * stamps, for the run plan. A net.d bridge file of the same name wins over the built-in overlay.
 */
async function joinOverlays(request: NetRequest, bridges: Map<string, NetworkDef>, localConfig: string): Promise<Array<[string, string]>> {
  if (request.mode !== 'networks') return [];
  const { loadOverlayNetworks, overlayNetworkDef } = await import('../../network/overlay-network.js');
  const overlays = loadOverlayNetworks(localConfig);
  const stamps: Array<[string, string]> = [];
  for (const { name } of request.networks) {
    const spec = overlays.get(name);
    if (spec === undefined || (bridges.has(name) && spec.source === 'built-in')) continue;
    if (bridges.has(name)) {
      throw new NetworkError(`network ${name} is defined by ${bridges.get(name)!.source} and by ${spec.source}`, { input: name, hint: 'remove or rename one of them' });
    }
    stamps.push([spec.subnetFile, fileStamp(spec.subnetFile) ?? '-']);
    bridges.set(name, overlayNetworkDef(spec));
  }
  return stamps;
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

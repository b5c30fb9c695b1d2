/**
 * A pod's CNI networks: which names of `--net` are CNI networks (net.d `.conflist`s and `.conf`s
 * of a type Skiff does not wire itself), each with its interface name in the pod's eth0, eth1, ...
 * order (shared with the built-in bridge networks) and its plugin binaries (looked up now: a
 * missing plugin fails the run before any pod dir exists).
 *
 * stage0 is gone once stage1 runs, so the attachments are made by stage1's host hooks
 * (native/stage1-protocol.md, "Host hooks"): per network a `host-up` that runs
 * `skiff net cni add` (ADD, on the host side, after the built-in networks are attached and
 * before any app starts) and a `host-down` running `skiff net cni del` at teardown (and by `gc`
 * after a kill -9). Per-pod values reach them only through the hook placeholders, so a recorded
 * run plan replays them as they are.
 */
import { cliEntry } from '../../runtime/install-paths.js';
import { NetworkError } from '../../runtime/errors.js';
import type { NetworkDef } from '../network-config.js';
import type { NetRequest } from '../pod-networks.js';
import type { CniNetwork } from './cni-config.js';
import { requirePlugins } from './cni-plugin-dirs.js';

export interface JoinedCniNetwork {
  net: CniNetwork;
  ifName: string;
  /** An address asked for (`--net=NAME:IP=...`): passed as CNI_ARGS IP= (host-local honours it), as rkt did. */
  ip: string | undefined;
  /** The chain's plugin binaries, in order. */
  plugins: string[];
}

/**
 * The request's CNI networks. A CNI network named like a built-in replaces it (as a bridge file
 * does); a name defined by both a bridge `.conf` and a CNI file is an error naming both.
 */
export function resolveCniNetworks(request: NetRequest, cni: ReadonlyMap<string, CniNetwork>, bridges: ReadonlyMap<string, NetworkDef>, cniPath: readonly string[]): JoinedCniNetwork[] {
  for (const net of cni.values()) {
    const other = bridges.get(net.name);
    if (other !== undefined && other.source !== 'built-in') {
      throw new NetworkError(`network config ${net.source}: name "${net.name}" is defined by ${other.source} too`, { input: net.source, hint: 'give each network its own name' });
    }
  }
  if (request.mode !== 'networks') return [];
  return request.networks.flatMap(({ name, ip }, i) => {
    const net = cni.get(name);
    if (net === undefined) return [];
    return [{ net, ifName: `eth${i}`, ip, plugins: requirePlugins(net, cniPath) }];
  });
}

/**
 * The network as a hook argument: JSON, with any `{` that could read as a hook placeholder
 * (`{netns}`, `{uuid}`, `{pod-dir}`, `{ip:`) written as its JSON escape. A structural brace is
 * followed by `"` or `}`, so only braces inside strings are touched, and the JSON means the same.
 */
export function networkArg(net: CniNetwork): string {
  return JSON.stringify(net).replace(/\{(?=netns\}|uuid\}|pod-dir\}|ip:)/g, '\\u007b');
}

/** `skiff net cni add|del` for one network, as a hook's argv. */
export function cniHookArgv(op: 'add' | 'del', n: JoinedCniNetwork, cniPath: readonly string[]): string[] {
  return [
    process.execPath, cliEntry(), 'net', 'cni', op,
    '--pod-dir', '{pod-dir}', '--uuid', '{uuid}', '--netns', '{netns}', '--ifname', n.ifName,
    '--cni-path', cniPath.join(':'), ...(n.ip === undefined ? [] : ['--ip', n.ip]), '--network', networkArg(n.net),
  ];
}

export interface HostHooks {
  /** stage1 `host-up` values (tab-separated argv), run in order. */
  up: string[];
  /** stage1 `host-down` values, run last first: the networks are undone in reverse. */
  down: string[];
  /** The pod joins a CNI network: its ADD hook may write a resolv.conf (cni-resolv-conf.ts). */
  cni?: boolean;
  /** A CNI network is the pod's first (eth0): its address names the pod in /etc/hosts (cni-resolv-conf.ts). */
  eth0?: boolean;
}

export function cniHostHooks(joined: readonly JoinedCniNetwork[], cniPath: readonly string[]): HostHooks {
  const value = (argv: string[]) => {
    const tabbed = argv.find((a) => /[\t\n\0]/.test(a));
    if (tabbed !== undefined) throw new NetworkError(`cannot pass "${tabbed}" to a stage1 host hook (it holds a tab, newline or NUL)`, { input: tabbed });
    return argv.join('\t');
  };
  return {
    up: joined.map((n) => value(cniHookArgv('add', n, cniPath))),
    down: joined.map((n) => value(cniHookArgv('del', n, cniPath))),
    ...(joined.length > 0 ? { cni: true } : {}),
    ...(joined.some((n) => n.ifName === 'eth0') ? { eth0: true } : {}),
  };
}

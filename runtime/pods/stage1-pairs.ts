/**
 * What stage0 tells stage1 about a pod (native/stage1-protocol.md), built
 * from the pod manifest, its runtime settings and its cgroup.
 */
import { join } from 'node:path';
import { DEFAULT_DEVICE_RULES } from '../cgroups/devices.js';
import type { PodCgroupDirs } from './pod-cgroup.js';
import { POD_FILES } from './pod-dirs.js';
import { rootfsCopyDir, type PodManifest } from './pod-manifest.js';
import type { Stage1Pairs } from './stage1-config.js';
import { hostResolvConf } from './host-resolv-conf.js';
import { CNI_ETH0_ADDRESS, CNI_RESOLV_CONF } from '../../network/cni/cni-resolv-conf.js';
import { UsageError } from '../errors.js';
import { iptablesPath, portForwardPairs, portsDir } from '../../network/port-forward.js';
import { privateUsersValue } from './private-users.js';

/** Docker's masked and read-only /proc and /sys paths. */
export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const STOP_TIMEOUT_SECONDS = 10;

export function defaultHostname(uuid: string): string {
  return `skiff-${uuid.slice(0, 8)}`;
}

/** An overlay of `layers` (bottom to top; overlayfs wants the top first) with its upper and work dirs. */
function rootfsPairs(layers: string[], overlayDir: string): Stage1Pairs {
  return [
    ...[...layers].reverse().map((layer): [string, string] => ['rootfs-lower', layer]),
    ['rootfs-upper', join(overlayDir, 'upper')],
    ['rootfs-work', join(overlayDir, 'work')],
  ];
}

/** The pod's root, or app `app`'s: its rendered copy (`--no-overlay`), or an overlay of its layers. */
function rootPairs(podDir: string, manifest: PodManifest, layers: string[], app?: string): Stage1Pairs {
  if (manifest.noOverlay) return [['rootfs-dir', rootfsCopyDir(podDir, app)]];
  return rootfsPairs(layers, app === undefined ? join(podDir, POD_FILES.overlay) : join(podDir, POD_FILES.overlay, app));
}

/**
 * The pod's resolver setting (`--dns*`) as stage1's `dns*` or `resolv-conf` pairs; without a
 * --dns* flag and with CNI networks, `dns-from` the file their ADD hook writes from a result's DNS
 * (rkt's precedence: flags, then CNI, then the image's own file).
 */
function resolverPairs(rt: PodManifest['runtime'], podDir: string, cni: boolean): Stage1Pairs {
  if (rt.dns.includes('none')) return [];
  if (rt.dns.includes('host')) return [['resolv-conf', hostResolvConf().path]];
  const pairs: Stage1Pairs = [
    ...rt.dns.map((ip): [string, string] => ['dns', ip]),
    // Manifests written before these fields existed have none of them.
    ...(rt.dnsSearch ?? []).map((d): [string, string] => ['dns-search', d]),
    ...(rt.dnsOpts ?? []).map((o): [string, string] => ['dns-opt', o]),
    ...(rt.dnsDomain === undefined ? [] : [['dns-domain', rt.dnsDomain] as [string, string]]),
  ];
  if (pairs.length === 0 && cni) pairs.push(['dns-from', join(podDir, CNI_RESOLV_CONF)]);
  return pairs;
}

/** stage1 `host-up` and `host-down` values (tab-separated argv), e.g. of CNI networks (network/cni/cni-pod-networks.ts). */
export interface Stage1HostHooks {
  up: readonly string[];
  down: readonly string[];
  /** The pod joins a CNI network, whose ADD hook may write a resolv.conf from its result. */
  cni?: boolean;
  /** eth0 is a CNI network: its address (written by the ADD hook) names the pod in /etc/hosts. */
  eth0?: boolean;
}

/** `--port`: claims and DNAT hooks to the pod's address on its first network (network/port-forward.ts). */
function portPairs(manifest: PodManifest, nets: readonly string[]): Stage1Pairs {
  const ports = manifest.runtime.ports ?? [];
  if (ports.length === 0) return [];
  const first = nets[0]?.split('\t')[0];
  if (first === undefined) {
    throw new UsageError(`the pod forwards host ports, so it needs a pod network, not --net=${manifest.runtime.net}`, {
      input: manifest.runtime.net, hint: 'give a network (--net=default) or run a pod without --port',
    });
  }
  return portForwardPairs(ports, first, { iptables: iptablesPath(), portsDir: portsDir() });
}

/** `nets`: one stage1 `net` value per network the pod joins (pod-network.ts); `hooks`: the host hooks its networks need. */
export function stage1Pairs(podDir: string, manifest: PodManifest, lockFd: number, cgroup: PodCgroupDirs, nets: readonly string[] = [], hooks: Stage1HostHooks = { up: [], down: [] }): Stage1Pairs {
  const rt = manifest.runtime;
  const pairs: Stage1Pairs = [
    ['version', '1'],
    ['uuid', manifest.uuid],
    ['pod-dir', podDir],
    ['lock-fd', String(lockFd)],
    ['hostname', rt.hostname ?? defaultHostname(manifest.uuid)],
  ];
  if (manifest.layers !== undefined) pairs.push(...rootPairs(podDir, manifest, manifest.layers));
  pairs.push(['rootfs-target', join(podDir, POD_FILES.rootfs)]);
  pairs.push(['netns', rt.net === 'host' ? 'host' : 'new']);
  if (manifest.privateUsers !== undefined) pairs.push(['private-users', privateUsersValue(manifest.privateUsers)]);
  for (const net of nets) pairs.push(['net', net]);
  for (const up of hooks.up) pairs.push(['host-up', up]);
  if (hooks.eth0 === true) pairs.push(['address-from', join(podDir, CNI_ETH0_ADDRESS)]);
  for (const down of hooks.down) pairs.push(['host-down', down]);
  for (const dir of cgroup.join) pairs.push(['cgroup', dir]);
  for (const dir of cgroup.cleanup) pairs.push(['cgroup-cleanup', dir]);
  pairs.push(...resolverPairs(rt, podDir, hooks.cni === true));
  for (const entry of rt.hostsEntries) pairs.push(['hosts-entry', entry]);
  for (const v of manifest.volumes) {
    // An empty volume lives in the pod dir, which moved (prepare → run) since the manifest was written.
    const source = v.kind === 'empty' ? join(podDir, POD_FILES.volumes, v.name) : v.source;
    pairs.push(['volume', [v.name, v.kind, source, v.readOnly ? '1' : '0'].join('\t')]);
  }
  for (const rule of DEFAULT_DEVICE_RULES) pairs.push(['device-allow', rule]);
  if (rt.insecurePaths !== true) {
    for (const path of MASKED_PATHS) pairs.push(['mask-path', path]);
    for (const path of READONLY_PATHS) pairs.push(['readonly-path', path]);
  }
  pairs.push(['stop-timeout', String(STOP_TIMEOUT_SECONDS)]);
  if (rt.sdNotify === 'app') pairs.push(['sd-notify', 'app']);
  pairs.push(...portPairs(manifest, nets));
  for (const app of manifest.apps) {
    pairs.push(['app', app.name]);
    if (manifest.layers === undefined) pairs.push(...rootPairs(podDir, manifest, app.layers, app.name));
    pairs.push(['exec', app.exec[0] as string]);
    for (const arg of app.exec.slice(1)) pairs.push(['arg', arg]);
    for (const env of app.env) pairs.push(['env', env]);
    pairs.push(['working-dir', app.workingDir], ['uid', String(app.uid)], ['gid', String(app.gid)]);
    for (const gid of app.supplementaryGids) pairs.push(['supplementary-gid', String(gid)]);
    pairs.push(['caps', app.caps.join(',')]);
    if (app.uid !== 0 && (app.ambientCaps ?? []).length > 0) pairs.push(['ambient-caps', app.ambientCaps!.join(',')]);
    pairs.push(['no-new-privs', app.noNewPrivs ? '1' : '0']);
    if (app.seccomp !== undefined) pairs.push(['seccomp', app.seccomp]);
    for (const m of app.mounts) pairs.push(['mount', `${m.volume}\t${m.target}`]);
    if (app.readonlyRootfs) pairs.push(['readonly-rootfs', '1']);
    if (rt.interactive) pairs.push(['interactive', '1']);
  }
  return pairs;
}

/**
 * Hosts for the overlay's end-to-end tests and bench: network namespaces on one underlay
 * (198.19.0.0/24), each with its own `skiff net daemon`. A "switch" netns holds a bridge with a
 * veth per host and the underlay's 198.19.0.254 (the hosts' default gateway, so a daemon finds its
 * link the way it would on a real host; etcd listens there when a test has one). Host i is
 * 198.19.0.i on its `under0`. Everything goes with the netns at teardown; daemons are stopped by
 * PID (managed-process.ts).
 *
 * The daemons log one line per change to stderr; tests wait for those lines (bounded), or poll the
 * kernel (bounded) when what matters is the kernel state.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tryFlock } from '../../native/bindings/flock.js';
import { join } from 'node:path';
import { formatIpv4, parseCidr, type Cidr } from '../../network/ipv4.js';
import { openKvStore, type KvStore } from '../../network/kv/index.js';
import { parseSubnetEnv } from '../../network/overlay/subnet-env.js';
import type { EtcdServer } from './etcd-server.js';
import { ManagedProcess, scrubbedEnv } from './managed-process.js';
import { testNetns, type Netns } from './netns.js';
import { runSkiff, skiffBin, type SkiffResult } from './skiff-cli.js';
import type { Teardown } from './temp-dir.js';

export const UNDERLAY_GATEWAY = '198.19.0.254';
export const OVERLAY_CONFIG = { Network: '198.18.0.0/16', Backend: { Type: 'vxlan' } };
const WAIT_MS = 30_000;

export interface OverlayHost {
  name: string;
  ns: Netns;
  /** 198.19.0.i: the underlay address the host publishes. */
  publicIp: string;
  /** Where its daemon writes subnet.env. */
  subnetFile: string;
}

export interface Underlay {
  switchNs: Netns;
  hosts: OverlayHost[];
  /** One more host on the same underlay. */
  addHost(): Promise<OverlayHost>;
}

async function ip(ns: Netns, args: string[]): Promise<string> {
  const r = await ns.run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} in ${ns.name}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `count` hosts on a switched underlay; `dir` holds their subnet files. */
export async function makeUnderlay(t: Teardown, dir: string, count: number): Promise<Underlay> {
  const switchNs = await testNetns(t, 'skovs');
  await ip(switchNs, ['link', 'add', 'sw0', 'type', 'bridge']);
  await ip(switchNs, ['addr', 'add', `${UNDERLAY_GATEWAY}/24`, 'dev', 'sw0']);
  await ip(switchNs, ['link', 'set', 'sw0', 'up']);
  const hosts: OverlayHost[] = [];
  const addHost = async (): Promise<OverlayHost> => {
    const i = hosts.length + 1;
    const ns = await testNetns(t, 'skovh');
    await ip(ns, ['link', 'add', 'under0', 'type', 'veth', 'peer', 'name', `swp${i}`, 'netns', switchNs.name]);
    await ip(switchNs, ['link', 'set', `swp${i}`, 'master', 'sw0', 'up']);
    const publicIp = `198.19.0.${i}`;
    await ip(ns, ['addr', 'add', `${publicIp}/24`, 'dev', 'under0']);
    await ip(ns, ['link', 'set', 'under0', 'up']);
    await ip(ns, ['route', 'add', 'default', 'via', UNDERLAY_GATEWAY, 'dev', 'under0', 'onlink']);
    const host = { name: `h${i}`, ns, publicIp, subnetFile: join(dir, `subnet-h${i}.env`) };
    hosts.push(host);
    return host;
  };
  for (let i = 0; i < count; i++) await addHost();
  return { switchNs, hosts, addHost };
}

/** Where the leases live: etcd (in the switch netns) or the embedded store under the shared --dir. */
export type OverlayStore = { kind: 'embedded' } | { kind: 'etcd'; etcd: EtcdServer };

export function storeArgs(store: OverlayStore): string[] {
  if (store.kind === 'embedded') return [];
  const e = store.etcd;
  return [
    '--etcd-endpoints', e.endpoint,
    ...(e.caCertPath === undefined ? [] : ['--etcd-cafile', e.caCertPath]),
    ...(e.clientCertPath === undefined ? [] : ['--etcd-certfile', e.clientCertPath, '--etcd-keyfile', e.clientKeyPath!]),
  ];
}

/** `skiff --dir DIR ARGS... [store flags]` where the store is reachable (etcd's netns). */
export function skiffNet(dir: string, store: OverlayStore, args: string[], input?: string, netns?: string): Promise<SkiffResult> {
  const where = netns ?? (store.kind === 'etcd' ? store.etcd.netnsPath : undefined);
  return runSkiff(['--dir', dir, ...args, ...storeArgs(store)], { ...(input === undefined ? {} : { input }), ...(where === undefined ? {} : { netns: where }), env: scrubbedEnv('SKIFF_NET_') });
}

export async function setConfig(dir: string, store: OverlayStore, config: unknown = OVERLAY_CONFIG): Promise<void> {
  const r = await skiffNet(dir, store, ['net', 'config', 'set', '-'], JSON.stringify(config));
  if (r.code !== 0) throw new Error(`skiff net config set: exit ${r.code}: ${r.stderr}`);
}

export interface LeaseRow {
  subnet: string;
  publicIp: string;
  vtepMac: string | null;
  expires: string | null;
  reservation: boolean;
}

export async function leases(dir: string, store: OverlayStore): Promise<LeaseRow[]> {
  const r = await skiffNet(dir, store, ['--format', 'json', 'net', 'leases']);
  if (r.code !== 0) throw new Error(`skiff net leases: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as LeaseRow[];
}

/** A running `skiff net daemon` in a host's netns, its stderr in a log file. */
export class OverlayDaemon {
  private constructor(readonly host: OverlayHost, readonly proc: ManagedProcess, private readonly storeLock: string | undefined) {}

  static async start(t: Teardown, dir: string, host: OverlayHost, store: OverlayStore, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<OverlayDaemon> {
    const logPath = join(dir, `daemon-${host.name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
    const proc = await ManagedProcess.start({
      name: `skiff net daemon (${host.name})`,
      command: 'nsenter',
      args: [`--net=${host.ns.path}`, '--', process.execPath, skiffBin(), '--dir', dir, 'net', 'daemon', '--subnet-file', host.subnetFile, ...storeArgs(store), ...extra],
      logPath,
      // SKIFF_NET_* are the daemon's flags: none may leak in from the test's environment.
      env: { ...scrubbedEnv('SKIFF_NET_'), ...env },
    });
    t.teardown(async () => {
      // A SIGSTOPped daemon would never see SIGTERM.
      try {
        process.kill(proc.pid, 'SIGCONT');
      } catch {
        // Gone already.
      }
      await proc.stop();
    });
    return new OverlayDaemon(host, proc, store.kind === 'embedded' ? join(dir, 'kv', 'lock') : undefined);
  }

  get pid(): number {
    return this.proc.pid;
  }

  log(): string {
    try {
      return readFileSync(this.proc.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The log's length now: waitFor(re, mark) looks only at what comes after. */
  mark(): number {
    return this.log().length;
  }

  /** Waits (bounded) for a log line matching `re` after `from`; fails at once if the daemon exits. */
  async waitFor(re: RegExp, from = 0, timeoutMs = WAIT_MS): Promise<RegExpMatchArray> {
    let found: RegExpMatchArray | null = null;
    await this.proc.waitUntil(async () => (found = re.exec(this.log().slice(from))) !== null, { timeoutMs, what: `its log shows ${re}` });
    return found!;
  }

  /** Waits for `ready`; resolves to the subnet it leased. */
  async ready(from = 0): Promise<Cidr> {
    const m = await this.waitFor(/event=ready subnet=(\S+)/, from);
    return parseCidr(m[1]!)!;
  }

  /** Waits (bounded) for the daemon to exit on its own. */
  async exited(timeoutMs = WAIT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const deadline = Date.now() + timeoutMs;
    while (this.proc.exitStatus === undefined) {
      if (Date.now() > deadline) throw new Error(`${this.proc.name} did not exit within ${timeoutMs} ms\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.proc.exitStatus;
  }

  /** SIGTERM (the lease is kept) and wait. */
  stop(): Promise<void> {
    return this.proc.stop();
  }

  /** SIGKILL: no goodbye, the lease runs out on its own. */
  async kill(): Promise<void> {
    process.kill(this.pid, 'SIGKILL');
    await this.exited();
    await this.proc.stop();
  }

  /**
   * Freezes the daemon (SIGSTOP), never while it holds the embedded store's lock: a frozen holder
   * would stall every other process on the store (its renewals take the lock every second with a
   * short TTL), which is no part of what the tests check. Tried again until the lock is free.
   */
  async pause(): Promise<void> {
    for (let tries = 0; ; tries++) {
      process.kill(this.pid, 'SIGSTOP');
      if (this.storeLock === undefined || lockFree(this.storeLock)) return;
      process.kill(this.pid, 'SIGCONT');
      if (tries > 500) throw new Error(`${this.host.name}: the store's lock never came free to freeze the daemon outside it`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }
}

/** Whether nobody holds the flock on `path` (taken and let go at once). */
function lockFree(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    return tryFlock(fd, 'exclusive', path);
  } finally {
    closeSync(fd);
  }
}

/** The subnet a host's daemon wrote to its subnet.env. */
export function subnetOf(host: OverlayHost): Cidr {
  const env = parseSubnetEnv(readFileSync(host.subnetFile, 'utf8'));
  if (env.subnet === undefined) throw new Error(`${host.subnetFile}: no FLANNEL_SUBNET`);
  return env.subnet;
}

/** The address a host's pods' gateway would have: the subnet's first. */
export const gatewayOf = (subnet: Cidr): string => formatIpv4(subnet.network + 1);

/** A bridge `ovbr0` holding the subnet's first address, where pods would be (the test's, made with ip). */
export async function addPodBridge(host: OverlayHost, subnet: Cidr): Promise<string> {
  const address = gatewayOf(subnet);
  await ip(host.ns, ['link', 'add', 'ovbr0', 'type', 'bridge']);
  await ip(host.ns, ['addr', 'add', `${address}/${subnet.prefix}`, 'dev', 'ovbr0']);
  await ip(host.ns, ['link', 'set', 'ovbr0', 'up']);
  return address;
}

/** One ICMP echo from `from` (its address `source`) to `to`; the busybox output on failure. */
export async function ping(from: OverlayHost, source: string, to: string): Promise<{ ok: boolean; output: string }> {
  const r = await from.ns.run('busybox', ['ping', '-c', '1', '-W', '5', '-I', source, to]);
  return { ok: r.code === 0, output: `${from.name} ${source} → ${to}: ${r.stdout}${r.stderr}` };
}

/** What the host's kernel holds on skiff.1 for the overlay: routes, neighbours and FDB entries, as iproute2 prints them. */
export async function kernelState(host: OverlayHost): Promise<{ routes: string; neigh: string; fdb: string }> {
  const [routes, neigh, fdb] = await Promise.all([
    ip(host.ns, ['route', 'show']),
    ip(host.ns, ['neigh', 'show', 'dev', 'skiff.1']),
    host.ns.run('bridge', ['fdb', 'show', 'dev', 'skiff.1']).then((r) => r.stdout),
  ]);
  return { routes, neigh, fdb };
}

export interface PeerFacts {
  subnet: Cidr;
  publicIp: string;
  mac: string;
}

/** Whether the route, neighbour and FDB entry for `peer` are all in `state`. */
export function programs(state: { routes: string; neigh: string; fdb: string }, peer: PeerFacts): boolean {
  const net = formatIpv4(peer.subnet.network);
  const route = new RegExp(`^${esc(net)}/${peer.subnet.prefix} via ${esc(net)} dev skiff\\.1 onlink`, 'm');
  const neigh = new RegExp(`^${esc(net)} lladdr ${peer.mac} PERMANENT`, 'm');
  const fdb = new RegExp(`^${peer.mac} dst ${esc(peer.publicIp)} self permanent`, 'm');
  return route.test(state.routes) && neigh.test(state.neigh) && fdb.test(state.fdb);
}

/** Whether nothing of `subnet` (route or neighbour) nor `mac` (FDB) is left in `state`. */
export function forgets(state: { routes: string; neigh: string; fdb: string }, subnet: Cidr, mac: string): boolean {
  const net = formatIpv4(subnet.network);
  return !new RegExp(`^${esc(net)}[ /]`, 'm').test(state.routes) && !new RegExp(`^${esc(net)} `, 'm').test(state.neigh) && !state.fdb.includes(mac);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Polls (bounded) the host's kernel until `ok(state)`; the last state in the error. */
export async function waitKernel(host: OverlayHost, ok: (s: { routes: string; neigh: string; fdb: string }) => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await kernelState(host);
    if (ok(state)) return;
    if (Date.now() > deadline) throw new Error(`${host.name}: timed out after ${timeoutMs} ms waiting until ${what}; kernel: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The device's MAC in the host (`ip -d link`). */
export async function deviceMac(host: OverlayHost): Promise<string> {
  const out = await ip(host.ns, ['-d', 'link', 'show', 'skiff.1']);
  const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
  if (m === null) throw new Error(`${host.name}: no MAC in ${out}`);
  return m[1]!;
}

/** The facts a peer's lease publishes, read from its kernel and subnet.env. */
export async function peerFacts(host: OverlayHost): Promise<PeerFacts> {
  return { subnet: subnetOf(host), publicIp: host.publicIp, mac: await deviceMac(host) };
}

/** Direct writes to the store, as an admin (or another host) would make them: etcdctl in etcd's netns, or the embedded store opened here. */
export interface StoreOps {
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
  /** Compacts the history up to the current revision. */
  compact(): Promise<void>;
}

export function storeOps(dir: string, store: OverlayStore): StoreOps {
  if (store.kind === 'etcd') {
    const ctl = async (args: string[]) => {
      const r = await store.etcd.ctl(args);
      if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    return {
      put: async (key, value) => void (await ctl(['put', key, value])),
      del: async (key) => void (await ctl(['del', key])),
      compact: async () => {
        const { header } = JSON.parse(await ctl(['get', 'skiff-test-revision', '-w', 'json'])) as { header: { revision: number } };
        await ctl(['compact', String(header.revision)]);
      },
    };
  }
  const withKv = async <T>(fn: (kv: KvStore) => Promise<T>): Promise<T> => {
    const kv = await openKvStore({ dir });
    try {
      return await fn(kv);
    } finally {
      await kv.close();
    }
  };
  return {
    put: (key, value) => withKv(async (kv) => void (await kv.put(key, value))),
    del: (key) => withKv(async (kv) => void (await kv.delete(key))),
    compact: () => withKv(async (kv) => kv.compact((await kv.list('')).revision)),
  };
}

/** A flannel lease value for a host that exists only in the store. */
export const leaseValue = (publicIp: string, mac: string): string =>
  JSON.stringify({ PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } });

export const leaseKey = (subnet: Cidr, prefix = '/coreos.com/network'): string => `${prefix}/subnets/${formatIpv4(subnet.network)}-${subnet.prefix}`;

/**
 * The host's pods' network, as rkt+flannel users write it: net.d `overlay` of type flannel on
 * the subnet.env its daemon writes, IPAM data under `dir`. Returns the SKIFF_LOCAL_CONFIG to run
 * the host's pods with.
 */
export function overlayNetConfig(dir: string, host: OverlayHost): string {
  const localConfig = join(dir, `etc-skiff-${host.name}`);
  mkdirSync(join(localConfig, 'net.d'), { recursive: true });
  writeFileSync(join(localConfig, 'net.d', '10-overlay.conf'), `${JSON.stringify({
    name: 'overlay', type: 'flannel', subnetFile: host.subnetFile, ipam: { dataDir: join(dir, `ipam-${host.name}`) },
  })}\n`);
  return localConfig;
}

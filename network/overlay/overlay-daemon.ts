/**
 * `skiff net daemon`: flanneld done right (DESIGN.md "Network"; ../shared/reference/flannel.md).
 * Foreground, one host: read `<prefix>/config` (waiting for it if absent), make the vxlan device
 * (its MAC kept in the state dir across restarts), acquire this host's lease (own-lease.ts),
 * give the device the lease's address, write subnet.env, masquerade if asked, reconcile the
 * kernel against every lease, say ready, then follow the leases: a peer's PUT programs it, its
 * DELETE (or expiry) unprograms it, a resync reconciles; our own lease is kept alive and, if lost
 * (revoked, expired, deleted), acquired again rather than exiting (flannel #904).
 *
 * A store outage leaves the data path exactly as it is: the watch resumes by itself (kv/), the
 * renewal retries with backoff. SIGTERM (the signal) ends the loops and keeps the lease, so a
 * restart finds its subnet (by PublicIP) and its MAC.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { formatCidr, type Cidr } from '../ipv4.js';
import { KvUnavailableError, type KvStore, type WatchEvent } from '../kv/index.js';
import type { Netlink } from '../netlink/index.js';
import { ensureMasquerade } from '../nat-rules.js';
import { parseOverlayConfig, type OverlayConfig } from './flannel-config.js';
import { acquireLease, listLeases, renewLease, type OwnLease } from './own-lease.js';
import { configKey, leaseOf, parseSubnetKey, subnetsPrefix } from './subnet-lease.js';
import { previousSubnet, writeSubnetEnv } from './subnet-env.js';
import { findUnderlay, type Underlay } from './underlay.js';
import { configureVxlanDevice, ensureVxlanDevice } from './vxlan-device.js';
import { peerOf, VxlanPeers, type Peer } from './vxlan-peers.js';

export type OverlayLog = (event: string, fields: Record<string, string | number | boolean>) => void;

export interface OverlayDaemonOptions {
  kv: KvStore;
  nl: Netlink;
  prefix: string;
  iface?: string | undefined;
  publicIp?: string | undefined;
  subnetFile: string;
  /** Where the VTEP MAC is kept across restarts (under --dir). */
  stateDir: string;
  ipMasq: boolean;
  leaseTtlSeconds: number;
  /** Renew this long before the lease would expire. */
  renewMarginSeconds: number;
  log: OverlayLog;
  /** Called once the data path is programmed and subnet.env written (readyz, sd_notify). */
  onReady?: (state: { subnet: Cidr; mtu: number }) => void;
  signal: AbortSignal;
}

/** setTimeout's longest delay; a longer one fires at once (Node's TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves after `ms` (at most MAX_TIMER_MS: a lease TTL of weeks would otherwise make the renewal
 * loop fire every millisecond; waking early only renews early) or when the signal ends the daemon.
 */
const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  if (signal.aborted) return resolve();
  const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
  function done() {
    clearTimeout(timer);
    signal.removeEventListener('abort', done);
    resolve();
  }
  signal.addEventListener('abort', done, { once: true });
});

/**
 * `fn`, tried again while the store is unavailable: a host may boot before etcd is up, or restart
 * during an outage, and flannel waits for etcd there too instead of exiting. One log line per try,
 * backoff up to 30 s; undefined once the signal ends the daemon. Other errors are thrown.
 */
async function whileUnavailable<T>(o: OverlayDaemonOptions, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  let backoff = 1;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KvUnavailableError) || o.signal.aborted) throw err;
      o.log('store-unavailable', { during: what, error: err.message, 'retry-in-s': backoff, note: 'waiting for the store' });
      await sleep(backoff * 1000, o.signal);
      if (o.signal.aborted) return undefined;
      backoff = Math.min(backoff * 2, 30);
    }
  }
}

/** The config from the store; waits (watching the key) while it is absent. A bad config throws (UsageError naming the field). */
async function readConfig(o: OverlayDaemonOptions): Promise<OverlayConfig | undefined> {
  const key = configKey(o.prefix);
  let logged = false;
  while (!o.signal.aborted) {
    const kv = await whileUnavailable(o, 'reading the config', () => o.kv.get(key));
    if (o.signal.aborted) return undefined;
    if (kv !== undefined) return parseOverlayConfig(kv.value, key);
    if (!logged) o.log('waiting-for-config', { key, store: o.kv.describe, hint: 'skiff net config set FILE' });
    logged = true;
    await sleep(1000, o.signal);
  }
  return undefined;
}

/**
 * Kept per VNI and public IP: the host's identity in the overlay (flannel reuses leases by it), and
 * several netns "hosts" on one machine share one --dir (and so one state dir) without sharing a MAC.
 */
const macFile = (o: OverlayDaemonOptions, vni: number, publicIp: string) => join(o.stateDir, `vtep-mac-${vni}-${publicIp}`);

function storedMac(o: OverlayDaemonOptions, vni: number, publicIp: string): string | undefined {
  try {
    const mac = readFileSync(macFile(o, vni, publicIp), 'utf8').trim();
    return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) ? mac : undefined;
  } catch {
    return undefined;
  }
}

export async function runOverlayDaemon(o: OverlayDaemonOptions): Promise<void> {
  const config = await readConfig(o);
  if (config === undefined) return;
  const { vni, port, mtu: configMtu, directRouting } = config.backend;
  const underlay: Underlay = await findUnderlay(o.nl, o.iface, o.publicIp);
  const device = await ensureVxlanDevice(o.nl, { vni, port, publicIp: underlay.publicIp, underlay: { index: underlay.index, mtu: underlay.mtu }, mtu: configMtu, mac: storedMac(o, vni, underlay.publicIp) });
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(macFile(o, vni, underlay.publicIp), `${device.mac}\n`, 0o600);
  o.log('device', { name: device.name, mac: device.mac, mtu: device.mtu, underlay: underlay.name, 'public-ip': underlay.publicIp });

  const attrs = { publicIp: underlay.publicIp, backendType: 'vxlan', vxlan: { vni, vtepMac: device.mac } };
  const acquire = (previous: Cidr | undefined) => acquireLease(o.kv, { prefix: o.prefix, config, attrs, previous, ttlSeconds: o.leaseTtlSeconds, log: o.log });
  const acquired = await whileUnavailable(o, 'acquiring the lease', () => acquire(previousSubnet(o.subnetFile)));
  if (acquired === undefined) return;
  let own: OwnLease = acquired;
  let peers = new VxlanPeers({ nl: o.nl, device: device.index, network: config.network, own: own.subnet, direct: directRouting ? underlay.connected : undefined });
  const known = new Map<string, Peer>();

  const settle = async (subnet: Cidr) => {
    await configureVxlanDevice(o.nl, device.index, subnet, config.network);
    writeSubnetEnv(o.subnetFile, { network: config.network, subnet, mtu: device.mtu, ipMasq: o.ipMasq });
    if (o.ipMasq) await ensureMasquerade('overlay', formatCidr(config.network));
  };
  const reconcile = async (entries: Array<{ key: string; value: string }>) => {
    const all = entries.flatMap((e) => {
      const l = leaseOf(e.key, e.value);
      const p = l === undefined ? undefined : peerOf(l, own.subnet, vni);
      return p === undefined ? [] : [p];
    });
    known.clear();
    for (const p of all) known.set(formatCidr(p.subnet), p);
    const r = await peers.reconcile(all);
    o.log('reconciled', { peers: r.programmed, 'stale-removed': r.removed });
  };

  await settle(own.subnet);
  const first = await whileUnavailable(o, 'listing the leases', () => listLeases(o.kv, o.prefix));
  if (first === undefined) return;
  await reconcile(first.kvs);
  o.log('ready', { subnet: formatCidr(own.subnet), mtu: device.mtu, 'subnet-file': o.subnetFile });
  o.onReady?.({ subnet: own.subnet, mtu: device.mtu });

  const withdraw = async () => {
    withdrawn = true;
    const held = await o.nl.listAddresses(device.index);
    await Promise.all(held.filter((a) => a.prefixLength === 32).map((a) => o.nl.deleteAddress(a, { missingOk: true })));
    rmSync(o.subnetFile, { force: true });
    o.log('lease-withdrawn', { subnet: formatCidr(own.subnet), 'subnet-file': 'removed', note: 'acquiring again' });
  };

  /** Our lease is gone: acquire again (the same subnet if it is still free), reprogram if it moved. One at a time (the watch and the renewals both may find it gone). */
  let reacquiring: Promise<void> = Promise.resolve();
  const reacquire = (why: string) => (reacquiring = reacquiring.catch(() => undefined).then(() => reacquireNow(why)));
  let withdrawn = false;
  const reacquireNow = async (why: string) => {
    if (!withdrawn) o.log('lease-lost', { subnet: formatCidr(own.subnet), why });
    const before = own.subnet;
    try {
      own = await acquire(own.subnet);
    } catch (err) {
      // No lease to be had (out of subnets, a store error): stop claiming a subnet that another
      // host may hold now, and take subnet.env away so no new pod starts on it. The renewals
      // keep trying; the data path to the peers stays.
      if (!withdrawn) await withdraw();
      throw err;
    }
    if (withdrawn || formatCidr(before) !== formatCidr(own.subnet)) {
      withdrawn = false;
      peers = new VxlanPeers({ nl: o.nl, device: device.index, network: config.network, own: own.subnet, direct: directRouting ? underlay.connected : undefined });
      await settle(own.subnet);
      await reconcile((await listLeases(o.kv, o.prefix)).kvs);
    }
  };

  const renewals = (async () => {
    let backoff = 1;
    while (!o.signal.aborted) {
      // Without a lease (withdrawn) the next try comes after the backoff alone.
      const wait = withdrawn ? 0 : own.leaseId === undefined ? 60 : Math.max(1, own.ttl - o.renewMarginSeconds);
      await sleep(wait * 1000, o.signal);
      if (o.signal.aborted) return;
      try {
        if (withdrawn || !(await renewLease(o.kv, own))) await reacquire('expired or revoked');
        backoff = 1;
      } catch (err) {
        o.log('renew-failed', { error: (err as Error).message, 'retry-in-s': backoff });
        await sleep(backoff * 1000, o.signal);
        backoff = Math.min(backoff * 2, 30);
      }
    }
  })();

  const onEvent = async (e: WatchEvent) => {
    if (e.type === 'resync') {
      if (!e.kvs.some((kv) => kv.key === own.key)) await reacquire('missing after a resync');
      await reconcile(e.kvs);
      return;
    }
    const key = e.type === 'put' ? e.kv.key : e.key;
    const subnet = parseSubnetKey(key);
    if (subnet === undefined) return;
    const id = formatCidr(subnet);
    if (key === own.key) {
      if (e.type === 'delete') await reacquire('deleted from the store');
      return;
    }
    if (e.type === 'put') {
      const l = leaseOf(key, e.kv.value);
      const p = l === undefined ? undefined : peerOf(l, own.subnet, vni);
      if (p === undefined) return;
      await peers.program(p);
      known.set(id, p);
      o.log('peer-added', { subnet: id, 'public-ip': p.publicIp, vtep: p.vtepMac });
    } else {
      const p = known.get(id);
      if (p === undefined) return;
      await peers.remove(p);
      known.delete(id);
      o.log('peer-removed', { subnet: id, 'public-ip': p.publicIp });
    }
  };

  try {
    for await (const e of o.kv.watch(subnetsPrefix(o.prefix), {
      fromRevision: first.revision + 1,
      signal: o.signal,
      onRetry: (err) => o.log('store-unavailable', { error: err.message, note: 'the data path stays as it is' }),
    })) {
      try {
        await onEvent(e);
      } catch (err) {
        // One peer's failure must not stop the others; the next resync or restart reconciles it.
        o.log('event-failed', { error: (err as Error).message });
      }
    }
  } finally {
    await renewals;
  }
}

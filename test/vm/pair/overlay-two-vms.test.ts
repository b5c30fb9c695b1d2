/**
 * The overlay across two machines (the VM tier's pair, test/vm/run-pair.sh): two Debian 12 VMs on
 * one virtual link, 198.19.0.1 (VM a) and 198.19.0.2 (VM b) on their eth0. VM a runs a real etcd
 * on its underlay address; each VM runs `skiff net daemon` on that etcd (vxlan, the default
 * subnet.env) and pods on `--net=overlay` (the built-in network on it). The same file runs in both
 * VMs, each asserting its own side:
 *   - each VM leased a distinct subnet in etcd, publishing its underlay address and its own VTEP
 *     MAC, and its kernel programs the other's route, neighbour and FDB entry;
 *   - its pod fetches over TCP from the other VM's pod across the VXLAN (and serves the other's);
 *   - its pod's end frees its overlay address and removes its veth;
 *   - b leaves (SIGTERM: its daemon stops, the lease is left to expire, 20 s TTL); a sees the
 *     lease expire in etcd and drops b's route, neighbour and FDB entry.
 * The VMs meet through markers on a shared dir (pair-vm.ts); every wait is bounded. The tests run
 * in order, each on what the one before set up: one failing makes the next fail at once.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { contains, formatCidr, parseCidr, parseIpv4, type Cidr } from '../../../network/ipv4.js';
import { startEtcd } from '../../support/etcd-server.js';
import { deviceMac, forgets, OVERLAY_CONFIG, OverlayDaemon, programs, subnetOf, waitKernel, type PeerFacts } from '../../support/overlay-hosts.js';
import { podStore, type PodStore } from '../../support/pod-store.js';
import { runSkiff, skiffCommand, skiffEnv } from '../../support/skiff-cli.js';
import type { Teardown } from '../../support/temp-dir.js';
import { mark, me, peer, peerDone, UNDERLAY_IP, UNDERLAY_LINK, vmHost, waitForPeer, waitForPeerDone } from './pair-vm.js';

const ETCD = `http://${UNDERLAY_IP.a}:2379`;
const SUBNETS_PREFIX = '/coreos.com/network/subnets/';
/** Bounds: generous, every Node start in the emulated guest is ~2-7 s, and the other VM may lag. */
const PEER_MS = 240_000;
const LOCAL_MS = 120_000;

const host = vmHost(me);

// Teardowns of the whole file, run last first after the last test (VM a's etcd last of all).
const teardowns: (() => void | Promise<void>)[] = [];
const shared: Teardown = { teardown: (fn) => void teardowns.unshift(fn) };
test.after.always(async () => {
  mark(`over-${me}`);
  // For a failure's post-mortem: the daemon's log next to the markers (run-pair.sh's exchange/).
  if (daemon !== undefined) mark(`daemon-${me}.log`, daemon.log());
  // VM b's daemon and checks talk to a's etcd until b is done.
  if (me === 'a') await waitForPeerDone(PEER_MS);
  for (const fn of teardowns) await fn();
});

// What each test hands the next.
let store: Promise<PodStore> | undefined;
let daemon: OverlayDaemon | undefined;
let own: Cidr | undefined;
let other: PeerFacts | undefined;
let servedBy: NetInfo | undefined;

function needs<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing: an earlier test failed`);
  return value;
}

/**
 * Polls `check` (bounded); the last error in the timeout's message. A check that needs the other
 * VM fails at once when that VM is done (pair-vm.ts).
 */
async function until(check: () => Promise<boolean>, what: string, timeoutMs: number, needsPeer = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    const lastError = last === undefined ? '' : `; last error: ${String(last)}`;
    const done = needsPeer ? peerDone() : undefined;
    if (done !== undefined) throw new Error(`VM ${peer} ${done} before ${what}${lastError}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${lastError}`);
    await sleep(200);
  }
}

/** Resolves with `promise`, or fails after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function ip(args: string[]): Promise<string> {
  const r = await host.ns.run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

interface EtcdLease { subnet: string; publicIp: string; vtepMac: string }

/** The leases as etcd holds them, read through its JSON gateway (not through Skiff's own store code). */
async function etcdLeases(): Promise<EtcdLease[]> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const res = await fetch(`${ETCD}/v3/kv/range`, {
    method: 'POST',
    // range_end: the prefix's last byte plus one ('/' + 1 = '0'): every key under it.
    body: JSON.stringify({ key: b64(SUBNETS_PREFIX), range_end: b64(`${SUBNETS_PREFIX.slice(0, -1)}0`) }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`etcd range ${SUBNETS_PREFIX}: HTTP ${res.status} ${await res.text()}`);
  const { kvs = [] } = (await res.json()) as { kvs?: Array<{ key: string; value: string }> };
  return kvs.map((kv) => {
    const key = Buffer.from(kv.key, 'base64').toString();
    const value = JSON.parse(Buffer.from(kv.value, 'base64').toString()) as { PublicIP: string; BackendData?: { VtepMAC?: string } };
    return { subnet: key.slice(SUBNETS_PREFIX.length).replace('-', '/'), publicIp: value.PublicIP, vtepMac: value.BackendData?.VtepMAC ?? '' };
  }).sort((x, y) => x.publicIp.localeCompare(y.publicIp));
}

/** One network of the pod as stage1 records it (`net-info.json` in the pod's dir). */
interface NetInfo { name: string; ip: string; hostIfName: string; bridge: string; ipamFile: string }

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const inSubnet = (address: string, subnet: Cidr) => contains(subnet, parseIpv4(address) ?? -1);

test.serial(`the underlay: VM ${me} at ${UNDERLAY_IP[me]} on ${UNDERLAY_LINK} reaches VM ${peer}; etcd runs on a's address with the overlay's config`, async (t) => {
  // The pods' store (the probe image, fetched: a Node start) meanwhile; awaited by the tests that use it.
  store = podStore(shared);
  store.catch(() => undefined);
  await ip(['addr', 'add', `${UNDERLAY_IP[me]}/24`, 'dev', UNDERLAY_LINK]);
  await ip(['link', 'set', UNDERLAY_LINK, 'up']);
  await until(async () => (await host.ns.run('busybox', ['ping', '-c', '1', '-W', '1', UNDERLAY_IP[peer]])).code === 0, `VM ${peer} answers ping on the underlay`, PEER_MS, true);
  if (me === 'a') {
    const etcd = await startEtcd({ listen: UNDERLAY_IP.a });
    shared.teardown(() => etcd.stop());
    t.is(etcd.endpoint, ETCD);
    const r = await runSkiff(['net', 'config', 'set', '--etcd-endpoints', ETCD, '-'], { input: JSON.stringify(OVERLAY_CONFIG) });
    t.is(r.code, 0, r.stderr);
    mark('etcd-a', ETCD);
  } else {
    t.is(await waitForPeer('etcd-a', 'etcd with the overlay config', PEER_MS), ETCD);
  }
});

test.serial('each VM leases a distinct subnet in etcd, publishing its underlay address and its own VTEP MAC, and programs the other\'s route, neighbour and FDB entry', async (t) => {
  const s = await needs(store, 'the pods\' store');
  // b leaves at the end: a lease it stops renewing is gone from etcd 20 s later (renewed every 5 s till then).
  const ttl = me === 'b' ? ['--subnet-lease-ttl', '20s', '--subnet-lease-renew-margin', '15s'] : [];
  // The etcd flags come in `extra`: the helper's kind 'etcd' wants an etcd it started; 'embedded' adds no flags.
  daemon = await OverlayDaemon.start(shared, s.dir, host, { kind: 'embedded' }, ['--etcd-endpoints', ETCD, '--iface', UNDERLAY_LINK, ...ttl]);
  own = parseCidr((await daemon.waitFor(/event=ready subnet=(\S+)/, 0, LOCAL_MS))[1]!)!;
  t.is(formatCidr(subnetOf(host)), formatCidr(own), 'subnet.env names the leased subnet');
  let leases: EtcdLease[] = [];
  await until(async () => (leases = await etcdLeases()).length === 2, 'etcd holds a lease of each VM', PEER_MS, true);
  const [mine, theirs] = [leases.find((l) => l.publicIp === UNDERLAY_IP[me]), leases.find((l) => l.publicIp === UNDERLAY_IP[peer])];
  if (mine === undefined || theirs === undefined) return t.fail(`a lease per VM's underlay address: ${JSON.stringify(leases)}`);
  t.is(mine.subnet, formatCidr(own));
  t.not(theirs.subnet, mine.subnet, 'two distinct subnets');
  t.true(contains(parseCidr(OVERLAY_CONFIG.Network)!, parseCidr(theirs.subnet)!.network));
  t.is(mine.vtepMac, await deviceMac(host), 'the lease publishes this VM\'s vxlan device MAC');
  t.not(theirs.vtepMac, mine.vtepMac, 'distinct VTEP MACs (distinct machine-ids)');
  other = { subnet: parseCidr(theirs.subnet)!, publicIp: theirs.publicIp, mac: theirs.vtepMac };
  const facts = other;
  await waitKernel(host, (state) => programs(state, facts), `it programs VM ${peer}`, LOCAL_MS);
});

test.serial(`a pod on --net=overlay here fetches over TCP from the pod on VM ${peer} across the VXLAN, and serves VM ${peer}'s`, async (t) => {
  const s = await needs(store, 'the pods\' store');
  const [subnet, facts] = [needs(own, 'this VM\'s lease'), needs(other, 'the other VM\'s lease')];
  const uuidFile = join(s.dir, '..', 'server-uuid');
  // --once: the server pod ends after one connection, the other VM's.
  const [command, argv] = skiffCommand(['--dir', s.dir, 'run', '--net=overlay', '--uuid-file-save', uuidFile, s.image, '--exec', '/probe', '--', 'serve', '8080', `a pod on vm ${me}`, '--once']);
  const server = spawn(command, argv, { env: skiffEnv(s.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
  shared.teardown(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      process.kill(server.pid!, 'SIGKILL');
      await exited;
    }
  });
  // The probe prints a line once it listens.
  const listening = once(createInterface({ input: server.stdout }), 'line');
  await within(Promise.race([listening, exited.then((code) => Promise.reject(new Error(`the serving pod exited ${code} before it listened: ${stderr}`)))]), LOCAL_MS, 'the serving pod listens');
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const [net] = JSON.parse(readFileSync(join(s.dir, 'pods', 'run', uuid, 'net-info.json'), 'utf8')) as NetInfo[];
  if (net === undefined) return t.fail('the serving pod has no network');
  t.true(inSubnet(net.ip, subnet), `the pod's ${net.ip} is in this VM's lease ${formatCidr(subnet)}`);
  mark(`serving-${me}`, net.ip);

  const theirs = await waitForPeer(`serving-${peer}`, 'its serving pod', PEER_MS);
  t.true(inSubnet(theirs, facts.subnet), `VM ${peer}'s pod ${theirs} is in its lease ${formatCidr(facts.subnet)}`);
  // The outcome goes to the other VM, whose serving pod waits for this fetch only if it came.
  let fetched = false;
  try {
    const r = await runSkiff(['--dir', s.dir, 'run', '--net=overlay', s.image, '--exec', '/probe', '--', 'fetch', theirs, '8080', '10000'], { env: s.env });
    t.is(r.code, 0, `fetch from ${theirs}: ${r.stdout}${r.stderr}`);
    t.like(JSON.parse(r.stdout.split('\n')[0] ?? '{}') as object, { ok: true, data: `a pod on vm ${peer}\n` }, `VM ${me} → VM ${peer} (${theirs})`);
    fetched = true;
  } finally {
    mark(`fetched-${me}`, fetched ? 'ok' : 'failed');
  }
  const theirFetch = await waitForPeer(`fetched-${peer}`, 'its fetch from this VM\'s pod', PEER_MS);
  if (theirFetch !== 'ok') return t.fail(`VM ${peer}'s pod could not fetch from this VM's pod (${net.ip}): see its output`);
  t.is(await within(exited, LOCAL_MS, `the serving pod ends after VM ${peer}'s fetch`), 0, stderr);
  servedBy = net;
});

test.serial('the pod\'s end frees its overlay address and removes its veth from the bridge', async (t) => {
  const net = needs(servedBy, 'the serving pod');
  t.false(existsSync(net.ipamFile), `${net.ipamFile}: the address is free again`);
  t.not((await host.ns.run('ip', ['link', 'show', 'dev', net.hostIfName])).code, 0, `${net.hostIfName} is gone`);
  t.is((await ip(['-o', 'link', 'show', 'master', net.bridge])).trim(), '', `no pod left on ${net.bridge}`);
});

if (me === 'b') {
  test.serial('VM b leaves: SIGTERM stops its daemon (exit 0, the lease kept, left to expire)', async (t) => {
    const d = needs(daemon, 'the daemon');
    process.kill(d.pid, 'SIGTERM');
    t.deepEqual(await d.exited(LOCAL_MS), { code: 0, signal: null }, d.log());
    t.regex(d.log(), /event=stopping signal=SIGTERM lease=kept/);
    mark('left-b');
  });
} else {
  test.serial('when VM b leaves, its lease expires in etcd and VM a drops b\'s route, neighbour and FDB entry, keeping its own lease', async (t) => {
    const [d, facts] = [needs(daemon, 'the daemon'), needs(other, 'the other VM\'s lease')];
    await waitForPeer('left-b', 'its daemon stopped', PEER_MS);
    // The kernel is what matters: the daemon logs peer-removed after unprogramming (and the log may
    // hold an earlier removal, had b's lease lapsed once under the emulator's load and come back).
    await waitKernel(host, (state) => forgets(state, facts.subnet, facts.mac), `it drops VM b's route, neighbour and FDB entry; its log:\n${d.log()}`, LOCAL_MS);
    const events = d.log().match(new RegExp(`event=peer-(added|removed) subnet=${esc(formatCidr(facts.subnet))} public-ip=${esc(facts.publicIp)}`, 'g')) ?? [];
    t.regex(events.at(-1) ?? '', /peer-removed/, `the daemon's last word on b is its removal: ${events.join(', ')}`);
    t.deepEqual((await etcdLeases()).map((l) => [l.subnet, l.publicIp]), [[formatCidr(needs(own, 'this VM\'s lease')), UNDERLAY_IP.a]], 'etcd holds a\'s lease only');
  });
}

/**
 * The overlay end to end (issue 9, "Tests"): real `skiff net daemon` processes, one per network
 * namespace "host" on a switched underlay (198.19.0.0/24, test/support/overlay-hosts.ts), leasing
 * subnets of 198.18.0.0/16 from a real etcd (plain, or TLS with client certificates; it runs in the
 * switch's netns on 198.19.0.254) or from the embedded store all hosts share under one --dir.
 * Pods on `--net=overlay` (net.d type flannel on each host's subnet.env) talk TCP across hosts;
 * elsewhere each host gets a bridge with its subnet's first address (where its pods' gateway is),
 * and the bridges ping each other across the vxlan devices. The root namespace is never touched.
 *
 * Waits are bounded: for the daemons' log lines, or polls of a host's kernel state.
 */
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { formatIpv4, parseCidr } from '../../network/ipv4.js';
import { startEtcd } from '../support/etcd-server.js';
import { testWhen } from '../support/host-condition.js';
import { podStore } from '../support/pod-store.js';
import { runSkiff, skiffCommand, skiffEnv } from '../support/skiff-cli.js';
import {
  addPodBridge, deviceMac, forgets, gatewayOf, kernelState, leaseKey, leases, leaseValue, makeUnderlay, OVERLAY_CONFIG, OverlayDaemon, overlayNetConfig, peerFacts, ping,
  programs, setConfig, skiffNet, storeOps, subnetOf, UNDERLAY_GATEWAY, waitKernel, type OverlayHost, type OverlayStore, type Underlay,
} from '../support/overlay-hosts.js';
import { tempDir } from '../support/temp-dir.js';

type StoreKind = 'etcd' | 'etcd-tls' | 'embedded';

interface Overlay {
  dir: string;
  underlay: Underlay;
  store: OverlayStore;
  start(host: OverlayHost, extra?: string[], env?: NodeJS.ProcessEnv): Promise<OverlayDaemon>;
}

async function overlay(t: ExecutionContext, kind: StoreKind, hosts: number, config: unknown = OVERLAY_CONFIG): Promise<Overlay> {
  const dir = tempDir(t, 'skiff-ovl-');
  const underlay = await makeUnderlay(t, dir, hosts);
  let store: OverlayStore = { kind: 'embedded' };
  if (kind !== 'embedded') {
    const etcd = await startEtcd({ tls: kind === 'etcd-tls', netns: { path: underlay.switchNs.path, ip: UNDERLAY_GATEWAY } });
    t.teardown(() => etcd.stop());
    store = { kind: 'etcd', etcd };
  }
  // null: no config (a test of the daemon waiting for one).
  if (config !== null) await setConfig(dir, store, config);
  return { dir, underlay, store, start: (host, extra = [], env = {}) => OverlayDaemon.start(t, dir, host, store, extra, env) };
}

/** Starts a daemon on every host, waits until each is ready and programs every other one. */
async function startAll(o: Overlay, hosts = o.underlay.hosts): Promise<OverlayDaemon[]> {
  const daemons = await Promise.all(hosts.map((h) => o.start(h)));
  await Promise.all(daemons.map((d) => d.ready()));
  await converged(hosts);
  return daemons;
}

/** Every host's kernel holds the route, neighbour and FDB entry of every other host. */
async function converged(hosts: OverlayHost[]): Promise<void> {
  const facts = await Promise.all(hosts.map(peerFacts));
  await Promise.all(hosts.map((h, i) => waitKernel(h, (s) => facts.every((f, j) => i === j || programs(s, f)), `it programs ${hosts.filter((_, j) => j !== i).map((x) => x.name).join(', ')}`)));
}

/** A bridge with the subnet's first address on each host; their addresses. */
const podBridges = (hosts: OverlayHost[]) => Promise.all(hosts.map((h) => addPodBridge(h, subnetOf(h))));

/** Gives each host a bridge with its lease's first address; they all ping each other. */
async function bridgesPing(t: ExecutionContext, hosts: OverlayHost[]): Promise<void> {
  await pingsAll(t, hosts, await podBridges(hosts));
}

async function pingsAll(t: ExecutionContext, hosts: OverlayHost[], addresses: string[]): Promise<void> {
  for (const [i, from] of hosts.entries()) {
    for (const [j, to] of addresses.entries()) {
      if (i === j) continue;
      const r = await ping(from, addresses[i]!, to);
      t.true(r.ok, r.output);
    }
  }
}

/**
 * Pods with `--net=overlay` on every host (net.d type flannel on the host's subnet.env): a server
 * pod on each, and a pod on each host fetching over TCP from the next host's. The pods' bridges
 * then hold each subnet's first address. The pods' store is the probe image's (podStore).
 */
async function podsTalk(t: ExecutionContext, o: Overlay, hosts: OverlayHost[]): Promise<void> {
  const s = await podStore(t);
  const envOf = (h: OverlayHost): NodeJS.ProcessEnv => ({ ...s.env, SKIFF_NET: 'overlay', SKIFF_LOCAL_CONFIG: overlayNetConfig(o.dir, h) });
  const servers = hosts.map((h) => {
    const [command, argv] = skiffCommand(['--dir', s.dir, 'run', '--net=overlay', s.image, '--exec', '/probe', '--', 'serve', '8080', `a pod on ${h.name}`], h.ns.path);
    return spawn(command, argv, { env: skiffEnv(envOf(h)), stdio: ['ignore', 'pipe', 'pipe'] });
  });
  // Runs before podStore's teardown (ava runs them last first): the pods go, then gc.
  t.teardown(async () => {
    for (const server of servers) {
      if (server.exitCode === null && server.signalCode === null) {
        process.kill(server.pid!, 'SIGKILL');
        await once(server, 'exit');
      }
    }
  });
  // The probe prints a line once it listens.
  await Promise.all(servers.map((server) => once(createInterface({ input: server.stdout! }), 'line')));
  for (const [i, h] of hosts.entries()) {
    const to = hosts[(i + 1) % hosts.length]!;
    // The first pod of a lease gets its second address (the bridge has the first).
    const ip = formatIpv4(subnetOf(to).network + 2);
    const r = await runSkiff(['--dir', s.dir, 'run', '--net=overlay', s.image, '--exec', '/probe', '--', 'fetch', ip, '8080', '5000'], { env: envOf(h), netns: h.ns.path });
    t.is(r.code, 0, `${h.name} → ${to.name} (${ip}): ${r.stderr}`);
    t.like(JSON.parse(r.stdout.split('\n')[0]!) as object, { ok: true, data: `a pod on ${to.name}\n` }, `${h.name} → ${to.name}`);
  }
}

for (const kind of ['etcd', 'etcd-tls', 'embedded'] as const) {
  const what = kind === 'etcd' ? 'etcd' : kind === 'etcd-tls' ? 'etcd over TLS with client certificates' : 'the embedded store';
  testWhen('root')(`three hosts on ${what}: each programs the others; pods on --net=overlay talk TCP across it, their bridges ping each other`, async (t) => {
    const o = await overlay(t, kind, 3);
    const hosts = o.underlay.hosts;
    await startAll(o);
    const subnets = hosts.map(subnetOf);
    t.is(new Set(subnets.map((s) => formatIpv4(s.network))).size, 3, 'three distinct subnets');
    const rows = await leases(o.dir, o.store);
    t.deepEqual(rows.map((r) => r.publicIp).sort(), hosts.map((h) => h.publicIp).sort());
    for (const h of hosts) t.is(rows.find((r) => r.publicIp === h.publicIp)?.vtepMac, await deviceMac(h), `${h.name}'s lease publishes its device's MAC`);
    await podsTalk(t, o, hosts);
    // The pods' bridges hold each lease's first address: they ping each other across the overlay.
    await pingsAll(t, hosts, subnets.map(gatewayOf));
  });
}

testWhen('root')('a daemon restart keeps its subnet and its MAC, even when its device was deleted meanwhile; peers see no change', async (t) => {
  const o = await overlay(t, 'embedded', 2);
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const [da] = await startAll(o);
  const before = { subnet: subnetOf(a), mac: await deviceMac(a), lease: (await leases(o.dir, o.store)).find((r) => r.publicIp === a.publicIp) };
  await da!.stop();
  t.regex(da!.log(), /event=stopping signal=SIGTERM lease=kept/);
  // The MAC must now come from the daemon's state, not from the device.
  t.is((await a.ns.run('ip', ['link', 'del', 'skiff.1'])).code, 0);
  const again = await o.start(a);
  const subnet = await again.ready();
  t.regex(again.log(), new RegExp(`event=lease-acquired subnet=${formatIpv4(before.subnet.network)}/24 how=reused`));
  t.is(formatIpv4(subnet.network), formatIpv4(before.subnet.network));
  t.is(await deviceMac(a), before.mac);
  t.deepEqual((await leases(o.dir, o.store)).find((r) => r.publicIp === a.publicIp)?.vtepMac, before.lease?.vtepMac);
  await converged([a, b]);
  await bridgesPing(t, [a, b]);
});

testWhen('root')('a host back with a new VTEP MAC (device and daemon state lost) keeps its subnet; the others drop its old FDB entry', async (t) => {
  const o = await overlay(t, 'embedded', 2);
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const [da, db] = await startAll(o);
  const old = await peerFacts(b);
  await db!.stop();
  t.is((await b.ns.run('ip', ['link', 'del', 'skiff.1'])).code, 0);
  rmSync(join(o.dir, 'overlay', `vtep-mac-1-${b.publicIp}`));
  const mark = da!.mark();
  const again = await o.start(b);
  await again.ready();
  const fresh = await peerFacts(b);
  t.not(fresh.mac, old.mac);
  t.is(formatIpv4(fresh.subnet.network), formatIpv4(old.subnet.network), 'the lease is reused by PublicIP');
  await da!.waitFor(new RegExp(`event=peer-added subnet=${formatIpv4(fresh.subnet.network)}/24 public-ip=${b.publicIp} vtep=${fresh.mac}`), mark);
  await waitKernel(a, (s) => programs(s, fresh) && !s.fdb.includes(old.mac), `it programs ${b.name}'s new MAC and holds no FDB entry for the old one`);
  await bridgesPing(t, [a, b]);
});

testWhen('root')('a daemon whose own lease is deleted from the store takes its subnet again, and the others program it again', async (t) => {
  const o = await overlay(t, 'embedded', 2);
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const [da, db] = await startAll(o);
  const own = await peerFacts(a);
  const net = `${formatIpv4(own.subnet.network)}/24`;
  const marks = [da!.mark(), db!.mark()];
  await storeOps(o.dir, o.store).del(leaseKey(own.subnet));
  await da!.waitFor(new RegExp(`event=lease-lost subnet=${net} why="deleted from the store"[^]*event=lease-acquired subnet=${net} how=subnet-file`), marks[0]);
  await db!.waitFor(new RegExp(`event=peer-removed subnet=${net}[^]*event=peer-added subnet=${net} public-ip=${a.publicIp} vtep=${own.mac}`), marks[1]);
  await waitKernel(b, (s) => programs(s, own), `it programs ${a.name} again`);
  t.true((await leases(o.dir, o.store)).some((r) => r.subnet === net && r.publicIp === a.publicIp));
  await bridgesPing(t, [a, b]);
});

testWhen('root')('a daemon frozen past its lease\'s TTL takes its subnet again when it wakes (flannel #904 exited instead)', async (t) => {
  const o = await overlay(t, 'embedded', 2);
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const db = await o.start(b);
  await db.ready();
  const da = await o.start(a, ['--subnet-lease-ttl', '3s']);
  await da.ready();
  await converged([a, b]);
  const own = await peerFacts(a);
  const net = `${formatIpv4(own.subnet.network)}/24`;
  const marks = [da.mark(), db.mark()];
  await da.pause();
  // b's watch records the expiry.
  await db.waitFor(new RegExp(`event=peer-removed subnet=${net}`), marks[1]);
  da.resume();
  await da.waitFor(new RegExp(`event=lease-lost subnet=${net} [^]*event=lease-acquired subnet=${net}`), marks[0]);
  await db.waitFor(new RegExp(`event=peer-added subnet=${net} public-ip=${a.publicIp}`), marks[1]);
  await waitKernel(b, (s) => programs(s, own), `it programs ${a.name} again`);
  t.is(da.proc.exitStatus, undefined, 'the daemon did not exit');
  await bridgesPing(t, [a, b]);
});

testWhen('root')('a lease TTL of 30 days: the lease says so and the renewal waits (no timer overflow firing it every millisecond)', async (t) => {
  const o = await overlay(t, 'embedded', 1);
  const [a] = o.underlay.hosts as [OverlayHost];
  const d = await o.start(a, ['--subnet-lease-ttl', '30d']);
  await d.ready();
  // Something after ready, when the renewal loop has set its first timer.
  const peer = { subnet: parseCidr('198.18.230.0/24')!, publicIp: '198.19.0.230', mac: '02:5e:00:00:00:e6' };
  await storeOps(o.dir, o.store).put(leaseKey(peer.subnet), leaseValue(peer.publicIp, peer.mac));
  await d.waitFor(/event=peer-added subnet=198\.18\.230\.0\/24/);
  t.notRegex(d.log(), /TimeoutOverflowWarning/);
  const expires = Date.parse((await leases(o.dir, o.store)).find((r) => r.publicIp === a.publicIp)!.expires!);
  t.true(expires > Date.now() + 29 * 86_400_000, `expires ${new Date(expires).toISOString()}`);
});

testWhen('root')('a daemon whose expired subnet was taken meanwhile moves to a free one: device address, subnet.env and every peer follow', async (t) => {
  // Three subnets in all: a's, b's, and one free.
  const o = await overlay(t, 'embedded', 3, { ...OVERLAY_CONFIG, SubnetMin: '198.18.1.0', SubnetMax: '198.18.3.0' });
  const [a, b, c] = o.underlay.hosts as [OverlayHost, OverlayHost, OverlayHost];
  const db = await o.start(b);
  await db.ready();
  const da = await o.start(a, ['--subnet-lease-ttl', '3s']);
  await da.ready();
  await converged([a, b]);
  const before = subnetOf(a);
  const old = `${formatIpv4(before.network)}/24`;
  const marks = [da.mark(), db.mark()];
  await da.pause();
  await db.waitFor(new RegExp(`event=peer-removed subnet=${old}`), marks[1]);
  // c takes a's subnet: its subnet.env (from an earlier life) names it.
  writeFileSync(c.subnetFile, `FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=${formatIpv4(before.network + 1)}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`);
  const dc = await o.start(c);
  t.is(formatIpv4((await dc.ready()).network), formatIpv4(before.network));
  t.regex(dc.log(), new RegExp(`event=lease-acquired subnet=${old} how=subnet-file`));
  da.resume();
  await da.waitFor(new RegExp(`event=lease-lost subnet=${old} [^]*event=lease-acquired subnet=(?!${old})`), marks[0]);
  await da.waitFor(/event=reconciled peers=2/, marks[0]);
  const moved = subnetOf(a);
  t.not(formatIpv4(moved.network), formatIpv4(before.network));
  const address = await a.ns.run('ip', ['-4', 'addr', 'show', 'dev', 'skiff.1']);
  t.regex(address.stdout, new RegExp(`inet ${formatIpv4(moved.network).replace(/\./g, '\\.')}/32`));
  t.notRegex(address.stdout, new RegExp(`inet ${formatIpv4(before.network).replace(/\./g, '\\.')}/32`));
  await converged([a, b, c]);
  await bridgesPing(t, [a, b, c]);
});

testWhen('root')('a daemon whose expired subnet was taken and finds none free withdraws (no address, no subnet.env) and takes one once it frees', async (t) => {
  // Two subnets in all: b's and a's, which c takes while a is frozen.
  const o = await overlay(t, 'embedded', 3, { ...OVERLAY_CONFIG, SubnetMin: '198.18.1.0', SubnetMax: '198.18.2.0' });
  const [a, b, c] = o.underlay.hosts as [OverlayHost, OverlayHost, OverlayHost];
  const db = await o.start(b);
  await db.ready();
  const da = await o.start(a, ['--subnet-lease-ttl', '3s']);
  await da.ready();
  const before = subnetOf(a);
  const old = `${formatIpv4(before.network)}/24`;
  const marks = [da.mark(), db.mark()];
  await da.pause();
  await db.waitFor(new RegExp(`event=peer-removed subnet=${old}`), marks[1]);
  writeFileSync(c.subnetFile, `FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=${formatIpv4(before.network + 1)}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`);
  const dc = await o.start(c);
  await dc.ready();
  da.resume();
  await da.waitFor(new RegExp(`event=lease-withdrawn subnet=${old}`), marks[0]);
  const address = await a.ns.run('ip', ['-4', 'addr', 'show', 'dev', 'skiff.1']);
  t.notRegex(address.stdout, /inet /, 'a no longer answers for the subnet c holds now');
  t.false(existsSync(a.subnetFile), 'no subnet.env: no new pod starts on a lost lease');
  t.true(da.log().includes('out of subnets'), 'the reason is logged');
  // c leaves and its lease goes: a gets the subnet back.
  const mark = da.mark();
  await dc.stop();
  await storeOps(o.dir, o.store).del(leaseKey(before));
  await da.waitFor(new RegExp(`event=lease-acquired subnet=${old}`), mark);
  await waitKernel(a, () => existsSync(a.subnetFile), 'subnet.env written again');
  t.regex((await a.ns.run('ip', ['-4', 'addr', 'show', 'dev', 'skiff.1'])).stdout, new RegExp(`inet ${formatIpv4(before.network).replace(/\./g, '\\.')}/32`));
  await converged([a, b]);
});

testWhen('root')('DirectRouting: hosts on one underlay link get plain routes via each other\'s public IP, nothing on skiff.1, and their bridges ping', async (t) => {
  const o = await overlay(t, 'embedded', 2, { ...OVERLAY_CONFIG, Backend: { Type: 'vxlan', DirectRouting: true } });
  const hosts = o.underlay.hosts as [OverlayHost, OverlayHost];
  await Promise.all((await Promise.all(hosts.map((h) => o.start(h)))).map((d) => d.ready()));
  for (const [i, h] of hosts.entries()) {
    const peer = hosts[1 - i]!;
    const route = new RegExp(`^${formatIpv4(subnetOf(peer).network).replace(/\./g, '\\.')}/24 via ${peer.publicIp.replace(/\./g, '\\.')} dev under0`, 'm');
    await waitKernel(h, (s) => route.test(s.routes), `it routes ${peer.name}'s subnet via ${peer.publicIp}`);
    const state = await kernelState(h);
    t.is(state.neigh.trim(), '', `${h.name}: no neighbour on skiff.1`);
    t.notRegex(state.fdb, /dst /, `${h.name}: no FDB entry to a peer on skiff.1`);
  }
  await bridgesPing(t, hosts);
});

testWhen('root')('--ip-masq: subnet.env says so, and the host masquerades what leaves the overlay network', async (t) => {
  const o = await overlay(t, 'embedded', 1);
  const [a] = o.underlay.hosts as [OverlayHost];
  await (await o.start(a, ['--ip-masq'])).ready();
  t.regex(readFileSync(a.subnetFile, 'utf8'), /^FLANNEL_IPMASQ=true$/m);
  const nat = (await a.ns.run('iptables-save', ['-t', 'nat'])).stdout;
  t.regex(nat, /^-A POSTROUTING -j SKIFF-POSTROUTING$/m);
  t.regex(nat, /^-A SKIFF-POSTROUTING -s 198\.18\.0\.0\/16 ! -d 198\.18\.0\.0\/16 -m comment --comment "skiff network overlay" -j MASQUERADE$/m);
});

testWhen('root')('a host that leaves is removed from the others when its lease is deleted from the store (embedded store)', async (t) => {
  const o = await overlay(t, 'embedded', 3);
  const [a, b, c] = o.underlay.hosts as [OverlayHost, OverlayHost, OverlayHost];
  const [da, db, dc] = await startAll(o);
  const gone = await peerFacts(c);
  await dc!.stop();
  const row = (await leases(o.dir, o.store)).find((r) => r.publicIp === c.publicIp);
  t.truthy(row, 'SIGTERM kept the lease');
  const marks = [da!.mark(), db!.mark()];
  await storeOps(o.dir, o.store).del(leaseKey(parseCidr(row!.subnet)!));
  const removed = new RegExp(`event=peer-removed subnet=${formatIpv4(gone.subnet.network)}/24 public-ip=${c.publicIp}`);
  await Promise.all([da!.waitFor(removed, marks[0]), db!.waitFor(removed, marks[1])]);
  for (const h of [a, b]) t.true(forgets(await kernelState(h), gone.subnet, gone.mac), `${h.name} forgot ${c.name}`);
  t.true(programs(await kernelState(a), await peerFacts(b)), 'the others stay');
});

testWhen('root')('a host that leaves is removed from the others when its lease expires (etcd, a short --subnet-lease-ttl, kill -9)', async (t) => {
  const o = await overlay(t, 'etcd', 3);
  const [a, b, c] = o.underlay.hosts as [OverlayHost, OverlayHost, OverlayHost];
  const [da, db] = await startAll(o, [a, b]);
  const dc = await o.start(c, ['--subnet-lease-ttl', '3s']);
  await dc.ready();
  await converged([a, b, c]);
  const gone = await peerFacts(c);
  const marks = [da!.mark(), db!.mark()];
  await dc.kill();
  const removed = new RegExp(`event=peer-removed subnet=${formatIpv4(gone.subnet.network)}/24 public-ip=${c.publicIp}`);
  await Promise.all([da!.waitFor(removed, marks[0]), db!.waitFor(removed, marks[1])]);
  for (const h of [a, b]) t.true(forgets(await kernelState(h), gone.subnet, gone.mac), `${h.name} forgot ${c.name}`);
  t.false((await leases(o.dir, o.store)).some((r) => r.publicIp === c.publicIp), 'the lease is gone from the store');
});

testWhen('root')('etcd stopped mid-run: the data path stays, the daemons retry; a host starting meanwhile waits for etcd, and once it is back is programmed', async (t) => {
  const o = await overlay(t, 'etcd', 3);
  const [a, b, c] = o.underlay.hosts as [OverlayHost, OverlayHost, OverlayHost];
  if (o.store.kind !== 'etcd') throw new Error('etcd expected');
  const etcd = o.store.etcd;
  const [da, db] = await startAll(o, [a, b]);
  const [ga, gb] = await podBridges([a, b]);
  const marks = [da!.mark(), db!.mark()];
  let dc: OverlayDaemon | undefined;
  await etcd.restart(async () => {
    await Promise.all([da!.waitFor(/event=store-unavailable/, marks[0]), db!.waitFor(/event=store-unavailable/, marks[1])]);
    await pingsAll(t, [a, b], [ga!, gb!]);
    t.true(programs(await kernelState(a), await peerFacts(b)), 'a still programs b while etcd is down');
    // A host (re)booting during the outage waits for the store instead of exiting.
    dc = await o.start(c);
    await dc.waitFor(/event=store-unavailable during="reading the config"/);
  });
  await dc!.ready();
  await converged([a, b, c]);
  const gc = await addPodBridge(c, subnetOf(c));
  await pingsAll(t, [a, b, c], [ga!, gb!, gc]);
  t.is(da!.proc.exitStatus, undefined, 'the daemons kept running');
});

testWhen('root')('two daemons racing for the last free subnet: one wins, the other exits 254 saying "out of subnets"', async (t) => {
  // One subnet in the whole config.
  const o = await overlay(t, 'etcd', 2, { ...OVERLAY_CONFIG, SubnetMin: '198.18.7.0', SubnetMax: '198.18.7.0' });
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const daemons = await Promise.all([o.start(a), o.start(b)]);
  // Whichever loses exits; the other is then ready with the only subnet.
  const deadline = Date.now() + 30_000;
  let loser: OverlayDaemon | undefined;
  while (loser === undefined) {
    loser = daemons.find((d) => d.proc.exitStatus !== undefined);
    if (loser === undefined && Date.now() > deadline) throw new Error(`neither daemon exited:\n${daemons.map((d) => d.log()).join('\n')}`);
    if (loser === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  const winner = daemons.find((d) => d !== loser)!;
  t.is((await winner.ready()).network, parseCidr('198.18.7.0/24')!.network);
  t.deepEqual(await loser.exited(), { code: 254, signal: null });
  t.regex(loser.log(), /out of subnets: every \/24 of 198\.18\.0\.0\/16 between SubnetMin and SubnetMax is leased/);
  t.deepEqual((await leases(o.dir, o.store)).map((r) => [r.subnet, r.publicIp]), [['198.18.7.0/24', winner.host.publicIp]]);
});

testWhen('root')('a stale route, neighbour and FDB entry planted while the daemon was down are removed at start', async (t) => {
  const o = await overlay(t, 'embedded', 2);
  const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
  const [da] = await startAll(o);
  await da!.stop();
  // A host that left while the daemon was down, as flannel would have left it.
  const ghost = { subnet: parseCidr('198.18.250.0/24')!, mac: '02:5e:00:00:00:fa' };
  for (const [cmd, args] of [
    ['ip', ['neigh', 'add', '198.18.250.0', 'lladdr', ghost.mac, 'dev', 'skiff.1', 'nud', 'permanent']],
    ['bridge', ['fdb', 'add', ghost.mac, 'dev', 'skiff.1', 'dst', '198.19.0.250', 'self', 'permanent']],
    ['ip', ['route', 'add', '198.18.250.0/24', 'via', '198.18.250.0', 'dev', 'skiff.1', 'onlink']],
  ] as const) {
    const r = await a.ns.run(cmd, [...args]);
    t.is(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  }
  t.false(forgets(await kernelState(a), ghost.subnet, ghost.mac));
  const again = await o.start(a);
  await again.ready();
  t.regex(again.log(), /event=reconciled peers=1 stale-removed=3/);
  const state = await kernelState(a);
  t.true(forgets(state, ghost.subnet, ghost.mac), JSON.stringify(state));
  t.true(programs(state, await peerFacts(b)));
  await bridgesPing(t, [a, b]);
});

for (const kind of ['etcd', 'embedded'] as const) {
  testWhen('root')(`a watch resumed past a compaction resyncs: changes made while the daemon was stopped are all in its kernel (${kind})`, async (t) => {
    const o = await overlay(t, kind, 2);
    const [a, b] = o.underlay.hosts as [OverlayHost, OverlayHost];
    const [da] = await startAll(o);
    const ops = storeOps(o.dir, o.store);
    // Hosts that exist only in the store: one that will leave, one that will come and go, one that will join.
    const leaving = { subnet: parseCidr('198.18.201.0/24')!, publicIp: '198.19.0.201', mac: '02:5e:00:00:00:c9' };
    const flicker = { subnet: parseCidr('198.18.202.0/24')!, publicIp: '198.19.0.202', mac: '02:5e:00:00:00:ca' };
    const joining = { subnet: parseCidr('198.18.203.0/24')!, publicIp: '198.19.0.203', mac: '02:5e:00:00:00:cb' };
    await ops.put(leaseKey(leaving.subnet), leaseValue(leaving.publicIp, leaving.mac));
    await waitKernel(a, (s) => programs(s, leaving), 'it programs the host that will leave');
    await da!.pause();
    // With etcd, the daemon's watch stream must break while it cannot read it, so that it
    // resumes from its old revision (compacted by then) instead of reading buffered events.
    if (o.store.kind === 'etcd') {
      await o.store.etcd.restart();
    }
    await ops.del(leaseKey(leaving.subnet));
    await ops.put(leaseKey(flicker.subnet), leaseValue(flicker.publicIp, flicker.mac));
    await ops.del(leaseKey(flicker.subnet));
    await ops.put(leaseKey(joining.subnet), leaseValue(joining.publicIp, joining.mac));
    await ops.compact();
    const mark = da!.mark();
    da!.resume();
    await da!.waitFor(/event=reconciled peers=2/, mark);
    await waitKernel(a, (s) => programs(s, joining) && forgets(s, leaving.subnet, leaving.mac) && forgets(s, flicker.subnet, flicker.mac), 'it holds exactly the store\'s hosts');
    t.true(programs(await kernelState(a), await peerFacts(b)));
    const [ga, gb] = await podBridges([a, b]);
    await pingsAll(t, [a, b], [ga!, gb!]);
  });
}

/** A unix datagram socket at `path` (Node has none): each datagram it receives, as one line. */
function notifySocket(t: ExecutionContext, path: string): { datagrams: string[]; listening: Promise<unknown> } {
  const script = 'import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("listening", flush=True)\n' +
    'while True:\n    print(s.recv(4096).decode().replace("\\n", "|"), flush=True)\n';
  const child = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const datagrams: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => datagrams.push(line));
  return { datagrams, listening: once(lines, 'line') };
}

async function httpCode(host: OverlayHost, url: string): Promise<string> {
  return (await host.ns.run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', url])).stdout;
}

testWhen('root')('without a config the daemon waits, saying so (readyz 503), and proceeds once `net config set` stores one (readyz 200, sd_notify READY=1)', async (t) => {
  const o = await overlay(t, 'embedded', 1, null);
  const [a] = o.underlay.hosts as [OverlayHost];
  const notify = notifySocket(t, join(o.dir, 'notify'));
  await notify.listening;
  const d = await o.start(a, ['--healthz-port', '9911'], { NOTIFY_SOCKET: join(o.dir, 'notify') });
  await d.waitFor(/event=waiting-for-config key=\/coreos\.com\/network\/config .*hint="skiff net config set FILE"/);
  t.is(await httpCode(a, 'http://127.0.0.1:9911/healthz'), '200');
  t.is(await httpCode(a, 'http://127.0.0.1:9911/readyz'), '503');
  t.false(notify.datagrams.some((g) => g.includes('READY=1')), 'not ready before the data path is');
  await setConfig(o.dir, o.store);
  const subnet = await d.ready();
  t.is(formatIpv4(subnetOf(a).network), formatIpv4(subnet.network));
  t.is(await httpCode(a, 'http://127.0.0.1:9911/readyz'), '200');
  await d.proc.waitUntil(async () => notify.datagrams.some((g) => g.startsWith('READY=1|STATUS=lease ')), { timeoutMs: 10_000, what: 'READY=1 reaches NOTIFY_SOCKET' });
  t.regex(notify.datagrams.join('\n'), new RegExp(`READY=1\\|STATUS=lease ${formatIpv4(subnet.network)}/24, mtu 1450\\|MAINPID=${d.pid}`));
});

testWhen('root')('bad input: an invalid config is refused (exit 2, naming the field); --iface nosuch exits 2', async (t) => {
  const o = await overlay(t, 'embedded', 1);
  for (const [config, field] of [
    [{ Network: '198.18.0.0/16', Backend: { Type: 'udp' } }, /Backend\.Type is "udp": Skiff's overlay is vxlan only/],
    [{ Network: '198.18.0.0/16', SubnetLen: 31, Backend: { Type: 'vxlan' } }, /SubnetLen 31 is above 30/],
    [{ Backend: { Type: 'vxlan' } }, /Network is missing/],
  ] as const) {
    const r = await skiffNet(o.dir, o.store, ['net', 'config', 'set', '-'], JSON.stringify(config));
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, field);
  }
  t.deepEqual(JSON.parse((await skiffNet(o.dir, o.store, ['net', 'config', 'get'])).stdout), OVERLAY_CONFIG, 'the good config stays');
  const d = await o.start(o.underlay.hosts[0]!, ['--iface', 'nosuch']);
  t.deepEqual(await d.exited(), { code: 2, signal: null });
  t.regex(d.log(), /--iface nosuch: no such link or address on this host/);
});

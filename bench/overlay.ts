/**
 * bench/overlay: what the overlay costs and how fast it converges (issue 9, "Benchmark"), on
 * network namespace "hosts" on a switched underlay (test/support/overlay-hosts.ts: 198.19.0.0/24,
 * pods' space 198.18.0.0/16), real `skiff net daemon` processes, in the same run:
 *
 *  - TCP throughput bridge to bridge (each host's bridge holds its subnet's first address, where
 *    pods' gateway is) across two hosts, iperf3 run in the netns, against the same path built by
 *    hand with `ip` (veth underlay + vxlan + bridge, no Skiff), alternating;
 *  - convergence: from a lease's creation (a create-if-absent with a TTL, as a host writes its own)
 *    to its route, neighbour and FDB entry on a peer's vxlan device (`ip -ts monitor`: the kernel's
 *    notification times), median of 20; and its deletion to their removal;
 *  - 100 simulated hosts joining (100 leases written at once): time from the last write until each
 *    real daemon has programmed all of them;
 *  - 1,000 peers: a daemon started on a store holding 1,000 leases (time to ready and to all
 *    programmed), and a running daemon handed 900 more through its watch;
 *  - daemon memory (VmRSS, VmHWM).
 * Each for the embedded store and for etcd (in the switch's netns on 198.19.0.254); the leases are
 * written by bench/overlay-kv-writer.ts from where the store is reachable.
 *
 * Run as root after `npm run build`: `node dist/bench/overlay.js [embedded|etcd|both]`. Prints a
 * markdown report and writes bench/results/overlay-<date>.md. Everything it creates (netns, etcd,
 * daemons by PID, temp dirs) is removed at the end, also on failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { formatIpv4, parseCidr, type Cidr } from '../network/ipv4.js';
import { openNetlink, type Netlink } from '../network/netlink/index.js';
import { packageRoot } from '../runtime/install-paths.js';
import { startEtcd } from '../test/support/etcd-server.js';
import {
  addPodBridge, makeUnderlay, peerFacts, programs, setConfig, storeArgs, subnetOf, UNDERLAY_GATEWAY, waitKernel,
  type OverlayHost, type OverlayStore,
} from '../test/support/overlay-hosts.js';
import { skiffBin } from '../test/support/skiff-cli.js';
import { has, markdownTable, median } from './bench-util.js';

const which = process.argv[2] ?? 'both';
const CONVERGENCE_RUNS = 20;
const IPERF_RUNS = 5;
const IPERF_SECONDS = 5;
/** /27 leases: 2,048 subnets in the /16, room for 1,000 simulated hosts and the real ones. */
const CONFIG = { Network: '198.18.0.0/16', SubnetLen: 27, Backend: { Type: 'vxlan' } };
/** Simulated hosts take subnets from here up; real daemons pick among the first 100 free ones. */
const FAKE_BASE = 200;

const log = (msg: string): void => void process.stderr.write(`bench/overlay: ${msg}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the bench made, undone last first at the end (test/support's helpers take an ava-like `t`). */
const teardowns: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) };

// ---------------------------------------------------------------- simulated hosts

interface Fake { subnet: Cidr; publicIp: string; mac: string; key: string; value: string }

function fake(i: number): Fake {
  const n = FAKE_BASE + i;
  const subnet = { network: (parseCidr('198.18.0.0/16')!.network + n * 32) >>> 0, prefix: 27 };
  const publicIp = `198.19.${10 + Math.floor(i / 200)}.${(i % 200) + 1}`;
  const mac = `02:5e:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
  const key = `/coreos.com/network/subnets/${formatIpv4(subnet.network)}-27`;
  const value = JSON.stringify({ PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } });
  return { subnet, publicIp, mac, key, value };
}

/** bench/overlay-kv-writer.ts, run where the store is reachable. */
class Writer {
  private readonly lines: Interface;
  private constructor(private readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! });
  }

  static start(dir: string, store: OverlayStore): Writer {
    const script = join(packageRoot(), 'dist', 'bench', 'overlay-kv-writer.js');
    const argv = store.kind === 'etcd'
      ? ['nsenter', `--net=${store.etcd.netnsPath!}`, '--', process.execPath, script, dir, store.etcd.endpoint]
      : [process.execPath, script, dir];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    t.teardown(() => {
      child.stdin!.end();
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    });
    return new Writer(child);
  }

  async send<T>(command: unknown): Promise<T> {
    const answer = once(this.lines, 'line');
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    const [line] = (await answer) as [string];
    return JSON.parse(line) as T;
  }
}

// ---------------------------------------------------------------- daemons

/** A `skiff net daemon` in a host's netns; each stderr line timestamped on arrival. Stopped by PID. */
class Daemon {
  readonly lines: Array<{ at: number; line: string }> = [];
  readonly startedAt: number;
  private readonly child: ChildProcess;
  private readonly exited: Promise<unknown>;

  constructor(dir: string, readonly host: OverlayHost, store: OverlayStore) {
    this.startedAt = now();
    this.child = spawn('nsenter', [`--net=${host.ns.path}`, '--', process.execPath, skiffBin(), '--dir', dir, 'net', 'daemon', '--subnet-file', host.subnetFile, ...storeArgs(store)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SKIFF_NET_'))),
    });
    this.exited = once(this.child, 'exit');
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.lines.push({ at: now(), line }));
    t.teardown(() => this.stop());
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** When the first line matching `re` arrived (bounded wait). */
  async when(re: RegExp, timeoutMs = 60_000): Promise<number> {
    const deadline = now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l.line));
      if (hit !== undefined) return hit.at;
      if (this.child.exitCode !== null) throw new Error(`${this.host.name}'s daemon exited ${this.child.exitCode}:\n${this.lines.map((l) => l.line).join('\n')}`);
      if (now() > deadline) throw new Error(`${this.host.name}'s daemon: no ${re} within ${timeoutMs} ms:\n${this.lines.map((l) => l.line).join('\n')}`);
      await sleep(2);
    }
  }

  /** kB from /proc/PID/status. */
  memory(): { rssKb: number; hwmKb: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    process.kill(this.pid, 'SIGTERM');
    const gone = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
    if (!gone) {
      process.kill(this.pid, 'SIGKILL');
      await this.exited;
    }
  }
}

// ---------------------------------------------------------------- kernel observation

/** Routes on the host's skiff.1 (what a daemon programs last for each peer), counted by dump. */
async function peerRoutes(nl: Netlink, device: number): Promise<number> {
  return (await nl.listRoutes()).filter((r) => r.index === device && r.gateway !== undefined).length;
}

/** Polls (every 5 ms, bounded) until the host has `count` peer routes; when that was seen. */
async function whenRoutes(nl: Netlink, device: number, count: number, timeoutMs = 120_000): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if ((await peerRoutes(nl, device)) >= count) return now();
    if (now() > deadline) throw new Error(`fewer than ${count} peer routes after ${timeoutMs} ms (${await peerRoutes(nl, device)})`);
    await sleep(5);
  }
}

/** `ip -ts monitor route neigh` in a host: each line with the kernel notification's time (the monitor's clock, local time, µs). */
class Monitor {
  readonly events: Array<{ at: number; line: string }> = [];
  private readonly child: ChildProcess;
  constructor(host: OverlayHost) {
    this.child = spawn('nsenter', [`--net=${host.ns.path}`, '--', 'ip', '-ts', 'monitor', 'route', 'neigh'], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (.*)$/.exec(line);
      if (m !== null) this.events.push({ at: new Date(m[1]!).getTime() + Number(m[2]) / 1000, line: m[3]! });
    });
    t.teardown(() => { if (this.child.exitCode === null) process.kill(this.child.pid!, 'SIGKILL'); });
  }

  /** Waits (bounded) until the three entries of `f` were added (or, `deleted`, removed); the last one's time. */
  async programmed(f: Fake, deleted = false, timeoutMs = 30_000): Promise<number> {
    const net = formatIpv4(f.subnet.network);
    const ipRe = f.publicIp.replace(/\./g, '\\.');
    // A deleted neighbour is reported without its lladdr (FAILED, then Deleted).
    const want = deleted
      ? [new RegExp(`^Deleted ${net} dev skiff\\.1 `), new RegExp(`^Deleted ${ipRe} dev skiff\\.1 lladdr ${f.mac}`), new RegExp(`^Deleted ${net}/27 via ${net} dev skiff\\.1 onlink`)]
      : [
        new RegExp(`^${net} dev skiff\\.1 lladdr ${f.mac} PERMANENT`),
        new RegExp(`^${ipRe} dev skiff\\.1 lladdr ${f.mac}( NOARP)? PERMANENT`),
        new RegExp(`^${net}/27 via ${net} dev skiff\\.1 onlink`),
      ];
    const deadline = now() + timeoutMs;
    for (;;) {
      const hits = want.map((re) => this.events.find((e) => re.test(e.line))?.at);
      if (hits.every((h) => h !== undefined)) return Math.max(...(hits as number[]));
      if (now() > deadline) throw new Error(`monitor: not all of ${want.join(', ')} within ${timeoutMs} ms (seen: ${hits.join(', ')}; lines: ${this.events.filter((e) => e.line.includes(f.mac) || e.line.includes(net)).map((e) => e.line).join(' | ')})`);
      await sleep(2);
    }
  }
}

// ---------------------------------------------------------------- throughput

function iperfGbits(json: string): number {
  return (JSON.parse(json) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
}

async function iperf(server: OverlayHost, serverIp: string, client: OverlayHost, clientIp: string): Promise<number> {
  const s = spawn('nsenter', [`--net=${server.ns.path}`, '--', 'iperf3', '-s', '-1', '--forceflush', '-B', serverIp], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(s, 'exit');
  const lines = createInterface({ input: s.stdout! });
  await new Promise<void>((resolve) => lines.on('line', (line) => { if (/listening/i.test(line)) resolve(); }));
  const c = spawnSync('nsenter', [`--net=${client.ns.path}`, '--', 'iperf3', '-c', serverIp, '-B', clientIp, '-t', String(IPERF_SECONDS), '-J'], { encoding: 'utf8', timeout: 60_000 });
  if (c.status !== 0) {
    process.kill(s.pid!, 'SIGKILL');
    throw new Error(`iperf3 client: ${c.stderr || c.stdout}`);
  }
  await exited;
  return iperfGbits(c.stdout);
}

async function ipIn(host: OverlayHost, args: string[]): Promise<void> {
  const r = await host.ns.run(args[0]!, args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(' ')} in ${host.name}: ${r.stderr}`);
}

/** Two hosts on their own underlay, their vxlan path programmed by hand as flannel would (VNI 1, port 8472, nolearning, MTU 1450). */
async function handBuilt(dir: string): Promise<[{ host: OverlayHost; ip: string }, { host: OverlayHost; ip: string }]> {
  const u = await makeUnderlay(t, dir, 2);
  const subnets = [parseCidr('198.18.61.0/27')!, parseCidr('198.18.62.0/27')!];
  const macs = ['02:5e:00:00:ee:01', '02:5e:00:00:ee:02'];
  for (const [i, h] of u.hosts.entries()) {
    const net = formatIpv4(subnets[i]!.network);
    await ipIn(h, ['ip', 'link', 'add', 'vxhand', 'address', macs[i]!, 'mtu', '1450', 'type', 'vxlan', 'id', '1', 'local', h.publicIp, 'dev', 'under0', 'dstport', '8472', 'nolearning']);
    await ipIn(h, ['ip', 'addr', 'add', `${net}/32`, 'dev', 'vxhand']);
    await ipIn(h, ['ip', 'link', 'set', 'vxhand', 'up']);
    const j = 1 - i;
    const peerNet = formatIpv4(subnets[j]!.network);
    await ipIn(h, ['ip', 'neigh', 'add', peerNet, 'lladdr', macs[j]!, 'dev', 'vxhand', 'nud', 'permanent']);
    await ipIn(h, ['bridge', 'fdb', 'add', macs[j]!, 'dev', 'vxhand', 'dst', u.hosts[j]!.publicIp, 'self', 'permanent']);
    await ipIn(h, ['ip', 'route', 'add', `${peerNet}/27`, 'via', peerNet, 'dev', 'vxhand', 'onlink']);
  }
  const ends = await Promise.all(u.hosts.map(async (h, i) => ({ host: h, ip: await addPodBridge(h, subnets[i]!) })));
  return ends as [{ host: OverlayHost; ip: string }, { host: OverlayHost; ip: string }];
}

// ---------------------------------------------------------------- one store

const ms = (x: number) => x.toFixed(1);
const mb = (kb: number) => (kb / 1024).toFixed(1);

async function benchStore(kind: 'embedded' | 'etcd', lines: string[], measureThroughput: boolean): Promise<void> {
  const dir = mkdtempSync(join(process.env['SKIFF_BENCH_DIR'] ?? tmpdir(), `skiff-bench-ovl-${kind}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const u = await makeUnderlay(t, dir, 2);
  let store: OverlayStore = { kind: 'embedded' };
  if (kind === 'etcd') {
    const etcd = await startEtcd({ netns: { path: u.switchNs.path, ip: UNDERLAY_GATEWAY } });
    t.teardown(() => etcd.stop());
    store = { kind: 'etcd', etcd };
  }
  await setConfig(dir, store, CONFIG);
  const [h1, h2] = u.hosts as [OverlayHost, OverlayHost];
  const d1 = new Daemon(dir, h1, store);
  const d2 = new Daemon(dir, h2, store);
  await Promise.all([d1.when(/event=ready/), d2.when(/event=ready/)]);
  const [f1, f2] = await Promise.all([peerFacts(h1), peerFacts(h2)]);
  await Promise.all([waitKernel(h1, (s) => programs(s, f2), 'h1 programs h2'), waitKernel(h2, (s) => programs(s, f1), 'h2 programs h1')]);
  const idle = d1.memory();
  const startMs = (await d1.when(/event=ready/)) - d1.startedAt;
  lines.push(`## ${kind === 'etcd' ? 'etcd 3.4 (in the switch netns)' : 'Embedded store (shared --dir)'}`, '');
  lines.push(`Daemon start to ready (Node start-up included, 2 hosts): ${ms(startMs)} ms; RSS ${mb(idle.rssKb)} MB with one peer.`, '');

  if (measureThroughput) {
    const [b1, b2] = await Promise.all([addPodBridge(h1, subnetOf(h1)), addPodBridge(h2, subnetOf(h2))]);
    const [ha, hb] = await handBuilt(dir);
    const skiff: number[] = [];
    const hand: number[] = [];
    for (let i = 0; i < IPERF_RUNS; i++) {
      skiff.push(await iperf(h2, b2, h1, b1));
      hand.push(await iperf(hb.host, hb.ip, ha.host, ha.ip));
    }
    const s = median(skiff);
    const h = median(hand);
    lines.push(`### TCP throughput bridge to bridge across two hosts (iperf3, ${IPERF_SECONDS} s, median of ${IPERF_RUNS}, alternating)`, '',
      markdownTable(['path', 'Gbit/s', 'runs'], [
        ['Skiff overlay (skiff.1, programmed by the daemons)', s.toFixed(2), skiff.map((x) => x.toFixed(2)).join(' ')],
        ['hand-built veth + vxlan + bridge (ip)', h.toFixed(2), hand.map((x) => x.toFixed(2)).join(' ')],
      ]), '', `Skiff ÷ hand-built: ${(s / h).toFixed(3)} (goal ≥ 0.95).`, '');
  }

  // Convergence, one lease at a time.
  const writer = Writer.start(dir, store);
  const monitor = new Monitor(h1);
  const added: number[] = [];
  const addedAfterAck: number[] = [];
  const removed: number[] = [];
  for (let i = 0; i < CONVERGENCE_RUNS; i++) {
    const f = fake(i);
    const w = await writer.send<{ before: number; after: number }>({ op: 'put', key: f.key, value: f.value });
    const at = await monitor.programmed(f);
    added.push(at - w.before);
    addedAfterAck.push(at - w.after);
    const d = await writer.send<{ before: number; after: number }>({ op: 'del', key: f.key });
    removed.push((await monitor.programmed(f, true)) - d.before);
    await sleep(20);
  }
  lines.push(`### Convergence on a peer (${CONVERGENCE_RUNS} leases, one at a time; kernel notification times from \`ip -ts monitor\`)`, '',
    markdownTable(['from', 'to', 'median ms', 'min ms', 'max ms'], [
      ['lease write starts', 'route, neighbour and FDB entry added', ms(median(added)), ms(Math.min(...added)), ms(Math.max(...added))],
      ['lease write acknowledged', 'all three added', ms(median(addedAfterAck)), ms(Math.min(...addedAfterAck)), ms(Math.max(...addedAfterAck))],
      ['lease delete starts', 'all three removed', ms(median(removed)), ms(Math.min(...removed)), ms(Math.max(...removed))],
    ]), '', `Goal: < 20 ms median (${median(added) < 20 ? 'met' : 'missed'}).`, '');

  // 100 simulated hosts join at once.
  const nl1 = await openNetlink({ netnsPath: h1.ns.path });
  const nl2 = await openNetlink({ netnsPath: h2.ns.path });
  t.teardown(() => { nl1.close(); nl2.close(); });
  const dev1 = (await nl1.getLink('skiff.1')).index;
  const dev2 = (await nl2.getLink('skiff.1')).index;
  const hundred = Array.from({ length: 100 }, (_, i) => fake(100 + i));
  const burst = await writer.send<{ first: number; last: number }>({ op: 'many', entries: hundred.map((f) => [f.key, f.value]), concurrency: 16 });
  const [all1, all2] = await Promise.all([whenRoutes(nl1, dev1, 101), whenRoutes(nl2, dev2, 101)]);
  lines.push('### 100 simulated hosts joining at once (100 leases written, 16 at a time)', '',
    markdownTable(['what', 'ms'], [
      ['writing the 100 leases (first to last)', ms(burst.last - burst.first)],
      ['last lease written → h1 has programmed all 101 peers', ms(all1 - burst.last)],
      ['last lease written → h2 has programmed all 101 peers', ms(all2 - burst.last)],
    ]), '', `Goal: < 1 s after the last join (${Math.max(all1, all2) - burst.last < 1000 ? 'met' : 'missed'}). Route count polled every 5 ms by netlink dumps.`, '');

  // 1,000 peers: h1 restarts onto a store of 1,000 leases; h2 gets the 900 new ones through its watch.
  await d1.stop();
  const more = Array.from({ length: 900 }, (_, i) => fake(200 + i));
  const burst2 = await writer.send<{ first: number; last: number }>({ op: 'many', entries: more.map((f) => [f.key, f.value]), concurrency: 16 });
  const watchAll = await whenRoutes(nl2, dev2, 1001);
  const d1b = new Daemon(dir, h1, store);
  const ready = await d1b.when(/event=ready/, 120_000);
  const device = await d1b.when(/event=device/);
  const leased = await d1b.when(/event=lease-acquired/);
  const restartAll = await whenRoutes(nl1, dev1, 1001);
  const m1 = d1b.memory();
  const m2 = d2.memory();
  lines.push('### 1,000 peers', '',
    markdownTable(['what', 'ms'], [
      ['h2 (running): 900 more leases written (first to last)', ms(burst2.last - burst2.first)],
      ['h2: last of them written → all 1,001 peers programmed (watch)', ms(watchAll - burst2.last)],
      ['h1 restarted onto 1,001 leases: spawn → device ready (Node start, config, device)', ms(device - d1b.startedAt)],
      ['h1: device → lease acquired (list of 1,001 leases, reuse)', ms(leased - device)],
      ['h1: lease acquired → ready (1,001 peers reconciled and programmed)', ms(ready - leased)],
      ['h1: spawn → all 1,001 routes seen', ms(restartAll - d1b.startedAt)],
    ]), '', `Goal: 1,000 peers programmed < 2 s (reconcile at start: ${ms(ready - leased)} ms, ${ready - leased < 2000 ? 'met' : 'missed'}; through the watch: ${ms(watchAll - burst2.last)} ms after the last write).`, '');
  lines.push('### Daemon memory', '',
    markdownTable(['daemon', 'VmRSS MB', 'VmHWM MB'], [
      ['h1, 1 peer', mb(idle.rssKb), mb(idle.hwmKb)],
      ['h1, restarted onto 1,001 peers', mb(m1.rssKb), mb(m1.hwmKb)],
      ['h2, 1,001 peers after 1,000 watch events', mb(m2.rssKb), mb(m2.hwmKb)],
    ]), '', `Goal: ≤ 50 MB RSS (${Math.max(m1.rssKb, m2.rssKb) <= 50 * 1024 ? 'met' : 'missed'}).`, '');
}

async function main(): Promise<void> {
  const startLoad = loadavg().map((x) => x.toFixed(1)).join(' ');
  if (!has('iperf3')) throw new Error('iperf3 is not installed (apt-get install iperf3)');
  const lines: string[] = [];
  try {
    const kinds = which === 'both' ? (['embedded', 'etcd'] as const) : [which as 'embedded' | 'etcd'];
    for (const [i, kind] of kinds.entries()) {
      log(`${kind} store`);
      await benchStore(kind, lines, i === 0);
      while (teardowns.length > 0) await teardowns.pop()!();
    }
  } finally {
    while (teardowns.length > 0) await Promise.resolve(teardowns.pop()!()).catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
  const date = new Date().toISOString().slice(0, 10);
  const head = [`# bench/overlay, ${date}`, '', `Linux ${release()}, Node ${process.version}; hosts are netns on one machine (2 shared cores; load average at the start ${startLoad}, at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}).`, ''];
  const report = [...head, ...lines].join('\n');
  process.stdout.write(`${report}\n`);
  const out = join(packageRoot(), 'bench', 'results', `overlay-${date}.md`);
  writeFileSync(out, `${report}\n`);
  log(`report written to ${out}`);
}

await main();

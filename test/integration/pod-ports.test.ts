/**
 * `--port` through `skiff run` (network/port-forward.ts; the rules go in and out through stage1's
 * host hooks): a pod's port reachable from another "host" and from the test host's own localhost,
 * tcp and udp, both flag forms; rules and claims gone after exit and after kill -9 + gc; a taken
 * host port refused with nothing wired, on the CLI path and on a replayed run alike. Every store
 * runs skiff inside a throwaway netns "host" of its own (podStore's network option), pods on
 * 198.18.0.0/16; the other host is one more netns on 198.19.0.0/16 behind a veth.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { testNetns, type Netns } from '../support/netns.js';
import { probeBinary } from '../support/probe-binary.js';
import { PROBE_CONFIG, probeRootfs } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { runSkiff } from '../support/skiff-cli.js';

const TRACE = { SKIFF_LAUNCH_TRACE: '1' };

type Store = PodStore & { host: NonNullable<PodStore['host']>; ports: string };

/** A network store whose port claims live in its own temp dir. */
async function portStore(t: ExecutionContext): Promise<Store> {
  const s = (await podStore(t, { network: true })) as Store;
  s.ports = join(s.dir, '..', 'ports');
  // The store's env object is the one its skiff calls (and its teardown's gc) use.
  s.env['SKIFF_PORTS_DIR'] = s.ports;
  return s;
}

/** "Another host": a netns behind a veth from the test host, 198.19.N.1 (host side) and .2 (there). */
async function otherHost(t: ExecutionContext, s: Store): Promise<{ ns: Netns; hostIp: string }> {
  const other = await testNetns(t, 'sko');
  const third = s.host.subnet;
  for (const [ns, args] of [
    [s.host.netns, ['link', 'add', 'skpt0', 'type', 'veth', 'peer', 'name', 'skpt1', 'netns', other.name]],
    [s.host.netns, ['addr', 'add', `198.19.${third}.1/24`, 'dev', 'skpt0']], [s.host.netns, ['link', 'set', 'skpt0', 'up']],
    [other, ['addr', 'add', `198.19.${third}.2/24`, 'dev', 'skpt1']], [other, ['link', 'set', 'skpt1', 'up']],
  ] as const) {
    const r = await ns.run('ip', [...args]);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
  return { ns: other, hostIp: `198.19.${third}.1` };
}

/** One fetch (tcp) or datagram exchange (udp) with the probe, from inside `ns`. */
async function fetchFrom(ns: Netns, ip: string, port: number, udp = false, timeoutMs = 2000): Promise<Record<string, unknown>> {
  const r = await ns.run(await probeBinary(), [udp ? 'udp-fetch' : 'fetch', ip, String(port), String(timeoutMs)]);
  return JSON.parse(r.stdout.split('\n')[0] || '{}') as Record<string, unknown>;
}

/** Fetches until one succeeds (the app may not listen yet when the pod counts as running); the last result after 30 s. */
async function reach(ns: Netns, ip: string, port: number, udp = false): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await fetchFrom(ns, ip, port, udp);
    if (r['ok'] === true || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The nat and filter rules of the test host (iptables-save). */
async function rules(s: Store): Promise<string> {
  const r = await s.host.netns.run('iptables-save', []);
  return r.stdout;
}

const claims = (s: Store) => (existsSync(s.ports) ? readdirSync(s.ports) : []);
const ipamFiles = (s: Store) => {
  const dir = join(s.dir, '..', 'ipam', 'default');
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
};

async function statusOf(s: Store, uuid: string): Promise<Record<string, any>> {
  return JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as Record<string, any>;
}

test('HOSTPORT:PODPORT: tcp reachable from another host, from localhost, the host\'s own address and a neighbour pod (hairpin); udp too; gone after exit', async (t) => {
  const s = await portStore(t);
  const other = await otherHost(t, s);
  // Without br_netfilter's help (hosts that do not load it; per netns, this host netns only): a bridged reply would skip the un-DNAT.
  if (existsSync('/proc/sys/net/bridge')) t.is((await s.host.netns.run('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0'])).code, 0);
  const pod = s.start(['run', '--net=default', '--port=18080:80', '--port=15353:53/udp', s.image,
    '--exec', '/probe', '--', 'serve', '80', 'pong', '---', s.image, '--name', 'dns', '--exec', '/probe', '--', 'udp-serve', '53', 'pung']);
  const uuid = await waitRunning(s, 60_000);
  t.like(await reach(other.ns, other.hostIp, 18080), { ok: true, data: 'pong\n' }, 'from another host');
  t.like(await reach(s.host.netns, '127.0.0.1', 18080), { ok: true, data: 'pong\n' }, 'from the host\'s localhost (rkt#1256)');
  t.like(await reach(s.host.netns, other.hostIp, 18080), { ok: true, data: 'pong\n' }, 'from the host, to its own address');
  const neighbour = await s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'fetch', `198.18.${s.host.subnet}.1`, '18080', '5000']);
  t.like(JSON.parse(neighbour.stdout.split('\n')[0] || '{}'), { ok: true, data: 'pong\n' }, 'from another pod on the bridge, through the host\'s address (hairpin)');
  t.like(await reach(other.ns, other.hostIp, 15353, true), { ok: true, data: 'pung' }, 'udp from another host');
  t.like(await reach(s.host.netns, '127.0.0.1', 15353, true), { ok: true, data: 'pung' }, 'udp from localhost');
  const status = await statusOf(s, uuid);
  t.deepEqual(status['ports'], [{ protocol: 'tcp', hostPort: 18080, podPort: 80 }, { protocol: 'udp', hostPort: 15353, podPort: 53 }]);
  t.regex((await s.skiff(['status', uuid])).stdout, /^ports=0\.0\.0\.0:18080->80\/tcp,0\.0\.0\.0:15353->53\/udp$/m);
  const nat = await rules(s);
  t.regex(nat, new RegExp(`-A SKIFF-DNAT -p tcp -m tcp --dport 18080 -m comment --comment "skiff:${uuid}" -j DNAT --to-destination 198\\.18\\.${s.host.subnet}\\.2:80`));
  t.deepEqual(claims(s).sort(), ['tcp-18080', 'udp-15353']);
  t.is((await s.skiff(['stop', uuid])).code, 0);
  await pod.exited;
  t.notRegex(await rules(s), new RegExp(`skiff:${uuid}`), 'the pod\'s rules went with it');
  t.deepEqual(claims(s), [], 'and its claims');
  t.like(await fetchFrom(other.ns, other.hostIp, 18080), { ok: false });
});

test('NAME:[HOSTIP:]HOSTPORT: the image\'s ExposedPorts named PORT-PROTO; an unknown name lists them', async (t) => {
  const s = await portStore(t);
  const layout = join(s.dir, '..', 'ports-layout');
  const image = buildImage({ layers: [buildLayer(await probeRootfs())], config: { ...PROBE_CONFIG, ExposedPorts: { '80/tcp': {}, '53/udp': {} } } });
  await writeOciLayout(layout, [{ ref: 'ports', image }]);
  t.is((await s.skiff(['fetch', '--quiet', `oci:${layout}:ports`])).code, 0);
  const ref = `oci:${layout}:ports`;
  const unknown = await s.skiff(['run', '--net=default', '--port=web:18081', ref, '--exec', '/probe', '--', 'exit', '0']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /--port web:18081: the pod's images expose no port named "web"/);
  t.regex(unknown.stderr, /their ports: 53-udp, 80-tcp/);
  const pod = s.start(['run', '--net=default', '--port=80-tcp:127.0.0.1:18081', ref, '--exec', '/probe', '--', 'serve', '80', 'named']);
  const uuid = await waitRunning(s, 60_000);
  t.like(await reach(s.host.netns, '127.0.0.1', 18081), { ok: true, data: 'named\n' });
  t.deepEqual((await statusOf(s, uuid))['ports'], [{ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 18081, podPort: 80, name: '80-tcp' }]);
  const other = await otherHost(t, s);
  t.like(await fetchFrom(other.ns, other.hostIp, 18081), { ok: false }, 'bound to 127.0.0.1: not from another host');
  t.is((await s.skiff(['stop', uuid])).code, 0);
  await pod.exited;
  t.deepEqual(claims(s), []);
});

test('kill -9 of stage1: its rules and claims stay until gc, which removes them (by its comment when the recorded down cannot match)', async (t) => {
  const s = await portStore(t);
  for (const lose of [false, true]) {
    const pod = s.start(['run', '--net=default', '--port=18082:80', s.image, '--exec', '/probe', '--', 'serve', '80', 'pong']);
    const uuid = await waitRunning(s, 60_000);
    pod.child.kill('SIGKILL');
    await pod.exited;
    t.regex(await rules(s), new RegExp(`skiff:${uuid}`), 'a killed stage1 could not remove its rule');
    t.deepEqual(claims(s), ['tcp-18082']);
    // Without net-info.json the recorded down's {ip:default} is empty and matches nothing.
    if (lose) rmSync(join(s.dir, 'pods', 'run', uuid, 'net-info.json'));
    t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
    t.notRegex(await rules(s), new RegExp(`skiff:${uuid}`), lose ? 'gc found the rule by its comment' : 'gc ran the recorded host-down');
    t.deepEqual(claims(s), []);
    t.deepEqual(ipamFiles(s), []);
  }
});

test('a host port another pod forwards: exit 254, one line naming the port and the pod, nothing wired; CLI and replayed runs alike', async (t) => {
  const s = await portStore(t);
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  const once = ['--dir', s.dir, 'run', '--net=default', '--port=18083:80', s.image, '--exec', '/probe', '--', 'serve', '80', 'replayed', '--once'];
  const other = await otherHost(t, s);
  // The CLI records a plan; the same command then replays it, hooks and all.
  for (const expected of ['node', 'replay']) {
    const run = runSkiff(once, opts);
    await waitRunning(s, 60_000);
    t.like(await reach(other.ns, other.hostIp, 18083), { ok: true, data: 'replayed\n' });
    const r = await run;
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${expected} `, 'm'));
  }
  t.deepEqual(claims(s), []);
  // A CLI pod holds the port: the CLI refuses another, and so does stage1 on a replayed run.
  const holder = s.start(['run', '--net=default', '--port=18083:80', s.image, '--exec', '/probe', '--', 'serve', '80', 'holder']);
  const holderUuid = await waitRunning(s, 60_000);
  const before = { rules: (await rules(s)).split('\n').filter((l) => l.includes('SKIFF-DNAT -p')).length, ipam: ipamFiles(s).length };
  const cli = await s.skiff(['run', '--net=default', '--port=18083:8080', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(cli.code, 254);
  t.is(cli.stderr.trim().split('\n').length, 1, cli.stderr);
  t.regex(cli.stderr, new RegExp(`host port 18083/tcp is taken by pod ${holderUuid}`));
  const replayed = await runSkiff(once, opts);
  t.regex(replayed.stderr, /^skiff launch: replay /m);
  t.is(replayed.code, 254);
  t.regex(replayed.stderr, new RegExp(`ports: host port 18083/tcp is taken by pod ${holderUuid}`));
  t.is(replayed.stderr.split('\n').filter((l) => l.startsWith('skiff-stage1:')).length, 1, replayed.stderr);
  const after = { rules: (await rules(s)).split('\n').filter((l) => l.includes('SKIFF-DNAT -p')).length, ipam: ipamFiles(s).length };
  t.deepEqual(after, before, 'neither refused run added a rule or took an address');
  t.like(await reach(other.ns, other.hostIp, 18083), { ok: true, data: 'holder\n' }, 'the holder still gets its traffic');
  t.is((await s.skiff(['stop', holderUuid])).code, 0);
  await holder.exited;
  // The replayed pod holds it now: the CLI is refused.
  const replayHolder = runSkiff(once, opts);
  const replayUuid = await waitRunning(s, 60_000);
  const refused = await s.skiff(['run', '--net=default', '--port=18083:80', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(refused.code, 254);
  t.regex(refused.stderr, new RegExp(`host port 18083/tcp is taken by pod ${replayUuid}`));
  t.like(await reach(other.ns, other.hostIp, 18083), { ok: true, data: 'replayed\n' });
  t.regex((await replayHolder).stderr, /^skiff launch: replay /m);
  t.deepEqual(claims(s), []);
});

test('--port needs a pod network: with --net=none or host it is a usage error, before anything is made', async (t) => {
  const s = await portStore(t);
  for (const net of ['none', 'host']) {
    const r = await s.skiff(['run', `--net=${net}`, '--port=18084:80', s.image, '--exec', '/probe', '--', 'exit', '0']);
    t.is(r.code, 2);
    t.regex(r.stderr, new RegExp(`--port needs a pod network to forward to, not --net=${net}`));
  }
  t.false(existsSync(join(s.dir, 'pods', 'run')) && readdirSync(join(s.dir, 'pods', 'run')).length > 0);
});

test('prepare --port: a bare run-prepared of the pod is replayed and forwards the port; the manifest keeps it', async (t) => {
  const s = await portStore(t);
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  // A first forwarding pod sets up the host (bridge, chains, route_localnet), which the prepared plan checks.
  const first = await s.skiff(['run', '--net=default', '--port=18085:80', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(first.code, 0, first.stderr);
  const prepared = await runSkiff(['--dir', s.dir, 'prepare', '--net=default', '--port=18085:80', s.image, '--exec', '/probe', '--', 'serve', '80', 'prepared', '--once'], opts);
  t.is(prepared.code, 0, prepared.stderr);
  const uuid = prepared.stdout.trim();
  t.deepEqual((await statusOf(s, uuid))['ports'], [{ protocol: 'tcp', hostPort: 18085, podPort: 80 }]);
  const run = runSkiff(['--dir', s.dir, 'run-prepared', uuid], opts);
  t.like(await reach(s.host.netns, '127.0.0.1', 18085), { ok: true, data: 'prepared\n' });
  const r = await run;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^skiff launch: replay /m);
  t.notRegex(await rules(s), new RegExp(`skiff:${uuid}`));
  t.deepEqual(claims(s), []);
});

test('route_localnet lets no pod reach the host\'s localhost services: packets to 127.0.0.0/8 from the bridge are dropped', async (t) => {
  const s = await portStore(t);
  const pod = s.start(['run', '--net=default', '--port=18086:80', s.image, '--exec', '/probe', '--', 'serve', '80', 'pong']);
  const uuid = await waitRunning(s, 60_000);
  t.like(await reach(s.host.netns, '127.0.0.1', 18086), { ok: true, data: 'pong\n' }, 'route_localnet is on: localhost forwarding works');
  // A hostile "pod": a netns on the bridge that routes 127.0.0.1 to the gateway (what a pod with
  // CAP_NET_RAW can send by hand), against a service the host binds to 127.0.0.1 only.
  const evil = await testNetns(t, 'ske');
  const gw = `198.18.${s.host.subnet}.1`;
  for (const [ns, args] of [
    [s.host.netns, ['link', 'add', 'skev0', 'type', 'veth', 'peer', 'name', 'skev1', 'netns', evil.name]],
    [s.host.netns, ['link', 'set', 'skev0', 'master', 'skiff0', 'up']],
    [evil, ['addr', 'add', `198.18.${s.host.subnet}.250/24`, 'dev', 'skev1']], [evil, ['link', 'set', 'skev1', 'up']],
    [evil, ['route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local']],
    [evil, ['route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']],
    [evil, ['route', 'add', '127.0.0.1/32', 'via', gw, 'dev', 'skev1']],
  ] as const) t.is((await ns.run('ip', [...args])).code, 0, args.join(' '));
  for (const key of ['all', 'skev1']) t.is((await evil.run('sysctl', ['-qw', `net.ipv4.conf.${key}.route_localnet=1`])).code, 0);
  const dropped = async () => {
    const r = await s.host.netns.run('iptables', ['-w', '-t', 'filter', '-L', 'SKIFF-INPUT', '-v', '-x', '-n']);
    return Number(/^\s*(\d+)\s+\d+\s+DROP\b/m.exec(r.stdout)?.[1] ?? NaN);
  };
  const before = await dropped();
  // A port the host serves on 127.0.0.1 only (no forward): what route_localnet must not open.
  const local = s.host.netns.spawn(await probeBinary(), ['serve', '18087', 'host-secret', '--bind', '127.0.0.1'], { stdio: 'ignore' });
  t.teardown(() => { if (local.exitCode === null) local.kill('SIGKILL'); });
  t.like(await reach(s.host.netns, '127.0.0.1', 18087), { ok: true, data: 'host-secret\n' });
  t.like(await fetchFrom(evil, '127.0.0.1', 18087, false, 1000), { ok: false });
  t.true((await dropped()) > before, 'the hostile packets met the drop rule');
  // The control: without the drop rule the host's localhost service answers the hostile pod.
  const answers = ['OUTPUT', '-d', `198.18.${s.host.subnet}.250`, '-p', 'tcp', '--sport', '18087'];
  t.is((await s.host.netns.run('iptables', ['-w', '-t', 'filter', '-F', 'SKIFF-INPUT'])).code, 0);
  t.is((await s.host.netns.run('iptables', ['-w', '-t', 'filter', '-I', ...answers])).code, 0);
  await fetchFrom(evil, '127.0.0.1', 18087, false, 1000);
  const counted = await s.host.netns.run('iptables', ['-w', '-t', 'filter', '-L', 'OUTPUT', '-v', '-x', '-n']);
  t.true(Number(/^\s*(\d+)\s+\d+\s.*spt:18087/m.exec(counted.stdout)?.[1] ?? 0) > 0, counted.stdout);
  t.is((await s.skiff(['stop', uuid])).code, 0);
  await pod.exited;
});

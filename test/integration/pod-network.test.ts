/**
 * `--net` through `skiff run`, on the CLI path and replayed: the default network (bridge,
 * address, default route, NAT), named networks, default-restricted, status and list, IPAM under
 * concurrency, teardown after exit and after kill -9, a bridge deleted before a replayed run.
 * Every store here runs skiff inside a throwaway netns "host" of its own (podStore's network
 * option: nsenter --net), with networks on 198.18.0.0/16; the "internet" is one more netns on
 * 198.19.0.0/16. The machine's own namespace is never touched.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { testNetns } from '../support/netns.js';
import { probeBinary } from '../support/probe-binary.js';

const TRACE = { SKIFF_LAUNCH_TRACE: '1' };

function info(stdout: string): Record<string, any> {
  return JSON.parse(stdout.split('\n')[0] ?? '') as Record<string, any>;
}

async function networkStore(t: ExecutionContext): Promise<PodStore & { host: NonNullable<PodStore['host']> }> {
  const s = await podStore(t, { network: true });
  return s as PodStore & { host: NonNullable<PodStore['host']> };
}

const ipamFiles = (s: PodStore, name = 'default') => {
  const dir = join(s.dir, '..', 'ipam', name);
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
};

async function hostLinks(s: PodStore): Promise<string[]> {
  const r = await s.host!.netns.run('ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(': ')[1]!.split('@')[0]!);
}

const podVeths = async (s: PodStore) => (await hostLinks(s)).filter((l) => /^sk[0-9a-f]{12}\d$/.test(l));

test('--net=default is the default: eth0 on the bridge, the first address, a default route; the same when replayed', async (t) => {
  const s = await networkStore(t);
  const args = ['--insecure-options=none', 'run', s.image, '--exec', '/probe', '--', 'info'];
  const env = { ...s.env, SKIFF_NET: '' };
  const runs = [];
  for (const expected of ['node', 'replay']) {
    const { runSkiff } = await import('../support/skiff-cli.js');
    const r = await runSkiff(['--dir', s.dir, ...args], { env: { ...env, ...TRACE }, netns: s.host.netns.path });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${expected} `, 'm'));
    runs.push(info(r.stdout));
  }
  for (const p of runs) {
    const eth0 = (p.interfaces as Array<{ name: string; addresses: string[]; mtu: number }>).find((i) => i.name === 'eth0');
    t.deepEqual(eth0?.addresses.filter((a) => a.includes('.')), [`198.18.${s.host.subnet}.2/24`], 'each run gets .2 again: the first pod released it');
    t.true((p.routes as Array<{ dest: string; gateway: string }>).some((r) => r.dest === '0.0.0.0' && r.gateway === `198.18.${s.host.subnet}.1`));
  }
  t.true((await hostLinks(s)).includes('skiff0'), 'the bridge is in the test host netns');
  t.deepEqual(ipamFiles(s), [], 'both addresses released');
});

test('status and list show the networks with address, interface, MAC and gateway', async (t) => {
  const s = await networkStore(t);
  s.start(['run', '--net=default', s.image, '--exec', '/probe', '--', 'sleep', '600']); // stopped below: a loaded host must not end it mid-test
  const uuid = await waitRunning(s, 60_000);
  const status = JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { networks: Array<Record<string, string>> };
  t.like(status.networks[0], { name: 'default', ifName: 'eth0', ip: `198.18.${s.host.subnet}.2`, gateway: `198.18.${s.host.subnet}.1` });
  t.regex(status.networks[0]?.['mac'] ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  t.regex((await s.skiff(['list'])).stdout, new RegExp(`default:ip4=198\\.18\\.${s.host.subnet}\\.2`));
  t.regex((await s.skiff(['status', uuid])).stdout, new RegExp(`^networks=default:ip4=198\\.18\\.${s.host.subnet}\\.2$`, 'm'));
  t.deepEqual(ipamFiles(s), [`198.18.${s.host.subnet}.2`]);
  t.is((await s.skiff(['stop', uuid])).code, 0);
});

test('/etc/hosts names the pod by its own address on its first network; without a network, 127.0.1.1', async (t) => {
  const s = await networkStore(t);
  const on = await s.skiff(['run', '--net=default', '--hostname', 'web', s.image, '--exec', '/bin/cat', '--', '/etc/hosts']);
  t.is(on.code, 0, on.stderr);
  t.regex(on.stdout, new RegExp(`^198\\.18\\.${s.host.subnet}\\.2\\tweb$`, 'm'));
  t.notRegex(on.stdout, /^127\.0\.1\.1/m);
  const off = await s.skiff(['run', '--net=none', '--hostname', 'web', s.image, '--exec', '/bin/cat', '--', '/etc/hosts']);
  t.regex(off.stdout, /^127\.0\.1\.1\tweb$/m);
});

test('two pods on the default network talk TCP; a named network and default-restricted give the routes they say', async (t) => {
  const s = await networkStore(t);
  const server = s.start(['run', '--net=default', s.image, '--exec', '/probe', '--', 'serve', '8080', 'pong', '--once']);
  const uuid = await waitRunning(s, 60_000);
  const ip = (JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { networks: Array<{ ip: string }> }).networks[0]!.ip;
  const client = await s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'fetch', ip, '8080', '5000']);
  t.is(client.code, 0, client.stderr);
  t.like(info(client.stdout), { ok: true, data: 'pong\n' });
  t.is(await server.exited, 0);
  const two = await s.skiff(['run', `--net=back,default-restricted`, s.image, '--exec', '/probe', '--', 'info']);
  // default-restricted as the test host's net.d redefines it (on 198.18.0.0/16).
  t.is(two.code, 0, two.stderr);
  const p = info(two.stdout);
  const names = (p.interfaces as Array<{ name: string }>).map((i) => i.name).sort();
  t.deepEqual(names, ['eth0', 'eth1', 'lo']);
  t.false((p.routes as Array<{ dest: string }>).some((r) => r.dest === '0.0.0.0'), 'neither network routes beyond its bridge');
});

test('a pod reaches an address outside its host through NAT, and not without the masquerade rule', async (t) => {
  const s = await networkStore(t);
  const internet = await testNetns(t, 'ski');
  const host = s.host.netns;
  const third = s.host.subnet;
  // A veth from the host netns to the "internet": 198.19.N.1 on the host side, .2 there; the internet knows no route to pods.
  for (const [ns, args] of [
    [host, ['link', 'add', 'skup0', 'type', 'veth', 'peer', 'name', 'skup1', 'netns', internet.name]],
    [host, ['addr', 'add', `198.19.${third}.1/24`, 'dev', 'skup0']], [host, ['link', 'set', 'skup0', 'up']],
    [internet, ['addr', 'add', `198.19.${third}.2/24`, 'dev', 'skup1']], [internet, ['link', 'set', 'skup1', 'up']],
  ] as const) t.is((await ns.run('ip', [...args])).code, 0, args.join(' '));
  const fetch = () => s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'fetch', `198.19.${third}.2`, '8082', '3000']);
  const serve = async () => {
    const server = internet.spawn(await probeBinary(), ['serve', '8082', 'from-internet', '--once'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(server, 'exit');
    t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL'); });
    await once(createInterface({ input: server.stdout! }), 'line');
    return { server, exited };
  };
  const first = await serve();
  const through = await fetch();
  t.is(through.code, 0, through.stderr);
  t.like(info(through.stdout), { ok: true, data: 'from-internet\n' });
  await first.exited;
  // The control: without masquerade the internet's reply has nowhere to go. The rule goes while
  // the pod waits to fetch: a run starting without it would make it again (the replay checks it).
  const second = await serve();
  const control = s.start(['run', '--net=default', s.image, '--exec', '/bin/sh', '--', '-c',
    `while [ ! -e /tmp/go ]; do sleep 0.05; done; /probe fetch 198.19.${third}.2 8082 3000`]);
  const uuid = await waitRunning(s, 60_000);
  t.is((await host.run('iptables', ['-w', '-t', 'nat', '-F', 'SKIFF-POSTROUTING'])).code, 0);
  t.is((await s.skiff(['enter', uuid, '--', '/bin/touch', '/tmp/go'])).code, 0);
  await control.exited;
  t.like(info(control.output().stdout), { ok: false });
  second.server.kill('SIGKILL');
});

test('bad networks: an unknown name is a usage error, a broken definition names its file; nothing is left', async (t) => {
  const s = await networkStore(t);
  const unknown = await s.skiff(['run', '--net=nope', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /no network named "nope"/);
  const badSyntax = await s.skiff(['run', '--net=default:MAC=1', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(badSyntax.code, 2);
  const outside = await s.skiff(['run', `--net=back:IP=198.18.${s.host.subnet}.9`, s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(outside.code, 2);
  t.regex(outside.stderr, /is not a free host address of network back/);
  writeFileSync(join(s.host.localConfig, 'net.d', '30-broken.conf'), '{"name": "broken", "type": "bridge", "ipam": {"type": "host-local", "subnet": "198.18.0.1/24"}}');
  const broken = await s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(broken.code, 254);
  t.regex(broken.stderr, /30-broken\.conf: ipam\.subnet "198\.18\.0\.1\/24" is not a network address/);
  const pods = ['embryo', 'prepare', 'run'].flatMap((d) => (existsSync(join(s.dir, 'pods', d)) ? readdirSync(join(s.dir, 'pods', d)) : []));
  t.deepEqual(pods, [], 'no pod dir was made');
});

test('a network whose subnet overlaps a route of the host is refused, naming both; nothing is made', async (t) => {
  const s = await networkStore(t);
  const host = s.host.netns;
  // A link of the host's own holding part of the default network's /24.
  for (const args of [['link', 'add', 'skov0', 'type', 'veth', 'peer', 'name', 'skov1'], ['addr', 'add', `198.18.${s.host.subnet}.129/25`, 'dev', 'skov0'], ['link', 'set', 'skov0', 'up']]) {
    t.is((await host.run('ip', args)).code, 0, args.join(' '));
  }
  const r = await s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(r.code, 254);
  t.regex(r.stderr, new RegExp(`network default: its subnet 198\\.18\\.${s.host.subnet}\\.0/24 overlaps the host's route to 198\\.18\\.${s.host.subnet}\\.128/25`));
  t.false((await hostLinks(s)).includes('skiff0'), 'no bridge was made');
  t.deepEqual(ipamFiles(s), []);
  const pods = ['embryo', 'prepare', 'run'].flatMap((d) => (existsSync(join(s.dir, 'pods', d)) ? readdirSync(join(s.dir, 'pods', d)) : []));
  t.deepEqual(pods, [], 'no pod dir was made');
});

test('20 concurrent pods, replayed and through the CLI, never share an address; after them nothing is left', async (t) => {
  const s = await networkStore(t);
  const { runSkiff } = await import('../support/skiff-cli.js');
  const shared = join(s.dir, '..', 'shared');
  mkdirSync(shared);
  // If the test fails before it says go, the pods must not wait forever: go at teardown (first, before the store's).
  t.teardown(() => writeFileSync(join(shared, 'go'), ''));
  // Each pod writes its facts to the shared volume (whole: written aside, then renamed), then holds its address until the test says go: all 20 are alive at once.
  const app = (i: number) => [s.image, ...(i % 2 === 0 ? [] : ['--environment', `RUN=${i}`]), '--mount', 'volume=shared,target=/shared', '--exec', '/bin/sh', '--', '-c',
    '/probe info > /shared/.$(hostname).tmp && mv /shared/.$(hostname).tmp /shared/$(hostname).json; while [ ! -e /shared/go ]; do sleep 0.05; done'];
  const args = (i: number) => ['--dir', s.dir, 'run', '--net=default', '--volume', `shared,kind=host,source=${shared}`, ...app(i)];
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  writeFileSync(join(shared, 'go'), '');
  t.is((await runSkiff(args(0), opts)).code, 0, 'the first run records the plan the even runs replay');
  rmSync(join(shared, 'go'));
  for (const f of readdirSync(shared)) rmSync(join(shared, f));
  const runs = Array.from({ length: 20 }, (_, i) => runSkiff(args(i), opts));
  const deadline = Date.now() + 120_000;
  while (readdirSync(shared).filter((f) => f.endsWith('.json')).length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const facts = readdirSync(shared).filter((f) => f.endsWith('.json')).map((f) => info(readFileSync(join(shared, f), 'utf8')));
  writeFileSync(join(shared, 'go'), '');
  const done = await Promise.all(runs);
  for (const r of done) t.is(r.code, 0, r.stderr);
  const paths = done.map((r) => (/^skiff launch: (replay|node) /m.exec(r.stderr) ?? [])[1]);
  t.true(paths.includes('replay') && paths.includes('node'), paths.join(','));
  const ips = facts.map((p) => ((p.interfaces as Array<{ name: string; addresses: string[] }>).find((i) => i.name === 'eth0')?.addresses ?? [])[0]);
  t.is(ips.length, 20, 'all 20 pods were running at once');
  t.is(new Set(ips).size, 20, `no address twice: ${ips.join(' ')}`);
  t.true(ips.every((ip) => ip?.startsWith(`198.18.${s.host.subnet}.`)));
  t.deepEqual(ipamFiles(s), []);
  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  // A dead netns takes its veths with it asynchronously (the kernel's cleanup_net): wait for that, bounded.
  let left = await podVeths(s);
  for (const deadline = Date.now() + 30_000; left.length > 0 && Date.now() < deadline; left = await podVeths(s)) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(left, [], 'no veth left on the host side');
});

test('kill -9 of a networked pod: gc releases its address; a replayed run after the bridge was deleted goes to the CLI, which makes it again', async (t) => {
  const s = await networkStore(t);
  const run = s.start(['run', '--net=default', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s, 60_000);
  t.deepEqual(ipamFiles(s), [`198.18.${s.host.subnet}.2`]);
  run.child.kill('SIGKILL');
  await run.exited;
  t.deepEqual(ipamFiles(s), [`198.18.${s.host.subnet}.2`], 'the killed stage1 could not release it');
  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  t.deepEqual(ipamFiles(s), []);
  t.false(existsSync(join(s.dir, 'pods', 'run', uuid)));
  const { runSkiff } = await import('../support/skiff-cli.js');
  const args = ['--dir', s.dir, 'run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  t.is((await runSkiff(args, opts)).code, 0);
  t.is((await s.host.netns.run('ip', ['link', 'del', 'skiff0'])).code, 0);
  const again = await runSkiff(args, opts);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /skiff launch: node \(a bridge the plan's networks use is gone\)/);
  t.true((await hostLinks(s)).includes('skiff0'), 'the CLI made the bridge again');
  t.regex((await runSkiff(args, opts)).stderr, /skiff launch: replay /);
  // A network definition written again (an edit: new mtime) and a new file in net.d each send the next run to the CLI.
  const conf = join(s.host.localConfig, 'net.d', '10-default.conf');
  writeFileSync(conf, readFileSync(conf));
  const edited = await runSkiff(args, opts);
  t.regex(edited.stderr, /skiff launch: node \(a network definition changed since the plan was recorded\)/);
  t.regex((await runSkiff(args, opts)).stderr, /skiff launch: replay /);
  writeFileSync(join(s.host.localConfig, 'net.d', '40-more.conf'), JSON.stringify({ name: 'more', type: 'bridge', bridge: 'skiff3', ipam: { type: 'host-local', subnet: '198.18.253.0/24' } }));
  t.regex((await runSkiff(args, opts)).stderr, /skiff launch: node \(a network definition changed since the plan was recorded\)/);
});

test('--net=none stays loopback only, and SKIFF_NET sets the default', async (t) => {
  const s = await networkStore(t);
  const none = await s.skiff(['run', '--net=none', s.image, '--exec', '/probe', '--', 'info']);
  t.deepEqual((info(none.stdout).interfaces as Array<{ name: string }>).map((i) => i.name), ['lo']);
  const { runSkiff } = await import('../support/skiff-cli.js');
  const byEnv = await runSkiff(['--dir', s.dir, 'run', s.image, '--exec', '/probe', '--', 'info'], { env: { ...s.env, SKIFF_NET: 'back' }, netns: s.host.netns.path });
  t.is(byEnv.code, 0, byEnv.stderr);
  t.true((info(byEnv.stdout).interfaces as Array<{ name: string }>).some((i) => i.name === 'eth0'), 'SKIFF_NET=back joined back');
});

test('NAT rules removed by an admin (flushed chain, deleted jump, deleted chain) send the next replay to the CLI, which makes them again', async (t) => {
  const s = await networkStore(t);
  const { runSkiff } = await import('../support/skiff-cli.js');
  const args = ['--dir', s.dir, 'run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  const ipt = async (a: string[]) => t.is((await s.host.netns.run('iptables', ['-w', '-t', 'nat', ...a])).code, 0, a.join(' '));
  t.is((await runSkiff(args, opts)).code, 0);
  t.regex((await runSkiff(args, opts)).stderr, /^skiff launch: replay /m, 'the rules are there: replayed');
  for (const [what, undo] of [
    ['a flushed chain', [['-F', 'SKIFF-POSTROUTING']]],
    ['a deleted jump', [['-D', 'POSTROUTING', '-j', 'SKIFF-POSTROUTING']]],
    ['a deleted chain', [['-D', 'POSTROUTING', '-j', 'SKIFF-POSTROUTING'], ['-F', 'SKIFF-POSTROUTING'], ['-X', 'SKIFF-POSTROUTING']]],
  ] as const) {
    for (const a of undo) await ipt([...a]);
    const r = await runSkiff(args, opts);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /^skiff launch: node \(a NAT rule the host network set-up made is gone\)/m, what);
    const nat = (await s.host.netns.run('iptables-save', ['-t', 'nat'])).stdout;
    t.regex(nat, /-A POSTROUTING -j SKIFF-POSTROUTING/, `${what}: the CLI made the jump again`);
    t.regex(nat, /-A SKIFF-POSTROUTING .*skiff network default.*-j MASQUERADE/, `${what}: and the masquerade`);
    t.regex((await runSkiff(args, opts)).stderr, /^skiff launch: replay /m, `${what}: then replays again`);
  }
});

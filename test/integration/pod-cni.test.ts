/**
 * Named networks run through the real CNI plugins (Debian's containernetworking-plugins in
 * /usr/lib/cni): a bridge + host-local + tuning chain and a ptp + host-local .conf, through
 * `skiff run` on the CLI path and replayed. The pod sees what the plugins gave it, two pods talk
 * over the CNI bridge, status and list show the networks, and after an exit, a stop, a failed
 * chain or a kill -9 + gc nothing is left: no veth, no host-local reservation, no tuning backup.
 * Every store runs skiff inside a throwaway netns "host" of its own (podStore's network option),
 * so the plugins' bridge, veths and sysctls land there; every plugin state dir (host-local's and
 * tuning's dataDir) is under the test's temp dir: /var/lib/cni and /run/cni are never touched.
 */
import test, { type ExecutionContext } from 'ava';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testWhen } from '../support/host-condition.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';

const rootTest = testWhen('root');
const TRACE = { SKIFF_LAUNCH_TRACE: '1' };
/** The CNI networks' subnets: each store's netns is its own, so every test may use the same ones. */
const BRIDGE_NET = 250;
const PTP_NET = 251;

type Store = PodStore & { host: NonNullable<PodStore['host']>; state: string };

interface Iface { name: string; addresses: string[]; mtu: number }
interface Route { dest: string; gateway: string }

function info(stdout: string): { interfaces: Iface[]; routes: Route[]; [k: string]: unknown } {
  return JSON.parse(stdout.split('\n')[0] ?? '') as { interfaces: Iface[]; routes: Route[] };
}

/** A network store with `cbr` (bridge skcni0 + host-local + tuning, .conflist) and `p2p` (ptp + host-local, .conf) in its net.d. */
async function cniStore(t: ExecutionContext, extra: Record<string, object> = {}): Promise<Store> {
  if (!existsSync('/usr/lib/cni/bridge')) t.fail('the CNI plugins are missing: apt-get install containernetworking-plugins');
  const s = (await podStore(t, { network: true })) as Store;
  s.state = join(s.dir, '..', 'cni-state');
  const ipam = (third: number, routes: object[]) => ({ type: 'host-local', subnet: `198.18.${third}.0/24`, routes, dataDir: join(s.state, 'ipam') });
  const files: Record<string, object> = {
    '50-cbr.conflist': {
      cniVersion: '1.0.0', name: 'cbr', plugins: [
        { type: 'bridge', bridge: 'skcni0', isGateway: true, ipMasq: false, ipam: ipam(BRIDGE_NET, [{ dst: '0.0.0.0/0' }]) },
        { type: 'tuning', mtu: 1400, dataDir: join(s.state, 'tuning') },
      ],
    },
    '60-p2p.conf': { cniVersion: '0.4.0', name: 'p2p', type: 'ptp', ipMasq: false, ipam: ipam(PTP_NET, []) },
    ...extra,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(s.host.localConfig, 'net.d', name), JSON.stringify(body));
  return s;
}

/** host-local's reservations (files named by address), in every network's dir. */
function reservations(s: Store): string[] {
  const root = join(s.state, 'ipam');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((net) => readdirSync(join(root, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).map((f) => `${net}/${f}`));
}

/** The attachment records (POD_DIR/cni/IFNAME.json) of every pod dir in the store. */
function keptAttachments(s: Store): string[] {
  const pods = join(s.dir, 'pods');
  if (!existsSync(pods)) return [];
  return readdirSync(pods).flatMap((state) => readdirSync(join(pods, state)).flatMap((uuid) => {
    const dir = join(pods, state, uuid, 'cni');
    return existsSync(dir) ? readdirSync(dir).map((f) => `${state}/${uuid}/cni/${f}`) : [];
  }));
}

const tuningBackups = (s: Store) => (existsSync(join(s.state, 'tuning')) ? readdirSync(join(s.state, 'tuning')) : []);

async function vethsOnHost(s: Store): Promise<string[]> {
  const r = await s.host.netns.run('ip', ['-o', 'link', 'show', 'type', 'veth']);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(': ')[1]!.split('@')[0]!);
}

/**
 * Nothing of the pods' networks left in the host netns and the plugin state dirs; a dead netns
 * takes its veths asynchronously, so that is waited for (bounded). `tuning: false` after a kill -9:
 * tuning's DEL restores (and only then removes) its backup inside the netns, which died with
 * stage1, so its file stays: the plugin's own limit, in its dataDir.
 */
async function assertNothingLeft(t: ExecutionContext, s: Store, options: { tuning?: boolean } = {}): Promise<void> {
  let veths = await vethsOnHost(s);
  for (const deadline = Date.now() + 30_000; veths.length > 0 && Date.now() < deadline; veths = await vethsOnHost(s)) await sleep(100);
  t.deepEqual(veths, [], 'no veth left on the host side');
  t.deepEqual(reservations(s), [], 'every host-local reservation released');
  if (options.tuning !== false) t.deepEqual(tuningBackups(s), [], 'no tuning backup left');
  t.deepEqual(keptAttachments(s), [], 'every DEL removed its attachment record (the pod dir\'s CNI cache)');
}

const statusOf = async (s: Store, uuid: string) => JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { networks: Array<Record<string, string>> };

rootTest('a bridge + host-local + tuning chain: the pod gets the address, route and MTU; the same when replayed; nothing left after', async (t) => {
  const s = await cniStore(t);
  const args = ['--dir', s.dir, 'run', '--net=cbr', s.image, '--exec', '/probe', '--', 'info'];
  const opts = { env: { ...s.env, ...TRACE }, netns: s.host.netns.path };
  for (const expected of ['node', 'replay']) {
    const r = await runSkiff(args, opts);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${expected} `, 'm'));
    const p = info(r.stdout);
    const eth0 = p.interfaces.find((i) => i.name === 'eth0');
    // host-local hands addresses out round-robin (its last_reserved_ip), so the replay gets the next one.
    t.deepEqual(eth0?.addresses.filter((a) => a.includes('.')), [`198.18.${BRIDGE_NET}.${expected === 'node' ? 2 : 3}/24`], `${expected}: host-local's address`);
    t.is(eth0?.mtu, 1400, `${expected}: tuning ran on the bridge plugin's result (prevResult)`);
    t.true(p.routes.some((r) => r.dest === '0.0.0.0' && r.gateway === `198.18.${BRIDGE_NET}.1`), `${expected}: the default route via the bridge`);
    await assertNothingLeft(t, s);
  }
  const links = await s.host.netns.run('ip', ['-o', 'addr', 'show', 'dev', 'skcni0']);
  t.regex(links.stdout, new RegExp(`198\\.18\\.${BRIDGE_NET}\\.1/24`), 'the bridge plugin made its bridge in the test host netns, with the gateway');
});

rootTest('two pods on the CNI bridge talk TCP; status and list show the network; stop leaves nothing', async (t) => {
  const s = await cniStore(t);
  const server = s.start(['run', '--net=cbr', s.image, '--exec', '/probe', '--', 'serve', '8080', 'pong', '--once']);
  const uuid = await waitRunning(s, 60_000);
  const status = await statusOf(s, uuid);
  t.like(status.networks[0], { name: 'cbr', ifName: 'eth0', ip: `198.18.${BRIDGE_NET}.2`, gateway: `198.18.${BRIDGE_NET}.1` });
  t.regex(status.networks[0]?.['mac'] ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  t.regex((await s.skiff(['list'])).stdout, new RegExp(`cbr:ip4=198\\.18\\.${BRIDGE_NET}\\.2`));
  t.deepEqual(reservations(s), [`cbr/198.18.${BRIDGE_NET}.2`]);
  const client = await s.skiff(['run', '--net=cbr', s.image, '--exec', '/probe', '--', 'fetch', `198.18.${BRIDGE_NET}.2`, '8080', '5000']);
  t.is(client.code, 0, client.stderr);
  t.like(JSON.parse(client.stdout.split('\n')[0]!), { ok: true, data: 'pong\n' });
  t.is(await server.exited, 0);
  t.like((await statusOf(s, uuid)).networks[0], { name: 'cbr', ip: `198.18.${BRIDGE_NET}.2` }, 'an exited pod still shows what it had');
  await assertNothingLeft(t, s);
  const sleeper = s.start(['run', '--net=cbr', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const second = await waitRunning(s, 60_000);
  t.is((await s.skiff(['stop', second])).code, 0);
  await sleeper.exited;
  await assertNothingLeft(t, s);
});

rootTest('a ptp .conf after a built-in network: eth1 with the address asked for (CNI_ARGS IP=), eth0 on the bridge', async (t) => {
  const s = await cniStore(t);
  const r = await s.skiff(['run', `--net=back,p2p:IP=198.18.${PTP_NET}.7`, s.image, '--exec', '/probe', '--', 'info']);
  t.is(r.code, 0, r.stderr);
  const p = info(r.stdout);
  t.deepEqual(p.interfaces.find((i) => i.name === 'eth0')?.addresses.filter((a) => a.includes('.')), [`198.18.${s.host.backSubnet}.2/24`]);
  t.deepEqual(p.interfaces.find((i) => i.name === 'eth1')?.addresses.filter((a) => a.includes('.')), [`198.18.${PTP_NET}.7/24`]);
  t.true(p.routes.some((route) => route.dest === `198.18.${PTP_NET}.0` && route.gateway === `198.18.${PTP_NET}.1`), JSON.stringify(p.routes));
  await assertNothingLeft(t, s);
});

rootTest('kill -9 of stage1: the plugins\' state outlives it, and gc DELetes it (the recorded host-downs)', async (t) => {
  const s = await cniStore(t);
  const run = s.start(['run', '--net=cbr,p2p', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s, 60_000);
  t.deepEqual(reservations(s).sort(), [`cbr/198.18.${BRIDGE_NET}.2`, `p2p/198.18.${PTP_NET}.2`]);
  t.deepEqual((await statusOf(s, uuid)).networks.map((n) => `${n['name']} ${n['ifName']}`), ['cbr eth0', 'p2p eth1']);
  run.child.kill('SIGKILL');
  await run.exited;
  t.is(reservations(s).length, 2, 'the killed stage1 could not DEL');
  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  await assertNothingLeft(t, s, { tuning: false });
  t.false(existsSync(join(s.dir, 'pods', 'run', uuid)));
});

rootTest('a missing plugin is one error naming it and the dirs searched; a chain failing half-way is undone; nothing is left', async (t) => {
  const s = await cniStore(t, {
    '70-nope.conflist': { cniVersion: '1.0.0', name: 'nope', plugins: [{ type: 'bridge', bridge: 'skcni1', ipam: { type: 'host-local', subnet: '198.18.252.0/24' } }, { type: 'no-such-plugin' }] },
  });
  const missing = await s.skiff(['run', '--net=nope', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /network nope \(.*70-nope\.conflist\): CNI plugin "no-such-plugin" not found in \/usr\/lib\/cni; install it/);
  const pods = ['embryo', 'prepare', 'run'].flatMap((d) => (existsSync(join(s.dir, 'pods', d)) ? readdirSync(join(s.dir, 'pods', d)) : []));
  t.deepEqual(pods, [], 'no pod dir was made');
  const { runSkiff: run } = await import('../support/skiff-cli.js');
  const elsewhere = await run(['--dir', s.dir, 'run', '--net=p2p', s.image, '--exec', '/probe', '--', 'exit', '0'], { env: { ...s.env, SKIFF_CNI_PATH: join(s.state, 'no-plugins') }, netns: s.host.netns.path });
  t.is(elsewhere.code, 254);
  t.regex(elsewhere.stderr, new RegExp(`CNI plugin "ptp" not found in ${join(s.state, 'no-plugins')}`));
  // tuning refuses a sysctl that does not exist, after bridge and host-local did their part: the whole chain is DELeted.
  writeFileSync(join(s.host.localConfig, 'net.d', '80-half.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: 'half', plugins: [
      { type: 'bridge', bridge: 'skcni2', ipam: { type: 'host-local', subnet: '198.18.253.0/24', dataDir: join(s.state, 'ipam') } },
      { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.no_such_key': '1' }, dataDir: join(s.state, 'tuning') },
    ],
  }));
  const half = await s.skiff(['run', '--net=half', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(half.code, 254, half.stderr);
  t.regex(half.stderr, /network half: CNI plugin tuning ADD failed: /);
  await assertNothingLeft(t, s);
  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  await assertNothingLeft(t, s);
});

rootTest('prepare + a replayed run-prepared attach the CNI network; a plugin binary replaced since the plan sends the next run to the CLI', async (t) => {
  const s = await cniStore(t);
  // Plugins of the test's own (copies), so one can be replaced.
  const plugins = join(s.state, 'plugins');
  mkdirSync(plugins, { recursive: true });
  for (const p of ['ptp', 'host-local']) copyFileSync(join('/usr/lib/cni', p), join(plugins, p));
  const opts = { env: { ...s.env, ...TRACE, SKIFF_CNI_PATH: plugins }, netns: s.host.netns.path };
  const prepared = await runSkiff(['--dir', s.dir, 'prepare', '--net=p2p', s.image, '--exec', '/probe', '--', 'info'], opts);
  t.is(prepared.code, 0, prepared.stderr);
  const started = await runSkiff(['--dir', s.dir, 'run-prepared', prepared.stdout.trim()], opts);
  t.is(started.code, 0, started.stderr);
  t.regex(started.stderr, /^skiff launch: replay /m);
  t.deepEqual(info(started.stdout).interfaces.find((i) => i.name === 'eth0')?.addresses.filter((a) => a.includes('.')), [`198.18.${PTP_NET}.2/24`]);
  await assertNothingLeft(t, s);
  const args = ['--dir', s.dir, 'run', '--net=p2p', s.image, '--exec', '/probe', '--', 'exit', '0'];
  t.regex((await runSkiff(args, opts)).stderr, /^skiff launch: node /m);
  t.regex((await runSkiff(args, opts)).stderr, /^skiff launch: replay /m);
  writeFileSync(join(plugins, 'ptp'), readFileSync(join(plugins, 'ptp'))); // rewritten: a new mtime, as an upgrade gives
  const replaced = await runSkiff(args, opts);
  t.is(replaced.code, 0, replaced.stderr);
  t.regex(replaced.stderr, /^skiff launch: node \(a network definition changed since the plan was recorded\)/m);
  await assertNothingLeft(t, s);
});

rootTest('CHECK through the real plugins: a running pod\'s attachment checks out, and fails once its address is gone', async (t) => {
  const s = await cniStore(t);
  const run = s.start(['run', '--net=cbr', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s, 60_000);
  const podDir = join(s.dir, 'pods', 'run', uuid);
  // stage1's own: nsenter execs skiff, which execs stage1 in place. CHECK takes the ADD's CNI_NETNS, /proc/STAGE1/ns/net.
  const pid = String(run.child.pid);
  // The host-up stage1 ran, as a CHECK: the same argv with check for add, placeholders filled as stage1 does.
  const config = readFileSync(join(podDir, 'stage1.conf'), 'utf8').split('\0');
  const up = config[config.indexOf('host-up') + 1]!.split('\t');
  const check = up.map((a) => (a === 'add' ? 'check' : a.replace('{pod-dir}', podDir).replace('{uuid}', uuid).replace('{netns}', `/proc/${pid}/ns/net`)));
  const ok = await s.host.netns.run(check[0]!, check.slice(1));
  t.is(ok.code, 0, ok.stderr);
  t.is((await s.host.netns.run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', 'addr', 'flush', 'dev', 'eth0'])).code, 0);
  const broken = await s.host.netns.run(check[0]!, check.slice(1));
  t.not(broken.code, 0);
  t.regex(broken.stderr, /skiff: network cbr: CNI plugin bridge CHECK failed: /);
  t.is((await s.skiff(['stop', uuid])).code, 0);
});

rootTest('a CNI result\'s DNS becomes the pod\'s resolv.conf (rkt: after the --dns flags, before the image\'s), on both paths', async (t) => {
  const s = await cniStore(t);
  writeFileSync(join(s.host.localConfig, 'net.d', '70-dnsbr.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: 'dnsbr', plugins: [{
      type: 'bridge', bridge: 'skcni1', isGateway: true, ipMasq: false,
      // The bridge plugin hands its config's dns to the result.
      dns: { nameservers: ['198.18.252.53'], search: ['cni.example'], domain: 'cni.example', options: ['ndots:2'] },
      ipam: { type: 'host-local', subnet: '198.18.252.0/24', dataDir: join(s.state, 'ipam') },
    }],
  }));
  const cat = ['--exec', '/bin/cat', '--', '/etc/resolv.conf'];
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, 'run', '--net=dnsbr', s.image, ...cat], { env: { ...s.env, ...TRACE }, netns: s.host.netns.path });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.is(r.stdout, 'domain cni.example\nsearch cni.example\nnameserver 198.18.252.53\noptions ndots:2\n', path);
  }
  const flag = await runSkiff(['--dir', s.dir, 'run', '--net=dnsbr', '--dns=198.18.0.9', s.image, ...cat], { env: s.env, netns: s.host.netns.path });
  t.is(flag.stdout, 'nameserver 198.18.0.9\n', 'a --dns flag wins over the CNI result');
  const none = await runSkiff(['--dir', s.dir, 'run', '--net=cbr', s.image, '--exec', '/bin/sh', '--', '-c', 'cat /etc/resolv.conf 2>&1 || true'], { env: s.env, netns: s.host.netns.path });
  t.notRegex(none.stdout, /cni\.example/, 'a network whose result has no DNS leaves the image\'s file');
});

rootTest('a pod whose first network is a CNI one is named in /etc/hosts by the address the plugins gave it', async (t) => {
  const s = await cniStore(t);
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, 'run', '--net=cbr', '--hostname', 'web-1', s.image, '--exec', '/bin/sh', '--', '-c', 'cat /etc/hosts; ip -4 -o addr show dev eth0 2>/dev/null || /probe info'],
      { env: { ...s.env, ...TRACE }, netns: s.host.netns.path });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    const line = /^(198\.18\.250\.\d+)\tweb-1$/m.exec(r.stdout);
    t.truthy(line, `${path}: ${r.stdout}`);
    t.notRegex(r.stdout, /^127\.0\.1\.1\tweb-1$/m);
    t.true(r.stdout.includes(`"${line?.[1]}/24"`) || r.stdout.includes(`inet ${line?.[1]}/24`), 'the address eth0 really has');
  }
});

/**
 * `--net` of an overlay network (built-in `overlay`, or net.d `"type": "flannel"`) on one host:
 * what `skiff net daemon` leaves (subnet.env and the lease's /32 on its vxlan device) is made by
 * the test here, so this checks the pod side alone, on the CLI path and replayed; pods talking
 * across hosts over a real daemon are in overlay-e2e.test.ts. Skiff runs in the store's netns host.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';

const TRACE = { SKIFF_LAUNCH_TRACE: '1' };

interface Overlay { s: PodStore & { host: NonNullable<PodStore['host']> }; env: string; third: number }

/** A store whose net.d has network `ovl` (type flannel) with its subnet file and IPAM in the test's dir. */
async function overlayStore(t: ExecutionContext): Promise<Overlay> {
  const s = (await podStore(t, { network: true })) as Overlay['s'];
  const env = join(s.dir, '..', 'subnet.env');
  writeFileSync(join(s.host.localConfig, 'net.d', '40-ovl.conf'), JSON.stringify({ name: 'ovl', type: 'flannel', subnetFile: env, delegate: { bridge: 'skt-ovl' }, ipam: { dataDir: join(s.dir, '..', 'ipam', 'ovl') } }));
  return { s, env, third: s.host.subnet + 3 };
}

const subnetEnv = (third: number, masq = false) => `FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=198.18.${third}.1/24\nFLANNEL_MTU=1410\nFLANNEL_IPMASQ=${masq}\n`;

/** What the daemon's vxlan device holds: the lease's network address as a /32 (a veth stands in for it: no dummy module here). */
async function fakeDevice(o: Overlay, third: number): Promise<void> {
  const ns = o.s.host.netns;
  await ns.run('ip', ['link', 'add', 'skt-vx', 'type', 'veth', 'peer', 'name', 'skt-vx1']);
  await ns.run('ip', ['addr', 'flush', 'dev', 'skt-vx']);
  const r = await ns.run('ip', ['addr', 'add', `198.18.${third}.0/32`, 'dev', 'skt-vx']);
  if (r.code !== 0) throw new Error(r.stderr);
}

const run = (o: Overlay, args: string[]) => runSkiff(['--dir', o.s.dir, ...args], { env: { ...o.s.env, ...TRACE }, netns: o.s.host.netns.path });
const INFO = ['--exec', '/probe', '--', 'info'];

test('no daemon: no subnet file, or no device holding the lease, is one error and leaves nothing', async (t) => {
  const o = await overlayStore(t);
  const missing = await run(o, ['run', '--net=ovl', o.s.image, ...INFO]);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /network ovl: .*subnet\.env does not exist: is `skiff net daemon` running on this host\?/);
  writeFileSync(o.env, subnetEnv(o.third));
  const noDevice = await run(o, ['run', '--net=ovl', o.s.image, ...INFO]);
  t.is(noDevice.code, 254);
  t.regex(noDevice.stderr, new RegExp(`network ovl: no vxlan device holds 198\\.18\\.${o.third}\\.0/32, the lease in .*: is \`skiff net daemon\` running`));
  const builtIn = await run(o, ['run', '--net=overlay', o.s.image, ...INFO]);
  t.regex(builtIn.stderr, /network overlay: \/run\/skiff\/subnet\.env (does not exist|was written before this boot)|no vxlan device holds/, 'the built-in overlay reads the default subnet file');
  t.false((await o.s.host.netns.run('ip', ['link', 'show', 'skt-ovl'])).code === 0, 'no bridge was made');
  t.is((await o.s.skiff(['list', '--no-legend'])).stdout.trim(), '');
});

test('a pod on the overlay: an address of the lease, the MTU of subnet.env, a default route via the bridge; replayed too; a changed subnet.env goes to the CLI', async (t) => {
  const o = await overlayStore(t);
  writeFileSync(o.env, subnetEnv(o.third));
  await fakeDevice(o, o.third);
  for (const path of ['node', 'replay']) {
    const r = await run(o, ['run', '--net=ovl', o.s.image, ...INFO]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    const p = JSON.parse(r.stdout.split('\n')[0]!) as { interfaces: Array<{ name: string; addresses: string[]; mtu: number }>; routes: Array<{ dest: string; gateway: string }> };
    const eth0 = p.interfaces.find((i) => i.name === 'eth0');
    t.deepEqual(eth0?.addresses.filter((a) => a.includes('.')), [`198.18.${o.third}.2/24`], path);
    t.is(eth0?.mtu, 1410);
    t.true(p.routes.some((x) => x.dest === '0.0.0.0' && x.gateway === `198.18.${o.third}.1`));
  }
  const nat = (await o.s.host.netns.run('iptables-save', ['-t', 'nat'])).stdout;
  t.regex(nat, new RegExp(`-A SKIFF-POSTROUTING -s 198\\.18\\.${o.third}\\.0/24 ! -d 198\\.18\\.0\\.0/16 .*-j MASQUERADE`), 'pods on other hosts see pod addresses; the rest is masqueraded');
  // The daemon restarted with another lease: the next run goes to the CLI, the bridge drops the old gateway.
  const moved = o.third + 1;
  writeFileSync(o.env, subnetEnv(moved, true));
  await o.s.host.netns.run('ip', ['link', 'del', 'skt-vx']);
  await fakeDevice(o, moved);
  const again = await run(o, ['run', '--net=ovl', o.s.image, ...INFO]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /^skiff launch: node /m);
  t.regex(again.stdout, new RegExp(`198\\.18\\.${moved}\\.2/24`));
  const bridge = (await o.s.host.netns.run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'skt-ovl'])).stdout;
  t.regex(bridge, new RegExp(`198\\.18\\.${moved}\\.1/24`));
  t.notRegex(bridge, new RegExp(`198\\.18\\.${o.third}\\.1`), 'the old lease\'s gateway is gone from the bridge (flannel #1850)');
});

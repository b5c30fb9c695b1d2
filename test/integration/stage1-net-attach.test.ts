/**
 * stage1's network attach (`net` keys, native/stage1/net-attach.c): the supervisor makes the pod's
 * netns, takes an address from the network's IPAM dir, and wires a veth from the host's bridge
 * into the pod. Every test runs stage1 inside a throwaway "host" netns of its own (nsenter
 * --net: iproute2's netns exec would remount /sys), on a bridge it made there, with
 * addresses from 198.18.0.0/16 only.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { createPod, firstJson, probe, sharedProbeRootfs, startPod, type AppSpec } from '../support/stage1-harness.js';
import { testNetns, type Netns } from '../support/netns.js';
import { probeBinary } from '../support/probe-binary.js';
import { tempDir } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

interface Host {
  ns: Netns;
  ipam: string;
  /** A `net` value for this host's bridge (198.18.N.0/24, gateway .1). */
  net(opts?: { name?: string; ifname?: string; route?: 'default' | 'none'; address?: string; range?: string; mtu?: number }): string;
}

let subnetCounter = 0;

async function host(t: ExecutionContext): Promise<Host> {
  const ns = await testNetns(t, 'ska');
  const third = 40 + (subnetCounter++ % 200);
  for (const args of [['link', 'add', 'skb0', 'type', 'bridge'], ['addr', 'add', `198.18.${third}.1/24`, 'dev', 'skb0'], ['link', 'set', 'skb0', 'up']]) {
    const r = await ns.run('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
  const ipam = join(tempDir(t, 'skiff-ipam-'), 'default');
  return {
    ns,
    ipam,
    net: (o = {}) => [o.name ?? 'default', o.ifname ?? 'eth0', 'skb0', String(o.mtu ?? 1500), ipam, `198.18.${third}.0/24`,
      o.range ?? `198.18.${third}.2-198.18.${third}.254`, `198.18.${third}.1`, o.route ?? 'default', o.address ?? ''].join('\t'),
  };
}

async function runIn(t: ExecutionContext, h: Host, nets: string[], apps: AppSpec[]) {
  const pod = await createPod(t, { netns: 'new', apps, extra: nets.map((n): [string, string] => ['net', n]) });
  const running = startPod(t, pod, { prefix: ['nsenter', `--net=${h.ns.path}`] });
  return { pod, running };
}

test('a pod on a bridge: eth0 with the first free address, the MTU asked for, a default route via the gateway; net-info.json', async (t) => {
  const h = await host(t);
  const { pod, running } = await runIn(t, h, [h.net({ mtu: 1400 })], [probe(['info'])]);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  const eth0 = (info.interfaces as Array<{ name: string; up: boolean; mtu: number; addresses: string[] }>).find((i) => i.name === 'eth0');
  const third = /198\.18\.(\d+)\./.exec(h.net())![1];
  t.like(eth0, { up: true, mtu: 1400 });
  t.deepEqual(eth0?.addresses.filter((a) => a.includes('.')), [`198.18.${third}.2/24`]);
  const routes = info.routes as Array<{ iface: string; dest: string; gateway: string; prefix: number }>;
  t.true(routes.some((r) => r.iface === 'eth0' && r.dest === '0.0.0.0' && r.gateway === `198.18.${third}.1`), JSON.stringify(routes));
  const netInfo = JSON.parse(readFileSync(join(pod.dir, 'net-info.json'), 'utf8')) as Array<Record<string, unknown>>;
  t.like(netInfo[0], { name: 'default', ifName: 'eth0', ip: `198.18.${third}.2`, prefixLength: 24, gateway: `198.18.${third}.1`, bridge: 'skb0' });
  t.regex(String(netInfo[0]?.['mac']), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  t.deepEqual(readdirSync(h.ipam).filter((f) => !f.startsWith('.')), [], 'the address file is released when the pod ends');
});

test('two pods on one bridge get different addresses and talk TCP', async (t) => {
  const h = await host(t);
  const third = /198\.18\.(\d+)\./.exec(h.net())![1];
  const server = await runIn(t, h, [h.net()], [probe(['serve', '8080', 'pong', '--once'])]);
  t.like(await server.running.nextJson(), { listening: 8080 });
  const held = readdirSync(h.ipam).filter((f) => !f.startsWith('.'));
  t.deepEqual(held, [`198.18.${third}.2`]);
  t.is(readFileSync(join(h.ipam, held[0]!), 'utf8'), `${server.pod.uuid}\n`, 'the address file names its pod');
  const client = await runIn(t, h, [h.net()], [probe(['fetch', `198.18.${third}.2`, '8080', '5000'])]);
  const r = await client.running.result;
  t.is(r.code, 0, r.stderr);
  t.like(firstJson(r), { ok: true, data: 'pong\n' });
  const clientInfo = JSON.parse(readFileSync(join(client.pod.dir, 'net-info.json'), 'utf8')) as Array<{ ip: string }>;
  t.is(clientInfo[0]?.ip, `198.18.${third}.3`);
  t.is((await server.running.result).code, 0);
});

test('a pod reaches a server on the host through the bridge\'s gateway address', async (t) => {
  const h = await host(t);
  const third = /198\.18\.(\d+)\./.exec(h.net())![1];
  const hostServer = h.ns.spawn(await probeBinary(), ['serve', '8081', 'from-host', '--once', '--bind', `198.18.${third}.1`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (hostServer.exitCode === null) hostServer.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: hostServer.stdout! }), 'line')) as [string];
  t.like(JSON.parse(line) as object, { listening: 8081 });
  const { running } = await runIn(t, h, [h.net()], [probe(['fetch', `198.18.${third}.1`, '8081', '5000'])]);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  t.like(firstJson(r), { ok: true, data: 'from-host\n' });
});

test('default-restricted style (route none): the subnet only, no default route', async (t) => {
  const h = await host(t);
  const { running } = await runIn(t, h, [h.net({ route: 'none' })], [probe(['info'])]);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  const routes = firstJson(r).routes as Array<{ iface: string; dest: string }>;
  t.false(routes.some((r) => r.dest === '0.0.0.0'), JSON.stringify(routes));
  t.true(routes.some((r) => r.iface === 'eth0'));
});

test('an address asked for: given when free, a clear error when taken; an exhausted range says so', async (t) => {
  const h = await host(t);
  const third = /198\.18\.(\d+)\./.exec(h.net())![1];
  const holder = await runIn(t, h, [h.net({ address: `198.18.${third}.77` })], [probe(['sleep', '30'])]);
  await holder.running.waitForPid1();
  t.true(existsSync(join(h.ipam, `198.18.${third}.77`)));
  const taken = await runIn(t, h, [h.net({ address: `198.18.${third}.77` })], [probe(['exit', '0'])]);
  const r = await taken.running.result;
  t.is(r.code, 254);
  t.regex(r.state.stage1Error ?? '', /network: network default: address 198\.18\.\d+\.77 is already in use/);
  const full = await runIn(t, h, [h.net({ range: `198.18.${third}.77-198.18.${third}.77` })], [probe(['exit', '0'])]);
  const f = await full.running.result;
  t.is(f.code, 254);
  t.regex(f.state.stage1Error ?? '', /no free address left in 198\.18\.\d+\.77-198\.18\.\d+\.77/);
  t.deepEqual(readdirSync(h.ipam).filter((n) => !n.startsWith('.')), [`198.18.${third}.77`], 'the failed pods left no address file');
});

test('a bridge that does not exist: 254 naming it, nothing allocated', async (t) => {
  const h = await host(t);
  const bad = h.net().replace('\tskb0\t', '\tskbnone\t');
  const { running } = await runIn(t, h, [bad], [probe(['exit', '0'])]);
  const r = await running.result;
  t.is(r.code, 254);
  t.regex(r.state.stage1Error ?? '', /bridge skbnone does not exist on the host/);
  t.false(existsSync(h.ipam) && readdirSync(h.ipam).length > 0);
});

test('bad net values are config errors (exit 2) before anything is made', async (t) => {
  const h = await host(t);
  for (const [value, message] of [
    ['x', /is not NAME\\tIFNAME/],
    [h.net().replace('\t1500\t', '\t12\t'), /MTU '12' is not 68\.\.65535/],
    [h.net().replace(/\t198\.18\.\d+\.0\/24\t/, '\t198.18.0.0\t'), /subnet '198\.18\.0\.0' is not ADDRESS\/PREFIX/],
    [h.net({ route: 'sometimes' as 'none' }), /route 'sometimes' is not default or none/],
    [h.net({ ifname: 'a-very-long-interface-name' }), /interface name/],
  ] as const) {
    const { running } = await runIn(t, h, [value], [probe(['exit', '0'])]);
    const r = await running.result;
    t.is(r.code, 2, value);
    t.regex(r.stderr, message);
  }
});

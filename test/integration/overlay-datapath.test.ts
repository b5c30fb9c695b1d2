/**
 * The overlay's data path on the real kernel, without the daemon: two throwaway netns "hosts" on
 * an underlay veth (198.19.0.0/24), each with its vxlan device and a bridge holding its subnet's
 * first address (where pods would be); each programs the other as a peer (network/overlay/). Then
 * the bridges ping each other across the overlay, a kernel check shows nolearning, the /32 and the
 * onlink route, and reconcile removes entries planted on the device. The root namespace is never
 * touched.
 */
import test, { type ExecutionContext } from 'ava';
import { openNetlink, type Netlink } from '../../network/netlink/index.js';
import { parseCidr, type Cidr } from '../../network/ipv4.js';
import { configureVxlanDevice, ensureVxlanDevice } from '../../network/overlay/vxlan-device.js';
import { VxlanPeers, type Peer } from '../../network/overlay/vxlan-peers.js';
import { testNetns, type Netns } from '../support/netns.js';
import { testWhen } from '../support/host-condition.js';

const NETWORK = parseCidr('198.18.0.0/16')!;

interface Host { ns: Netns; nl: Netlink; subnet: Cidr; publicIp: string; peers: VxlanPeers; mac: string; device: number }

async function run(ns: Netns, args: string[]): Promise<string> {
  const r = await ns.run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function hosts(t: ExecutionContext): Promise<[Host, Host]> {
  const a = await testNetns(t, 'skov');
  const b = await testNetns(t, 'skov');
  // The underlay: a veth between the two "hosts".
  await run(a, ['link', 'add', 'under0', 'type', 'veth', 'peer', 'name', 'under0', 'netns', b.name]);
  const made: Host[] = [];
  for (const [ns, n] of [[a, 1], [b, 2]] as const) {
    await run(ns, ['addr', 'add', `198.19.0.${n}/24`, 'dev', 'under0']);
    await run(ns, ['link', 'set', 'under0', 'up']);
    const nl = await openNetlink({ netnsPath: ns.path });
    t.teardown(() => nl.close());
    const under = await nl.getLink('under0');
    const subnet = parseCidr(`198.18.${n}.0/24`)!;
    const publicIp = `198.19.0.${n}`;
    const dev = await ensureVxlanDevice(nl, { vni: 1, port: 8472, publicIp, underlay: { index: under.index, mtu: under.mtu } });
    await configureVxlanDevice(nl, dev.index, subnet, NETWORK);
    const br = await nl.createBridge('skt-br');
    await nl.addAddress({ index: br.index, address: `198.18.${n}.1`, prefixLength: 24 });
    await nl.setLinkUp(br.index, true);
    made.push({ ns, nl, subnet, publicIp, mac: dev.mac, device: dev.index, peers: new VxlanPeers({ nl, device: dev.index, network: NETWORK, own: subnet }) });
  }
  return made as [Host, Host];
}

const asPeer = (h: Host): Peer => ({ subnet: h.subnet, publicIp: h.publicIp, vtepMac: h.mac });

testWhen('root')('two hosts programmed as each other\'s peer talk across the overlay; the kernel holds what flannel would', async (t) => {
  const [a, b] = await hosts(t);
  await a.peers.reconcile([asPeer(b)]);
  await b.peers.reconcile([asPeer(a)]);
  const ping = await a.ns.run('busybox', ['ping', '-c', '1', '-W', '5', '-I', '198.18.1.1', '198.18.2.1']);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  const details = await run(a.ns, ['-d', 'link', 'show', 'skiff.1']);
  t.regex(details, /vxlan id 1 local 198\.19\.0\.1 dev under0 .*dstport 8472 nolearning/);
  t.regex(details, /mtu 1450/);
  t.regex(await run(a.ns, ['-4', 'addr', 'show', 'dev', 'skiff.1']), /inet 198\.18\.1\.0\/32/);
  t.regex(await run(a.ns, ['route', 'show', '198.18.2.0/24']), /198\.18\.2\.0\/24 via 198\.18\.2\.0 dev skiff\.1 onlink/);
  t.regex(await run(a.ns, ['neigh', 'show', 'dev', 'skiff.1']), new RegExp(`198\\.18\\.2\\.0 lladdr ${b.mac} PERMANENT`));
  const fdb = await a.ns.run('bridge', ['fdb', 'show', 'dev', 'skiff.1']);
  t.regex(fdb.stdout, new RegExp(`${b.mac} dst 198\\.19\\.0\\.2 self permanent`));
});

testWhen('root')('reconcile on the real kernel: planted and departed entries go, the peer stays reachable', async (t) => {
  const [a, b] = await hosts(t);
  await a.peers.reconcile([asPeer(b)]);
  await b.peers.reconcile([asPeer(a)]);
  // A peer that left while the daemon was down, as `ip` would have left it.
  await run(a.ns, ['neigh', 'add', '198.18.9.0', 'lladdr', '02:00:00:00:00:09', 'dev', 'skiff.1', 'nud', 'permanent']);
  const bridgeCmd = await a.ns.run('bridge', ['fdb', 'add', '02:00:00:00:00:09', 'dev', 'skiff.1', 'dst', '198.19.0.9', 'self', 'permanent']);
  t.is(bridgeCmd.code, 0, bridgeCmd.stderr);
  await run(a.ns, ['route', 'add', '198.18.9.0/24', 'via', '198.18.9.0', 'dev', 'skiff.1', 'onlink']);
  const fresh = new VxlanPeers({ nl: a.nl, device: a.device, network: NETWORK, own: a.subnet });
  const r = await fresh.reconcile([asPeer(b)]);
  t.is(r.removed, 3);
  t.notRegex(await run(a.ns, ['neigh', 'show', 'dev', 'skiff.1']), /198\.18\.9\.0/);
  t.notRegex((await a.ns.run('bridge', ['fdb', 'show', 'dev', 'skiff.1'])).stdout, /02:00:00:00:00:09/);
  t.is((await run(a.ns, ['route', 'show', '198.18.9.0/24'])).trim(), '');
  const ping = await a.ns.run('busybox', ['ping', '-c', '1', '-W', '5', '-I', '198.18.1.1', '198.18.2.1']);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
});

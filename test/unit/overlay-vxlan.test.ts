/** The vxlan device and the peers' data path against the fake kernel (the same code runs on the real one in the overlay e2e). */
import test from 'ava';
import { FakeNetlink, type Netlink } from '../../network/netlink/index.js';
import { parseCidr, type Cidr } from '../../network/ipv4.js';
import { configureVxlanDevice, ensureVxlanDevice, vxlanDeviceName } from '../../network/overlay/vxlan-device.js';
import { peerOf, VxlanPeers, type Peer } from '../../network/overlay/vxlan-peers.js';
import { leaseOf, encodeLeaseAttrs } from '../../network/overlay/subnet-lease.js';

const cidr = (s: string): Cidr => parseCidr(s)!;
const NETWORK = cidr('198.18.0.0/16');
const OWN = cidr('198.18.1.0/24');

async function host(): Promise<{ nl: FakeNetlink; underlay: { index: number; mtu: number } }> {
  const nl = new FakeNetlink();
  const up = await nl.createBridge('skt-under', { mtu: 1500 });
  await nl.setLinkUp(up.index, true);
  await nl.addAddress({ index: up.index, address: '198.19.0.1', prefixLength: 24 });
  return { nl, underlay: { index: up.index, mtu: 1500 } };
}

const spec = (underlay: { index: number; mtu: number }, extra: object = {}) => ({ vni: 1, port: 8472, publicIp: '198.19.0.1', underlay, ...extra });
const peer = (third: number, mac = `02:00:00:00:00:${third.toString(16).padStart(2, '0')}`, publicIp = `198.19.0.${third}`): Peer =>
  ({ subnet: cidr(`198.18.${third}.0/24`), publicIp, vtepMac: mac });

async function device(nl: Netlink, underlay: { index: number; mtu: number }) {
  const link = await ensureVxlanDevice(nl, spec(underlay));
  await configureVxlanDevice(nl, link.index, OWN, NETWORK);
  return link;
}

test('the device: skiff.<VNI>, nolearning, underlay MTU − 50, the MAC asked for; reused as it is, remade when it differs', async (t) => {
  const { nl, underlay } = await host();
  const made = await ensureVxlanDevice(nl, spec(underlay, { mac: '02:aa:00:00:00:01' }));
  t.like(made, { name: 'skiff.1', kind: 'vxlan', mtu: 1450, mac: '02:aa:00:00:00:01' });
  t.like(made.vxlan, { vni: 1, port: 8472, local: '198.19.0.1', underlay: underlay.index, learning: false });
  const again = await ensureVxlanDevice(nl, spec(underlay));
  t.is(again.index, made.index, 'a matching device is kept');
  t.is(again.mac, '02:aa:00:00:00:01', 'and with it the MAC the lease publishes');
  const other = await ensureVxlanDevice(nl, spec(underlay, { port: 4789 }));
  t.not(other.index, made.index, 'another port: made again');
  t.is(other.mac, '02:aa:00:00:00:01', 'keeping the MAC');
  await nl.deleteLink(other.index);
  const back = await ensureVxlanDevice(nl, spec(underlay, { mac: '02:aa:00:00:00:01', mtu: 9000 }));
  t.like(back, { mac: '02:aa:00:00:00:01', mtu: 8950 }, 'a deleted device comes back with the stored MAC; Backend.MTU wins');
  t.is(vxlanDeviceName(4096), 'skiff.4096');
});

test('a new device without a stored MAC is made with one of ours, locally administered unicast: never the kernel\'s random one, which systemd-udevd replaces', async (t) => {
  const { nl, underlay } = await host();
  const asked: Array<string | undefined> = [];
  const create = nl.createVxlan.bind(nl);
  nl.createVxlan = (name, vxlan, options) => {
    asked.push(options?.mac);
    return create(name, vxlan, options);
  };
  const made = await ensureVxlanDevice(nl, spec(underlay));
  t.is(asked.length, 1);
  t.is(asked[0], made.mac, 'the MAC is given at creation (addr_assign_type "set", which udev leaves alone)');
  t.regex(made.mac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered, unicast');
});

test('configure: the lease\'s network address as the one /32 in the overlay, an old lease\'s address removed, up', async (t) => {
  const { nl, underlay } = await host();
  const link = await ensureVxlanDevice(nl, spec(underlay));
  await nl.addAddress({ index: link.index, address: '198.18.9.0', prefixLength: 32 });
  await configureVxlanDevice(nl, link.index, OWN, NETWORK);
  t.deepEqual((await nl.listAddresses(link.index)).map((a) => `${a.address}/${a.prefixLength}`), ['198.18.1.0/32']);
  t.true((await nl.getLink(link.index)).up);
  await configureVxlanDevice(nl, link.index, OWN, NETWORK);
  t.is((await nl.listAddresses(link.index)).length, 1, 'idempotent');
});

test('a peer: neighbour, FDB, then the onlink route; removed in reverse', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const peers = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  nl.log.length = 0;
  await peers.program(peer(2));
  t.deepEqual(nl.log.map((l) => l.split(' ').slice(0, 2).join(' ')), ['add neighbour', 'add fdb', 'add route']);
  t.deepEqual((await nl.listNeighbours(link.index)).map((n) => [n.address, n.mac, n.permanent]), [['198.18.2.0', '02:00:00:00:00:02', true]]);
  t.deepEqual((await nl.listFdb(link.index)).map((f) => [f.mac, f.dst]), [['02:00:00:00:00:02', '198.19.0.2']]);
  const route = (await nl.listRoutes()).find((r) => r.dst === '198.18.2.0/24');
  t.like(route, { gateway: '198.18.2.0', index: link.index, onlink: true });
  nl.log.length = 0;
  await peers.remove(peer(2));
  t.deepEqual(nl.log.map((l) => l.split(' ').slice(0, 2).join(' ')), ['delete route', 'delete fdb', 'delete neighbour']);
  t.deepEqual([await nl.listNeighbours(link.index), await nl.listFdb(link.index)], [[], []]);
  t.is((await nl.listRoutes()).find((r) => r.dst === '198.18.2.0/24'), undefined);
  await t.notThrowsAsync(() => peers.remove(peer(2)), 'removing again is fine');
});

test('a peer whose VTEP MAC changed loses its old FDB entry (flannel leaves it)', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const peers = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  await peers.program(peer(2, '02:00:00:00:00:aa'));
  await peers.program(peer(2, '02:00:00:00:00:bb'));
  t.deepEqual((await nl.listFdb(link.index)).map((f) => f.mac), ['02:00:00:00:00:bb']);
  t.deepEqual((await nl.listNeighbours(link.index)).map((n) => n.mac), ['02:00:00:00:00:bb']);
});

test('a failed route rolls back the neighbour and FDB entry: never half a peer', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const peers = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  nl.failNext(/^add route /, 'ENOBUFS');
  await t.throwsAsync(() => peers.program(peer(3)), { message: /ENOBUFS/ });
  t.deepEqual([await nl.listNeighbours(link.index), await nl.listFdb(link.index)], [[], []]);
});

test('reconcile: what no lease explains goes (planted route, neighbour, FDB; a departed peer); the rest is programmed; others\' routes stay', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const bridge = await nl.createBridge('skt-br');
  await nl.setLinkUp(bridge.index, true);
  await nl.addAddress({ index: bridge.index, address: '198.18.1.1', prefixLength: 24 });
  // Left by a run that knew peers 2 and 9; 9 left while the daemon was down; someone planted 77's entries.
  const before = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  for (const p of [peer(2), peer(9)]) await before.program(p);
  await nl.addNeighbour({ index: link.index, address: '198.18.77.0', mac: '02:00:00:00:00:77' });
  await nl.addFdb({ index: link.index, mac: '02:00:00:00:00:77', dst: '198.19.0.77' });
  await nl.addRoute({ dst: '198.18.77.0/24', gateway: '198.19.0.77' });
  await nl.addRoute({ dst: '198.19.5.0/24', gateway: '198.19.0.254' });
  const after = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  const r = await after.reconcile([peer(2), peer(3)]);
  t.is(r.programmed, 2);
  t.deepEqual((await nl.listNeighbours(link.index)).map((n) => n.address).sort(), ['198.18.2.0', '198.18.3.0']);
  t.deepEqual((await nl.listFdb(link.index)).map((f) => f.mac).sort(), ['02:00:00:00:00:02', '02:00:00:00:00:03']);
  const dsts = (await nl.listRoutes()).map((x) => x.dst).sort();
  t.deepEqual(dsts, ['198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24', '198.19.0.0/24', '198.19.5.0/24'], 'our bridge\'s and the underlay\'s routes stay');
});

test('DirectRouting: a peer on the underlay\'s own link gets a plain route via its public IP, no vxlan entries', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const peers = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN, direct: [cidr('198.19.0.0/24')] });
  await peers.reconcile([peer(2), peer(4, undefined, '198.19.7.4')]);
  const routes = await nl.listRoutes();
  t.like(routes.find((r) => r.dst === '198.18.2.0/24'), { gateway: '198.19.0.2' });
  t.like(routes.find((r) => r.dst === '198.18.4.0/24'), { gateway: '198.18.4.0', index: link.index, onlink: true }, 'not on our link: vxlan');
  t.deepEqual((await nl.listFdb(link.index)).map((f) => f.mac), ['02:00:00:00:00:04']);
  await peers.remove(peer(2));
  t.is((await nl.listRoutes()).find((r) => r.dst === '198.18.2.0/24'), undefined);
});

test('peerOf: our own lease and other backends or VNIs are not peers', (t) => {
  const lease = (subnet: string, attrs: object) => leaseOf(`/p/subnets/${subnet.replace('/', '-')}`, JSON.stringify(attrs))!;
  const vx = (vni: number) => ({ PublicIP: '198.19.0.2', BackendType: 'vxlan', BackendData: { VNI: vni, VtepMAC: '02:00:00:00:00:02' } });
  t.deepEqual(peerOf(lease('198.18.2.0/24', vx(1)), OWN, 1), peer(2));
  t.is(peerOf(lease('198.18.1.0/24', vx(1)), OWN, 1), undefined);
  t.is(peerOf(lease('198.18.2.0/24', vx(2)), OWN, 1), undefined);
  t.is(peerOf(lease('198.18.2.0/24', { PublicIP: '198.19.0.2', BackendType: 'host-gw' }), OWN, 1), undefined);
  t.truthy(encodeLeaseAttrs);
});

test('1,000 peers reconcile in one pass', async (t) => {
  const { nl, underlay } = await host();
  const link = await device(nl, underlay);
  const peers = new VxlanPeers({ nl, device: link.index, network: NETWORK, own: OWN });
  const many = Array.from({ length: 1000 }, (_, i) => ({
    subnet: cidr(`198.18.${2 + Math.floor(i / 4)}.${(i % 4) * 64}/26`), publicIp: `198.19.${Math.floor(i / 250)}.${(i % 250) + 2}`,
    vtepMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  }));
  await peers.reconcile(many);
  t.is((await nl.listFdb(link.index)).length, 1000);
  t.is((await nl.listNeighbours(link.index)).length, 1000);
});

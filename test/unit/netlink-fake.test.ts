/**
 * The netlink contract against the in-memory fake (the same checks run
 * against the kernel in test/integration/netlink-kernel.test.ts), plus what
 * only the fake offers tests: injected failures and the operation log.
 */
import test from 'ava';
import { FakeNetlink, FakeNetworkWorld, NetlinkError } from '../../network/netlink/index.js';
import { netlinkContract, type NetlinkContractWorld } from '../../network/netlink/netlink-contract.js';

function world(): NetlinkContractWorld {
  const w = new FakeNetworkWorld();
  const main = w.createNamespace();
  const other = w.createNamespace();
  return { netlink: new FakeNetlink(w, main), other: { netlink: new FakeNetlink(w, other), fd: w.fdFor(other) } };
}

for (const check of netlinkContract) {
  test(`contract (fake): ${check.name}`, async (t) => {
    await t.notThrowsAsync(() => check.run(world()));
  });
}

test('failNext makes the next matching operation fail once, with the errno asked for', async (t) => {
  const nl = new FakeNetlink();
  nl.failNext(/^add fdb /, 'ENOBUFS');
  const vx = await nl.createVxlan('skt-vx', { vni: 1, port: 8472 });
  const entry = { index: vx.index, mac: '02:00:c6:12:00:01', dst: '198.19.0.2' };
  const err = await t.throwsAsync(() => nl.addFdb(entry), { instanceOf: NetlinkError });
  t.is(err?.errnoName, 'ENOBUFS');
  t.is(err?.code, 'E_NETWORK');
  await nl.addFdb(entry);
  t.is((await nl.listFdb(vx.index)).length, 1);
});

test('the log records mutating operations in order (the overlay checks neigh, fdb, then route)', async (t) => {
  const nl = new FakeNetlink();
  const vx = await nl.createVxlan('skt-vx', { vni: 1, port: 8472 });
  await nl.setLinkUp(vx.index, true);
  await nl.addNeighbour({ index: vx.index, address: '198.18.2.0', mac: '02:00:c6:12:02:00' });
  await nl.addFdb({ index: vx.index, mac: '02:00:c6:12:02:00', dst: '198.19.0.2' });
  await nl.addRoute({ dst: '198.18.2.0/24', gateway: '198.18.2.0', index: vx.index, onlink: true });
  await nl.listRoutes();
  t.deepEqual(nl.log.map((l) => l.split(' ').slice(0, 2).join(' ')), [
    'create vxlan', 'set up', 'add neighbour', 'add fdb', 'add route',
  ]);
});

test('bad addresses and MACs are usage errors before any request', async (t) => {
  const nl = new FakeNetlink();
  await t.throwsAsync(() => nl.addAddress({ index: 1, address: '198.18.0.300', prefixLength: 24 }), { code: 'E_USAGE' });
  await t.throwsAsync(() => nl.addNeighbour({ index: 1, address: '198.18.0.1', mac: '02:00' }), { code: 'E_USAGE' });
  await t.throwsAsync(() => nl.addRoute({ dst: '198.18.0.0/33', index: 1 }), { code: 'E_USAGE' });
  t.deepEqual(nl.log, []);
});

test('a closed fake refuses requests', async (t) => {
  const nl = new FakeNetlink();
  nl.close();
  await t.throwsAsync(() => nl.createBridge('skt-br'), { instanceOf: NetlinkError });
});

/**
 * The netlink contract against the kernel (the same checks run against the
 * fake in test/unit/netlink-fake.test.ts), each check in two throwaway
 * network namespaces of its own, the sockets opened inside them with
 * openNetlink({netnsPath}); the root namespace is never touched. Plus what
 * only the kernel can show: `ip -d` agrees on the vxlan port's byte order,
 * opening a socket in a netns leaves this thread in its own, and the rate of
 * 1,000 pipelined neighbour adds (logged, never asserted; serial, so the
 * other tests' namespaces are not being made at the same time).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { openNetlink, type Netlink } from '../../network/netlink/index.js';
import { netlinkContract, type NetlinkContractWorld } from '../../network/netlink/netlink-contract.js';
import { testNetns, type Netns } from '../support/netns.js';
import type { Teardown } from '../support/temp-dir.js';

async function open(t: Teardown, ns: Netns): Promise<Netlink> {
  const nl = await openNetlink({ netnsPath: ns.path });
  t.teardown(() => nl.close());
  return nl;
}

async function world(t: Teardown): Promise<NetlinkContractWorld & { main: Netns }> {
  const main = await testNetns(t, 'sknl');
  const other = await testNetns(t, 'sknl');
  const fd = openSync(other.path, 'r');
  t.teardown(() => closeSync(fd));
  return { main, netlink: await open(t, main), other: { netlink: await open(t, other), fd } };
}

for (const check of netlinkContract) {
  test(`contract (kernel): ${check.name}`, async (t) => {
    await t.notThrowsAsync(check.run(await world(t)));
  });
}

test('opening a socket in another netns leaves this thread in its own, and the socket acts there only', async (t) => {
  const home = readlinkSync('/proc/thread-self/ns/net');
  const { main, netlink } = await world(t);
  t.is(readlinkSync('/proc/thread-self/ns/net'), home);
  await netlink.createBridge('skt-here');
  const shown = await main.run('ip', ['-o', 'link', 'show', 'skt-here']);
  t.is(shown.code, 0, shown.stderr);
  t.throws(() => execFileSync('ip', ['-o', 'link', 'show', 'skt-here'], { stdio: 'pipe' }), undefined, 'not in the root namespace');
  const missing = await t.throwsAsync(openNetlink({ netnsPath: '/run/netns/skt-no-such-netns' }), { code: 'E_NATIVE' });
  t.regex(missing?.message ?? '', /skt-no-such-netns: ENOENT/);
  // A namespace file of another type: setns refuses it (EINVAL) and the thread stays home.
  const wrong = await t.throwsAsync(openNetlink({ netnsPath: '/proc/self/ns/uts' }), { code: 'E_NATIVE' });
  t.regex(wrong?.message ?? '', /^setns .*EINVAL/);
  t.is(readlinkSync('/proc/thread-self/ns/net'), home);
});

test('ip -d agrees: vxlan id, dstport 8472 (so the port went big-endian), local, dev, nolearning', async (t) => {
  const { main, netlink } = await world(t);
  const under = await netlink.createVeth('skt-u0', { name: 'skt-u1' });
  await netlink.createVxlan('skiff.1', { vni: 1, port: 8472, local: '198.19.0.1', underlay: under.index });
  const shown = await main.run('ip', ['-d', 'link', 'show', 'skiff.1']);
  t.regex(shown.stdout, /vxlan id 1 local 198\.19\.0\.1 dev skt-u0 .*dstport 8472 nolearning/);
  const fdb = await main.run('bridge', ['fdb', 'show', 'dev', 'skiff.1']);
  t.is(fdb.stdout.trim(), '', 'no default entry: the FDB is ours to program');
});

test.serial('1,000 neighbour adds issued at once (the overlay programming 1,000 peers)', async (t) => {
  const { netlink } = await world(t);
  const vx = await netlink.createVxlan('skiff.1', { vni: 1, port: 8472 });
  await netlink.setLinkUp(vx.index, true);
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 1000 }, (_, i) => netlink.addNeighbour({
    index: vx.index, address: `198.18.${4 + (i >> 8)}.${i & 255}`, mac: '02:00:c6:12:00:01', mode: 'replace',
  })));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.log(`1,000 neighbour adds: ${ms.toFixed(1)} ms`);
  t.is((await netlink.listNeighbours(vx.index)).length, 1000);
});

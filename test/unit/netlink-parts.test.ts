/**
 * The pure parts of the netlink layer: the one place errors are typed, the
 * address and MAC codecs, the wire helpers the package lacks (vxlan port byte
 * order, onlink flag, veth peer, create flags), and the request channel's
 * window and dump ordering over a scripted socket.
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import { Flags, FlagsGet, FlagsNew, MessageType, ifla, rt, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import { createFlags } from '../../network/netlink/kernel-netlink.js';
import { canonicalCidr, cidrContains, parseCidr, randomMac } from '../../network/netlink/inet.js';
import { flatten, vethInfo, vxlanInfo, toLinkInfo, linkPayload } from '../../network/netlink/link-codec.js';
import { fromPackageError, isGone, NetlinkError } from '../../network/netlink/netlink-error.js';
import { newRoutePayload, toRouteInfo } from '../../network/netlink/route-codec.js';
import { RequestChannel } from '../../network/netlink/request-channel.js';
import { exitCodeFor } from '../../runtime/exit-codes.js';

test('NetlinkError: errno and its name, a one-line message, E_NETWORK, exit 254', (t) => {
  const err = new NetlinkError('create bridge skiff0', 17);
  t.is(err.errno, 17);
  t.is(err.errnoName, 'EEXIST');
  t.is(err.code, 'E_NETWORK');
  t.is(err.message, 'netlink: create bridge skiff0: EEXIST');
  t.is(exitCodeFor(err), 254);
  t.is(new NetlinkError('x', 95).errnoName, 'EOPNOTSUPP', 'the kernel\'s name, not ENOTSUP');
});

test('fromPackageError: the package\'s ErrnoException, its "Request rejected" text, and anything else', (t) => {
  const sys = Object.assign(new Error('Error when receiving Netlink message: no buffer space'), { errno: 105, code: 'ENOBUFS' });
  t.is(fromPackageError('op', sys).errnoName, 'ENOBUFS');
  t.is(fromPackageError('op', new Error('Request rejected: EEXIST')).errno, 17);
  t.is(fromPackageError('op', new Error('Request rejected: -523')).errno, 523);
  const other = fromPackageError('op', new Error('Multipart message not terminated properly'));
  t.is(other.errno, 0);
  t.is(other.errnoName, 'EUNKNOWN');
  t.true(other.cause instanceof Error);
});

test('isGone: the "already gone" errnos of each object kind', (t) => {
  for (const errno of [19, 2, 3, 99]) t.true(isGone(new NetlinkError('delete', errno)), String(errno));
  t.false(isGone(new NetlinkError('delete', 17)));
  t.false(isGone(new Error('ENODEV')));
});

test('create modes are the NLM_F flags, named', (t) => {
  t.is(createFlags('exclusive'), FlagsNew.CREATE | FlagsNew.EXCL);
  t.is(createFlags('replace'), FlagsNew.CREATE | FlagsNew.REPLACE);
  t.is(createFlags('create'), FlagsNew.CREATE);
  t.is(createFlags(), FlagsNew.CREATE | FlagsNew.EXCL);
});

test('CIDRs and MACs', (t) => {
  t.deepEqual(parseCidr('198.18.0.0/16'), { address: '198.18.0.0', prefixLength: 16 });
  t.is(canonicalCidr('198.18.7.9/24'), '198.18.7.0/24');
  t.is(canonicalCidr('default'), '0.0.0.0/0');
  t.true(cidrContains('198.18.7.0', 24, '198.18.7.200'));
  t.false(cidrContains('198.18.7.0', 24, '198.18.8.1'));
  t.throws(() => parseCidr('198.18.0.0'), { code: 'E_USAGE' });
  const mac = randomMac(() => 0.999);
  t.regex(mac, /^fe(:ff){5}$/, 'locally administered, unicast');
});

test('vxlan port goes big-endian on the wire (8472 = 0x2118 → bytes 21 18), VNI and learning as the kernel wants', (t) => {
  const info = ifla.parseInfo(vxlanInfo({ vni: 1, port: 8472, local: '198.19.0.1', underlay: 3 }));
  t.is(info.kind, 'vxlan');
  const v = ifla.parseVxlan(info.data!);
  t.deepEqual([...v.port!], [0x21, 0x18]);
  t.is(v.id, 1);
  t.is(v.learning, 0);
  t.deepEqual([...v.local!], [198, 19, 0, 1]);
  t.is(v.link, 3);
});

test('a veth peer is a whole ifinfomsg with its name and namespace fd inside VETH_INFO_PEER', (t) => {
  const info = ifla.parseInfo(vethInfo({ name: 'eth0', netnsFd: 42, mtu: 1450 }));
  t.is(info.kind, 'veth');
  const peer = ifla.parseVethInfo(info.data!).peer!;
  const attrs = ifla.parseLinkAttrs(peer.subarray(16));
  t.is(attrs.ifname, 'eth0');
  t.is(attrs.netNsFd, 42);
  t.is(attrs.mtu, 1450);
});

test('an onlink route carries RTNH_F_ONLINK and reads back as onlink', (t) => {
  const bytes = Buffer.concat(newRoutePayload({ dst: '198.18.2.0/24', gateway: '198.18.2.0', index: 4, onlink: true }));
  const message = rt.parseRouteMessage(bytes);
  t.is((message.data.flags?.__unknown ?? 0) & 4, 4);
  const info = toRouteInfo(message, 254);
  t.like(info, { dst: '198.18.2.0/24', gateway: '198.18.2.0', index: 4, onlink: true, scope: 'universe', protocol: 3 });
  t.is(toRouteInfo(message, 100), undefined, 'another table');
});

test('link messages map to LinkInfo (kind, vxlan details, MAC, master)', (t) => {
  const bytes = Buffer.concat(linkPayload({ index: 7, flags: { up: true } }, {
    ifname: 'skiff.1', mtu: 1450, master: 2, address: Buffer.from([2, 0, 0, 0, 0, 1]),
    linkinfo: vxlanInfo({ vni: 1, port: 8472 }),
  }));
  t.deepEqual(toLinkInfo(rt.parseLinkMessage(bytes)), {
    index: 7, name: 'skiff.1', kind: 'vxlan', mtu: 1450, up: true, mac: '02:00:00:00:00:01', master: 2,
    vxlan: { vni: 1, port: 8472, local: undefined, underlay: undefined, learning: false },
  });
  t.is(flatten([]).length, 0);
});

/** A socket that answers each request when told to, recording what was sent. */
class ScriptedSocket extends EventEmitter {
  readonly sent: Array<{ type: number; flags: number; answer(messages: NetlinkMessage[]): void }> = [];
  closed = false;
  address(): { port: number; groups: number } {
    return { port: 1234, groups: 0 };
  }
  request(type: number, _data: unknown, options: { flags?: number }): Promise<[NetlinkMessage[], unknown]> {
    return new Promise((resolve) => this.sent.push({ type, flags: options.flags ?? 0, answer: (m) => resolve([m, {}]) }));
  }
  close(): void {
    this.closed = true;
  }
}

function errorMessage(errno: number): NetlinkMessage {
  const data = Buffer.alloc(20);
  data.writeInt32LE(-errno, 0);
  return { type: MessageType.ERROR, flags: 0, seq: 0, port: 0, data };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the channel keeps at most `window` requests in flight, FIFO, and reads errno from the ERROR message', async (t) => {
  const socket = new ScriptedSocket();
  const channel = new RequestChannel(socket as unknown as NetlinkSocket, 2);
  const results = [1, 2, 3].map((i) => channel.request(16, [], FlagsNew.CREATE, `op ${i}`));
  await tick();
  t.is(socket.sent.length, 2);
  socket.sent[0]!.answer([errorMessage(0)]);
  await tick();
  t.is(socket.sent.length, 3, 'a slot freed, the third went out');
  socket.sent[1]!.answer([errorMessage(17)]);
  socket.sent[2]!.answer([errorMessage(0)]);
  t.deepEqual(await results[0], []);
  const err = await t.throwsAsync(results[1]!, { instanceOf: NetlinkError });
  t.is(err?.message, 'netlink: op 2: EEXIST');
  t.deepEqual(await results[2], []);
});

test('a dump waits for the requests before it and holds back the ones after it; an interrupted dump is retried', async (t) => {
  const socket = new ScriptedSocket();
  const channel = new RequestChannel(socket as unknown as NetlinkSocket, 8);
  const before = channel.request(16, [], 0, 'before');
  const dump = channel.dump(18, [], 'dump');
  const after = channel.request(16, [], 0, 'after');
  await tick();
  t.is(socket.sent.length, 1, 'only the request before the dump');
  socket.sent[0]!.answer([errorMessage(0)]);
  await before;
  await tick();
  t.is(socket.sent.length, 2);
  t.is(socket.sent[1]!.flags, FlagsGet.DUMP);
  const link = { type: 16, flags: Flags.MULTI, seq: 0, port: 0, data: Buffer.alloc(16) };
  socket.sent[1]!.answer([{ ...link, flags: Flags.MULTI | Flags.DUMP_INTR }]);
  await tick();
  t.is(socket.sent.length, 3, 'retried, and the request after it still waits');
  socket.sent[2]!.answer([link, link]);
  t.is((await dump).length, 2);
  await tick();
  t.is(socket.sent.length, 4);
  socket.sent[3]!.answer([errorMessage(0)]);
  await after;
});

test('a socket error fails every pending and queued request and closes the socket', async (t) => {
  const socket = new ScriptedSocket();
  const channel = new RequestChannel(socket as unknown as NetlinkSocket, 1);
  const a = channel.request(16, [], 0, 'a');
  const b = channel.request(16, [], 0, 'b');
  await tick();
  socket.emit('error', Object.assign(new Error('recvmsg'), { errno: 105, code: 'ENOBUFS' }));
  for (const p of [a, b]) t.is((await t.throwsAsync(p, { instanceOf: NetlinkError }))?.errnoName, 'ENOBUFS');
  t.true(socket.closed);
  await t.throwsAsync(channel.request(16, [], 0, 'c'), { message: /netlink: c: ENOBUFS/ });
});

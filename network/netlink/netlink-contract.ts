/**
 * The kernel behaviour Skiff relies on, as checks that run against any
 * Netlink: the fake in unit tests (test/unit/netlink-fake.test.ts) and the
 * kernel, as root, in throwaway network namespaces
 * (test/integration/netlink-kernel.test.ts), so the fake cannot drift from
 * the kernel (STYLE.md point 2). Framework-free: a check throws on a
 * mismatch; the test files wrap each in a test and give each a fresh world.
 *
 * A world is two namespaces with loopback up and nothing else of ours (the
 * kernel may add its own fallback tunnels: checks look only at their links).
 * Addresses: 198.18.0.0/16 (pods) and 198.19.0.0/16 (underlay) only.
 */
import { NetlinkError } from './netlink-error.js';
import type { LinkInfo, Netlink, RouteInfo } from './types.js';

export interface NetlinkContractWorld {
  netlink: Netlink;
  /** A second namespace: a Netlink in it and an fd of it, for VethPeer.netnsFd. */
  other: { netlink: Netlink; fd: number };
}

export interface NetlinkContractCheck {
  name: string;
  run(world: NetlinkContractWorld): Promise<void>;
}

async function expectErrno(what: string, errnoName: string, fn: () => Promise<unknown>): Promise<void> {
  let got: string;
  try {
    await fn();
    got = 'success';
  } catch (err) {
    got = err instanceof NetlinkError ? err.errnoName : `${String(err)} (not a NetlinkError)`;
  }
  if (got !== errnoName) throw new Error(`${what}: expected ${errnoName}, got ${got}`);
}

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** A link's fields in a fixed order, for comparisons (the index and a random MAC left out when asked). */
function shape(link: LinkInfo, withMac = true): object {
  return {
    name: link.name, kind: link.kind, mtu: link.mtu, up: link.up, ...(withMac ? { mac: link.mac } : {}),
    master: link.master ?? null, vxlan: link.vxlan ?? null,
  };
}

function route(r: RouteInfo) {
  return {
    dst: r.dst, gateway: r.gateway ?? null, index: r.index ?? null, onlink: r.onlink, table: r.table, scope: r.scope,
    protocol: r.protocol, metric: r.metric, source: r.source ?? null,
  };
}

/** The routes through one link, in a fixed order (the kernel's dump order is its trie's). */
const routesVia = async (nl: Netlink, index: number, table?: number) =>
  (await nl.listRoutes(table)).filter((r) => r.index === index).map(route)
    .sort((a, b) => a.dst.localeCompare(b.dst) || a.metric - b.metric);

const MAC_A = '02:00:c6:12:00:0a';
const MAC_B = '02:00:c6:12:00:0b';
const MAC_C = '02:00:c6:12:00:0c';

export const netlinkContract: NetlinkContractCheck[] = [
  {
    name: 'bridge: created with MTU and MAC and read back by name and index; exclusive again is EEXIST; create mode keeps it and applies the MTU',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br0', { mtu: 1400, mac: MAC_A });
      expectEqual('created', shape(br), { name: 'skt-br0', kind: 'bridge', mtu: 1400, up: false, mac: MAC_A, master: null, vxlan: null });
      expectEqual('by index', shape(await nl.getLink(br.index)), shape(br));
      expectEqual('by name', (await nl.getLink('skt-br0')).index, br.index);
      expectEqual('listed', (await nl.listLinks()).filter((l) => l.name === 'skt-br0').map((l) => l.index), [br.index]);
      await expectErrno('exclusive create of an existing bridge', 'EEXIST', () => nl.createBridge('skt-br0'));
      const again = await nl.createBridge('skt-br0', { mode: 'create', mtu: 1300 });
      expectEqual('create mode: same link, new MTU', [again.index, again.mtu], [br.index, 1300]);
    },
  },
  {
    name: 'links: up, down, MTU and MAC set; MTU below 68 is EINVAL; a 16-character name is ERANGE; a missing link is ENODEV; delete with missingOk',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br1');
      await nl.setLinkUp('skt-br1', true);
      await nl.setLinkMtu(br.index, 1280);
      await nl.setLinkMac('skt-br1', MAC_B);
      expectEqual('after set', shape(await nl.getLink(br.index)), { ...shape(br), mtu: 1280, up: true, mac: MAC_B });
      await nl.setLinkUp(br.index, false);
      expectEqual('down again', (await nl.getLink(br.index)).up, false);
      await expectErrno('MTU 10', 'EINVAL', () => nl.setLinkMtu(br.index, 10));
      await expectErrno('name of 16 characters', 'ERANGE', () => nl.createBridge('skt-0123456789ab'));
      await expectErrno('get a missing link', 'ENODEV', () => nl.getLink('skt-none'));
      await expectErrno('set a missing link up', 'ENODEV', () => nl.setLinkUp('skt-none', true));
      await expectErrno('set MTU on a missing index', 'ENODEV', () => nl.setLinkMtu(99999, 1400));
      expectEqual('findLink of a missing link', await nl.findLink('skt-none'), undefined);
      expectEqual('delete', await nl.deleteLink('skt-br1'), true);
      expectEqual('gone', await nl.findLink(br.index), undefined);
      await expectErrno('delete again', 'ENODEV', () => nl.deleteLink('skt-br1'));
      expectEqual('delete again with missingOk', await nl.deleteLink('skt-br1', { missingOk: true }), false);
    },
  },
  {
    name: 'veth: the peer is created directly in the other namespace with its own MTU and MAC; names taken are EEXIST and leave nothing; deleting one end deletes both',
    async run({ netlink: nl, other }) {
      const va = await nl.createVeth('skt-va', { name: 'skt-vb', netnsFd: other.fd, mtu: 1450, mac: MAC_B }, { mac: MAC_A });
      expectEqual('this end', shape(va), { name: 'skt-va', kind: 'veth', mtu: 1500, up: false, mac: MAC_A, master: null, vxlan: null });
      expectEqual('the peer, there', shape(await other.netlink.getLink('skt-vb')),
        { name: 'skt-vb', kind: 'veth', mtu: 1450, up: false, mac: MAC_B, master: null, vxlan: null });
      expectEqual('the peer is not here', await nl.findLink('skt-vb'), undefined);
      await expectErrno('this name taken', 'EEXIST', () => nl.createVeth('skt-va', { name: 'skt-vc' }));
      await expectErrno('create mode on an existing veth', 'EOPNOTSUPP', () => nl.createVeth('skt-va', { name: 'skt-vc' }, { mode: 'create' }));
      await expectErrno('the peer name taken there', 'EEXIST', () => nl.createVeth('skt-vx', { name: 'skt-vb', netnsFd: other.fd }));
      expectEqual('nothing left of the failed pair', await nl.findLink('skt-vx'), undefined);
      await nl.deleteLink('skt-va');
      expectEqual('the peer went with it', await other.netlink.findLink('skt-vb'), undefined);
    },
  },
  {
    name: 'bridge ports: master set and cleared; a non-bridge master is EOPNOTSUPP, a missing one EINVAL; deleting the bridge releases its ports',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br2');
      const port = await nl.createVeth('skt-p0', { name: 'skt-p1' });
      await nl.setLinkMaster('skt-p0', br.index);
      expectEqual('enslaved', (await nl.getLink(port.index)).master, br.index);
      await nl.setLinkMaster(port.index, null);
      expectEqual('released', (await nl.getLink(port.index)).master, undefined);
      const peer = await nl.getLink('skt-p1');
      await expectErrno('master is a veth', 'EOPNOTSUPP', () => nl.setLinkMaster(port.index, peer.index));
      await expectErrno('master does not exist', 'EINVAL', () => nl.setLinkMaster(port.index, 99999));
      await nl.setLinkMaster(port.index, br.index);
      await nl.deleteLink(br.index);
      expectEqual('port kept, released', shape(await nl.getLink(port.index), false), { ...shape(port, false), master: null });
    },
  },
  {
    name: 'vxlan: VNI, port 8472, local, underlay and nolearning read back; MTU is the underlay\'s − 50 (1500 without one); one device per VNI and port (EEXIST); create mode on it is EOPNOTSUPP',
    async run({ netlink: nl }) {
      const under = await nl.createVeth('skt-u0', { name: 'skt-u1' }, { mtu: 1400 });
      const vx = await nl.createVxlan('skt-vx1', { vni: 1, port: 8472, local: '198.19.0.1', underlay: under.index }, { mac: MAC_A });
      expectEqual('created', shape(vx), {
        name: 'skt-vx1', kind: 'vxlan', mtu: 1350, up: false, mac: MAC_A, master: null,
        vxlan: { vni: 1, port: 8472, local: '198.19.0.1', underlay: under.index, learning: false },
      });
      expectEqual('read back', shape(await nl.getLink('skt-vx1')), shape(vx));
      const alone = await nl.createVxlan('skt-vx2', { vni: 4096, port: 4789, learning: true });
      expectEqual('no underlay', shape(alone, false), {
        name: 'skt-vx2', kind: 'vxlan', mtu: 1500, up: false, master: null,
        vxlan: { vni: 4096, port: 4789, learning: true },
      });
      await expectErrno('same VNI and port', 'EEXIST', () => nl.createVxlan('skt-vx3', { vni: 1, port: 8472 }));
      await expectErrno('create mode on the existing device', 'EOPNOTSUPP',
        () => nl.createVxlan('skt-vx1', { vni: 1, port: 8472, local: '198.19.0.1', underlay: under.index }, { mode: 'create' }));
      await expectErrno('underlay missing', 'ENODEV', () => nl.createVxlan('skt-vx4', { vni: 5, port: 8472, underlay: 99999 }));
    },
  },
  {
    name: 'addresses: add, list, EEXIST unless replace, delete; the prefix route (proto kernel, scope link, src) exists while the address does; a /32 has none; EADDRNOTAVAIL and missingOk; ENODEV on a missing link',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br3');
      await nl.setLinkUp(br.index, true);
      const a = { index: br.index, address: '198.18.5.1', prefixLength: 24 };
      const host = { index: br.index, address: '198.18.6.0', prefixLength: 32 };
      await nl.addAddress(a);
      await nl.addAddress(host);
      expectEqual('listed', (await nl.listAddresses(br.index)).sort((x, y) => x.address.localeCompare(y.address)), [a, host]);
      await expectErrno('exclusive again', 'EEXIST', () => nl.addAddress(a));
      await expectErrno('create mode again', 'EEXIST', () => nl.addAddress({ ...a, mode: 'create' }));
      await nl.addAddress({ ...a, mode: 'replace' });
      expectEqual('replace keeps one', (await nl.listAddresses(br.index)).length, 2);
      expectEqual('prefix route only for the /24', await routesVia(nl, br.index), [{
        dst: '198.18.5.0/24', gateway: null, index: br.index, onlink: false, table: 254, scope: 'link',
        protocol: 2, metric: 0, source: '198.18.5.1',
      }]);
      expectEqual('deleted', await nl.deleteAddress(a), true);
      expectEqual('left', await nl.listAddresses(br.index), [host]);
      expectEqual('its prefix route went too', await routesVia(nl, br.index), []);
      await expectErrno('delete again', 'EADDRNOTAVAIL', () => nl.deleteAddress(a));
      expectEqual('delete again with missingOk', await nl.deleteAddress(a, { missingOk: true }), false);
      await expectErrno('add on a missing link', 'ENODEV', () => nl.addAddress({ ...a, index: 99999 }));
    },
  },
  {
    name: 'routes: via a gateway on a connected subnet (the link is found), ENETUNREACH without one, replace, metric, another table, delete, ESRCH and missingOk, ENETDOWN on a down link, ENODEV on a missing one',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br4');
      await nl.setLinkUp(br.index, true);
      await nl.addAddress({ index: br.index, address: '198.18.7.1', prefixLength: 24 });
      await nl.addRoute({ dst: '198.19.7.0/24', gateway: '198.18.7.254' });
      await expectErrno('exclusive again', 'EEXIST', () => nl.addRoute({ dst: '198.19.7.0/24', gateway: '198.18.7.254' }));
      await nl.addRoute({ dst: '198.19.7.0/24', gateway: '198.18.7.253', mode: 'replace' });
      await nl.addRoute({ dst: '198.19.8.0/24', index: br.index, metric: 10 });
      await nl.addRoute({ dst: 'default', gateway: '198.18.7.254', table: 100 });
      expectEqual('main table', (await routesVia(nl, br.index)).filter((r) => r.protocol !== 2), [
        { dst: '198.19.7.0/24', gateway: '198.18.7.253', index: br.index, onlink: false, table: 254, scope: 'universe', protocol: 3, metric: 0, source: null },
        { dst: '198.19.8.0/24', gateway: null, index: br.index, onlink: false, table: 254, scope: 'link', protocol: 3, metric: 10, source: null },
      ]);
      expectEqual('table 100', await routesVia(nl, br.index, 100), [{
        dst: '0.0.0.0/0', gateway: '198.18.7.254', index: br.index, onlink: false, table: 100, scope: 'universe', protocol: 3, metric: 0, source: null,
      }]);
      await expectErrno('gateway not on any link', 'ENETUNREACH', () => nl.addRoute({ dst: '198.19.9.0/24', gateway: '198.19.99.1' }));
      expectEqual('delete', await nl.deleteRoute({ dst: '198.19.7.0/24' }), true);
      await expectErrno('delete again', 'ESRCH', () => nl.deleteRoute({ dst: '198.19.7.0/24' }));
      expectEqual('delete again with missingOk', await nl.deleteRoute({ dst: '198.19.7.0/24' }, { missingOk: true }), false);
      expectEqual('delete in table 100', await nl.deleteRoute({ dst: '0.0.0.0/0', table: 100 }), true);
      expectEqual('delete by metric', await nl.deleteRoute({ dst: '198.19.8.0/24', metric: 10, index: br.index }), true);
      const down = await nl.createBridge('skt-br5');
      await expectErrno('route on a down link', 'ENETDOWN', () => nl.addRoute({ dst: '198.19.10.0/24', index: down.index }));
      await expectErrno('route on a missing link', 'ENODEV', () => nl.addRoute({ dst: '198.19.10.0/24', index: 99999 }));
    },
  },
  {
    name: 'routes, create mode: an identical route is EEXIST, one with another gateway is added beside it (ip route prepend); a delete by gateway takes just that one',
    async run({ netlink: nl }) {
      const br = await nl.createBridge('skt-br6');
      await nl.setLinkUp(br.index, true);
      await nl.addAddress({ index: br.index, address: '198.18.14.1', prefixLength: 24 });
      await nl.addRoute({ dst: '198.19.14.0/24', gateway: '198.18.14.254', mode: 'create' });
      await expectErrno('identical, create mode', 'EEXIST', () => nl.addRoute({ dst: '198.19.14.0/24', gateway: '198.18.14.254', mode: 'create' }));
      await nl.addRoute({ dst: '198.19.14.0/24', gateway: '198.18.14.253', mode: 'create' });
      const gateways = async () => (await routesVia(nl, br.index)).filter((r) => r.dst === '198.19.14.0/24').map((r) => r.gateway).sort();
      expectEqual('both', await gateways(), ['198.18.14.253', '198.18.14.254']);
      await nl.deleteRoute({ dst: '198.19.14.0/24', gateway: '198.18.14.254' });
      expectEqual('the other is left', await gateways(), ['198.18.14.253']);
    },
  },
  {
    name: 'overlay data path (flannel\'s order): permanent neighbour, FDB entry with dst (self), onlink route via the vxlan device; all replace-idempotent; without onlink the gateway is ENETUNREACH',
    async run({ netlink: nl }) {
      const vx = await nl.createVxlan('skt-vx5', { vni: 5, port: 8472, local: '198.19.0.1' });
      await nl.setLinkUp(vx.index, true);
      await nl.addAddress({ index: vx.index, address: '198.18.1.0', prefixLength: 32 });
      for (let i = 0; i < 2; i++) {
        await nl.addNeighbour({ index: vx.index, address: '198.18.2.0', mac: MAC_B, mode: 'replace' });
        await nl.addFdb({ index: vx.index, mac: MAC_B, dst: '198.19.0.2', mode: 'replace' });
        await nl.addRoute({ dst: '198.18.2.0/24', gateway: '198.18.2.0', index: vx.index, onlink: true, mode: 'replace' });
      }
      expectEqual('neighbour', await nl.listNeighbours(vx.index), [{ index: vx.index, address: '198.18.2.0', mac: MAC_B, permanent: true }]);
      expectEqual('fdb', await nl.listFdb(vx.index), [{ index: vx.index, mac: MAC_B, dst: '198.19.0.2', permanent: true }]);
      expectEqual('route', await routesVia(nl, vx.index), [{
        dst: '198.18.2.0/24', gateway: '198.18.2.0', index: vx.index, onlink: true, table: 254, scope: 'universe', protocol: 3, metric: 0, source: null,
      }]);
      await expectErrno('the same route without onlink', 'ENETUNREACH',
        () => nl.addRoute({ dst: '198.18.3.0/24', gateway: '198.18.3.0', index: vx.index }));
    },
  },
  {
    name: 'neighbours: permanent add and list; exclusive again EEXIST; create keeps the MAC, replace changes it; delete, ENOENT and missingOk; ENODEV on a missing link',
    async run({ netlink: nl }) {
      const vx = await nl.createVxlan('skt-vx6', { vni: 6, port: 8472 });
      const n = { index: vx.index, address: '198.18.9.0', mac: MAC_A };
      await nl.addNeighbour(n);
      expectEqual('listed', await nl.listNeighbours(vx.index), [{ ...n, permanent: true }]);
      await expectErrno('exclusive again', 'EEXIST', () => nl.addNeighbour(n));
      await nl.addNeighbour({ ...n, mac: MAC_B, mode: 'create' });
      expectEqual('create keeps the MAC', (await nl.listNeighbours(vx.index)).map((x) => x.mac), [MAC_A]);
      await nl.addNeighbour({ ...n, mac: MAC_C, mode: 'replace' });
      expectEqual('replace changes it', (await nl.listNeighbours(vx.index)).map((x) => x.mac), [MAC_C]);
      expectEqual('delete', await nl.deleteNeighbour(n), true);
      expectEqual('gone', await nl.listNeighbours(vx.index), []);
      await expectErrno('delete again', 'ENOENT', () => nl.deleteNeighbour(n));
      expectEqual('delete again with missingOk', await nl.deleteNeighbour(n, { missingOk: true }), false);
      await expectErrno('add on a missing link', 'ENODEV', () => nl.addNeighbour({ ...n, index: 99999 }));
    },
  },
  {
    name: 'fdb: add with dst and list; exclusive again EEXIST; create keeps the dst, replace moves it; delete by MAC (with a wrong dst the kernel answers success and deletes nothing), ENOENT and missingOk; ENODEV on a missing link',
    async run({ netlink: nl }) {
      const vx = await nl.createVxlan('skt-vx7', { vni: 7, port: 8472 });
      const e = { index: vx.index, mac: MAC_A, dst: '198.19.0.2' };
      await nl.addFdb(e);
      expectEqual('listed', await nl.listFdb(vx.index), [{ ...e, permanent: true }]);
      await expectErrno('exclusive again', 'EEXIST', () => nl.addFdb(e));
      await nl.addFdb({ ...e, dst: '198.19.0.3', mode: 'create' });
      expectEqual('create keeps the dst', (await nl.listFdb(vx.index)).map((x) => x.dst), ['198.19.0.2']);
      await nl.addFdb({ ...e, dst: '198.19.0.4', mode: 'replace' });
      expectEqual('replace moves it', (await nl.listFdb(vx.index)).map((x) => x.dst), ['198.19.0.4']);
      await nl.deleteFdb({ ...e, dst: '198.19.0.9' });
      expectEqual('a delete with a wrong dst "succeeds" and deletes nothing', (await nl.listFdb(vx.index)).length, 1);
      expectEqual('delete', await nl.deleteFdb({ index: vx.index, mac: MAC_A }), true);
      expectEqual('gone', await nl.listFdb(vx.index), []);
      await expectErrno('delete again', 'ENOENT', () => nl.deleteFdb(e));
      expectEqual('delete again with missingOk', await nl.deleteFdb(e, { missingOk: true }), false);
      await expectErrno('add on a missing link', 'ENODEV', () => nl.addFdb({ ...e, index: 99999 }));
    },
  },
  {
    name: 'a link going down loses its routes and its neighbours (permanent ones too) but keeps its FDB; up again brings the prefix route back, not the others',
    async run({ netlink: nl }) {
      const vx = await nl.createVxlan('skt-vx8', { vni: 8, port: 8472 });
      await nl.setLinkUp(vx.index, true);
      await nl.addAddress({ index: vx.index, address: '198.18.8.1', prefixLength: 24 });
      await nl.addNeighbour({ index: vx.index, address: '198.18.12.0', mac: MAC_A });
      await nl.addFdb({ index: vx.index, mac: MAC_A, dst: '198.19.0.2' });
      await nl.addRoute({ dst: '198.18.12.0/24', gateway: '198.18.12.0', index: vx.index, onlink: true });
      expectEqual('routes while up', (await routesVia(nl, vx.index)).length, 2);
      await nl.setLinkUp(vx.index, false);
      expectEqual('routes after down', await routesVia(nl, vx.index), []);
      expectEqual('neighbours after down', await nl.listNeighbours(vx.index), []);
      expectEqual('fdb after down', (await nl.listFdb(vx.index)).length, 1);
      await nl.setLinkUp(vx.index, true);
      expectEqual('routes after up', (await routesVia(nl, vx.index)).map((r) => r.dst), ['198.18.8.0/24']);
    },
  },
  {
    name: 'deleting an underlay link deletes the vxlan device on it and everything on that device; its veth peer in the other namespace goes too',
    async run({ netlink: nl, other }) {
      const under = await nl.createVeth('skt-u2', { name: 'skt-u3', netnsFd: other.fd });
      await nl.setLinkUp(under.index, true);
      const vx = await nl.createVxlan('skt-vx9', { vni: 9, port: 8472, underlay: under.index });
      await nl.setLinkUp(vx.index, true);
      await nl.addNeighbour({ index: vx.index, address: '198.18.13.0', mac: MAC_A });
      await nl.addFdb({ index: vx.index, mac: MAC_A, dst: '198.19.0.2' });
      await nl.addRoute({ dst: '198.18.13.0/24', gateway: '198.18.13.0', index: vx.index, onlink: true });
      await nl.deleteLink(under.index);
      expectEqual('vxlan gone', await nl.findLink('skt-vx9'), undefined);
      expectEqual('peer gone', await other.netlink.findLink('skt-u3'), undefined);
      expectEqual('neighbours gone', await nl.listNeighbours(vx.index), []);
      expectEqual('routes gone', await routesVia(nl, vx.index), []);
    },
  },
  {
    name: 'pipelining: 300 neighbour adds issued at once, with dumps among them, all land and all answer',
    async run({ netlink: nl }) {
      const vx = await nl.createVxlan('skt-vx10', { vni: 10, port: 8472 });
      const add = (i: number) => nl.addNeighbour({ index: vx.index, address: `198.18.${20 + (i >> 8)}.${i & 255}`, mac: MAC_A });
      const results = await Promise.all([
        ...Array.from({ length: 150 }, (_, i) => add(i)),
        nl.listNeighbours(vx.index),
        ...Array.from({ length: 150 }, (_, i) => add(150 + i)),
        nl.listLinks(),
      ]);
      expectEqual('the dump in the middle saw the first 150', (results[150] as unknown[]).length, 150);
      expectEqual('all listed', (await nl.listNeighbours(vx.index)).length, 300);
      await expectErrno('one of them again', 'EEXIST', () => add(299));
    },
  },
];

/**
 * Network definitions (built-ins and net.d files), `--net` parsing and the stage1 `net` value:
 * no kernel, no root.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, formatIpv4, overlaps, parseCidr, parseIpv4 } from '../../network/ipv4.js';
import { loadNetworks } from '../../network/network-config.js';
import { packageRoot } from '../../runtime/install-paths.js';
import { parseNetArg, resolveNetworks, stage1NetValue } from '../../network/pod-networks.js';

function localConfig(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-netconf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'net.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'net.d', name), text);
  return dir;
}

test('ipv4: strict parsing, prefixes, overlap', (t) => {
  t.is(parseIpv4('198.18.0.1'), 0xc6120001);
  for (const bad of ['198.18.0', '198.18.0.256', '198.018.0.1', '1.2.3.4.5', ' 1.2.3.4', '']) t.is(parseIpv4(bad), undefined, bad);
  t.is(formatIpv4(0xc6120001), '198.18.0.1');
  t.deepEqual(parseCidr('198.18.4.0/22'), { network: 0xc6120400, prefix: 22 });
  t.is(parseCidr('198.18.4.1/22'), undefined, 'host bits set');
  t.is(formatCidr(parseCidr('198.18.4.1/22', true)!), '198.18.4.0/22');
  t.true(overlaps(parseCidr('198.18.0.0/16')!, parseCidr('198.18.5.0/24')!));
  t.false(overlaps(parseCidr('198.18.0.0/24')!, parseCidr('198.18.1.0/24')!));
});

test('the built-ins: default is bridged and NATed with a default route (rkt\'s subnet); default-restricted is host-only', (t) => {
  const nets = loadNetworks('/nonexistent/skiff-local-config');
  t.like(nets.get('default'), { bridge: 'skiff0', ipMasq: true, defaultRoute: true, mtu: 1500, source: 'built-in', dataDir: '/run/skiff/networks/default' });
  // rkt's subnet, as the README states it (tests name no address outside 198.18.0.0/15 themselves).
  const stated = /Built-in subnet (\d+\.\d+\.\d+\.\d+\/\d+), rkt's\./.exec(readFileSync(join(packageRoot(), 'README.md'), 'utf8'))?.[1];
  t.truthy(stated, 'the README states the built-in subnet');
  t.is(formatCidr(nets.get('default')!.subnet), stated ?? '');
  t.is(formatIpv4(nets.get('default')!.gateway), formatIpv4(parseCidr(stated!)!.network + 1));
  t.like(nets.get('default-restricted'), { bridge: 'skiff1', ipMasq: false, defaultRoute: false });
});

test('net.d: a file overrides a built-in by name and adds named networks; CNI defaults apply', (t) => {
  const dir = localConfig(t, {
    '10-default.conf': JSON.stringify({ cniVersion: '0.4.0', name: 'default', type: 'bridge', bridge: 'skt0', ipMasq: true, mtu: 1400,
      ipam: { type: 'host-local', subnet: '198.18.9.0/24', rangeStart: '198.18.9.10', rangeEnd: '198.18.9.20', routes: [{ dst: '0.0.0.0/0' }], dataDir: '/tmp/x' } }),
    '20-back.conf': JSON.stringify({ name: 'back', type: 'bridge', bridge: 'skt1', ipam: { type: 'host-local', subnet: '198.18.10.0/24' } }),
    'ignored.json': '{',
  });
  const nets = loadNetworks(dir);
  t.like(nets.get('default'), { bridge: 'skt0', mtu: 1400, dataDir: '/tmp/x', source: join(dir, 'net.d', '10-default.conf') });
  t.is(formatIpv4(nets.get('default')!.rangeStart), '198.18.9.10');
  t.like(nets.get('back'), { ipMasq: false, defaultRoute: false, isGateway: true });
  t.true(nets.has('default-restricted'));
});

test('net.d: every bad file is one error naming the file and the field', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['{', /a\.conf is not valid JSON/],
    ['[]', /a\.conf: the file is not a JSON object/],
    [JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'dhcp' } }), /ipam\.type "dhcp" is not "host-local"/],
    [JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.0.1/24' } }), /ipam\.subnet "198\.18\.0\.1\/24" is not a network address/],
    [JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.0.0/24', gateway: '198.18.1.1' } }), /ipam\.gateway 198\.18\.1\.1 is not a host address of 198\.18\.0\.0\/24/],
    [JSON.stringify({ name: 'x', type: 'bridge', mtu: 20, ipam: { type: 'host-local', subnet: '198.18.0.0/24' } }), /mtu 20 is not 68\.\.65535/],
    [JSON.stringify({ name: 'x', type: 'bridge', bridge: 'a-name-far-too-long', ipam: { type: 'host-local', subnet: '198.18.0.0/24' } }), /bridge "a-name-far-too-long" is not an interface name/],
    [JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.0.0/24', routes: [{ dst: '198.19.0.0/16' }] } }), /only the default route/],
    [JSON.stringify({ name: 'x y', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.0.0/24' } }), /name "x y" is not a network name/],
  ];
  for (const [text, message] of cases) {
    const dir = localConfig(t, { 'a.conf': text });
    const err = t.throws(() => loadNetworks(dir));
    t.regex(err?.message ?? '', message, text);
    t.true((err?.message ?? '').includes(join(dir, 'net.d', 'a.conf')), 'names the file');
  }
  // Another type is a CNI network (network/cni/cni-config.ts), not this loader's.
  t.false(loadNetworks(localConfig(t, { 'a.conf': JSON.stringify({ name: 'x', type: 'macvlan', ipam: {} }) })).has('x'));
  const twice = localConfig(t, {
    'a.conf': JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.0.0/24' } }),
    'b.conf': JSON.stringify({ name: 'x', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.1.0/24' } }),
  });
  t.throws(() => loadNetworks(twice), { message: /b\.conf: name "x" is defined by an earlier file/ });
});

test('--net: modes, lists, IP=; usage errors name the value', (t) => {
  t.deepEqual(parseNetArg('none'), { mode: 'none' });
  t.deepEqual(parseNetArg('host'), { mode: 'host' });
  t.deepEqual(parseNetArg('default'), { mode: 'networks', networks: [{ name: 'default' }] });
  t.deepEqual(parseNetArg('default,back:IP=198.18.10.7'), { mode: 'networks', networks: [{ name: 'default' }, { name: 'back', ip: '198.18.10.7' }] });
  for (const [value, message] of [
    ['default,host', /mixes none or host/], ['default,default', /given twice/], ['a:MAC=x', /is not IP=ADDRESS/], ['a:IP=300.1.1.1', /not an IPv4 address/], ['', /empty name/],
  ] as const) t.throws(() => parseNetArg(value), { message }, value);
});

test('resolving: unknown names and addresses outside the subnet are usage errors; interfaces eth0, eth1 in order', (t) => {
  const nets = loadNetworks(localConfig(t, {
    'default.conf': JSON.stringify({ name: 'default', type: 'bridge', ipMasq: true, ipam: { type: 'host-local', subnet: '198.18.28.0/24', routes: [{ dst: '0.0.0.0/0' }] } }),
  }));
  const joined = resolveNetworks(parseNetArg('default-restricted,default:IP=198.18.28.9'), nets);
  t.deepEqual(joined.map((j) => [j.def.name, j.ifName, j.ip]), [['default-restricted', 'eth0', undefined], ['default', 'eth1', '198.18.28.9']]);
  t.throws(() => resolveNetworks(parseNetArg('nope'), nets), { message: /no network named "nope"/ });
  t.throws(() => resolveNetworks(parseNetArg('default:IP=198.18.29.9'), nets), { message: /not a free host address of network default/ });
  t.throws(() => resolveNetworks(parseNetArg('default:IP=198.18.28.1'), nets), { message: /gateway 198\.18\.28\.1/ });
  t.deepEqual(resolveNetworks(parseNetArg('none'), nets), []);
});

test('the stage1 value: ten tab-separated fields in the protocol\'s order', (t) => {
  const nets = loadNetworks(localConfig(t, {
    'default.conf': JSON.stringify({ name: 'default', type: 'bridge', bridge: 'skiff0', ipam: { type: 'host-local', subnet: '198.18.28.0/24', routes: [{ dst: '0.0.0.0/0' }] } }),
  }));
  const [j] = resolveNetworks(parseNetArg('default:IP=198.18.28.9'), nets);
  t.is(stage1NetValue(j!), ['default', 'eth0', 'skiff0', '1500', '/run/skiff/networks/default', '198.18.28.0/24', '198.18.28.1-198.18.28.254', '198.18.28.1', 'default', '198.18.28.9'].join('\t'));
});

/**
 * A pod's CNI networks: which --net names are CNI, their interface names in the pod's order
 * (shared with built-in networks), plugins looked up before anything runs, and the host-hook
 * argv (whose network JSON survives stage1's placeholder expansion unchanged); no root.
 */
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCniConfig } from '../../network/cni/cni-config.js';
import { cniHostHooks, networkArg, resolveCniNetworks } from '../../network/cni/cni-pod-networks.js';
import { parseNetworkConf } from '../../network/network-config.js';
import { parseNetArg, resolveNetworks } from '../../network/pod-networks.js';
import { expandHookArg } from '../../runtime/pods/pod-host-hooks.js';
import { cliEntry } from '../../runtime/install-paths.js';

function pluginDir(t: { teardown(fn: () => void): void }, names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-plugins-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\n');
    chmodSync(join(dir, n), 0o755);
  }
  return dir;
}

const bridgeDef = (name: string, source: string) => parseNetworkConf({ name, type: 'bridge', bridge: 'skiff9', ipam: { type: 'host-local', subnet: '198.18.40.0/24' } }, source);
const cbr = parseCniConfig({ cniVersion: '1.0.0', name: 'cbr', plugins: [{ type: 'bridge', bridge: 'br9' }, { type: 'tuning' }] }, '/etc/skiff/net.d/50-cbr.conflist', true);
const p2p = parseCniConfig({ cniVersion: '0.4.0', name: 'p2p', type: 'ptp' }, '/etc/skiff/net.d/60-p2p.conf', false);

test('--net mixing built-in and CNI networks: eth0, eth1, eth2 in the order given, each list holding its own', (t) => {
  const dir = pluginDir(t, ['bridge', 'tuning', 'ptp']);
  const request = parseNetArg('cbr,back,p2p:IP=198.18.41.7');
  const bridges = new Map([['back', bridgeDef('back', '/etc/skiff/net.d/20-back.conf')]]);
  const cni = new Map([['cbr', cbr], ['p2p', p2p]]);
  const joined = resolveNetworks(request, bridges, new Set(cni.keys()));
  t.deepEqual(joined.map((j) => `${j.def.name} ${j.ifName}`), ['back eth1']);
  const cniJoined = resolveCniNetworks(request, cni, bridges, [dir]);
  t.deepEqual(cniJoined.map((j) => `${j.net.name} ${j.ifName} ${j.ip ?? '-'}`), ['cbr eth0 -', 'p2p eth2 198.18.41.7']);
  t.deepEqual(cniJoined[0]!.plugins, [join(dir, 'bridge'), join(dir, 'tuning')]);
  t.throws(() => resolveNetworks(parseNetArg('nope'), bridges, new Set(cni.keys())), { message: '--net: no network named "nope"' });
});

test('a CNI network replaces a built-in of its name; one also defined by a bridge file is an error naming both', (t) => {
  const dir = pluginDir(t, ['bridge', 'tuning']);
  const mine = { ...cbr, name: 'default' };
  const builtIn = new Map([['default', bridgeDef('default', 'built-in')]]);
  t.deepEqual(resolveCniNetworks(parseNetArg('default'), new Map([['default', mine]]), builtIn, [dir]).map((j) => j.net.name), ['default']);
  t.deepEqual(resolveNetworks(parseNetArg('default'), builtIn, new Set(['default'])), []);
  const fromFile = new Map([['default', bridgeDef('default', '/etc/skiff/net.d/10-default.conf')]]);
  t.throws(() => resolveCniNetworks(parseNetArg('none'), new Map([['default', mine]]), fromFile, [dir]), {
    message: 'network config /etc/skiff/net.d/50-cbr.conflist: name "default" is defined by /etc/skiff/net.d/10-default.conf too',
  });
});

test('a missing plugin fails the resolution, before any hook exists', (t) => {
  const dir = pluginDir(t, ['bridge']);
  t.throws(() => resolveCniNetworks(parseNetArg('cbr'), new Map([['cbr', cbr]]), new Map(), [dir]), { message: `network cbr (/etc/skiff/net.d/50-cbr.conflist): CNI plugin "tuning" not found in ${dir}` });
});

test('host hooks: node on this CLI\'s net cni add/del, one per network, the placeholders stage1 fills, the network as JSON', (t) => {
  const dir = pluginDir(t, ['bridge', 'tuning', 'ptp']);
  const joined = resolveCniNetworks(parseNetArg('cbr,p2p:IP=198.18.41.7'), new Map([['cbr', cbr], ['p2p', p2p]]), new Map(), [dir]);
  const hooks = cniHostHooks(joined, [dir, '/usr/lib/cni']);
  t.is(hooks.up.length, 2);
  t.is(hooks.down.length, 2, 'stage1 runs the downs last first: p2p is undone before cbr');
  const up = hooks.up[1]!.split('\t');
  t.is(up[0], process.execPath);
  t.is(up[1], cliEntry(), 'the CLI the launcher runs: the bundle when built');
  t.deepEqual(up.slice(2, -2), ['net', 'cni', 'add', '--pod-dir', '{pod-dir}', '--uuid', '{uuid}', '--netns', '{netns}', '--ifname', 'eth1', '--cni-path', `${dir}:/usr/lib/cni`, '--ip', '198.18.41.7']);
  t.is(up.at(-2), '--network');
  t.deepEqual(JSON.parse(up.at(-1)!), p2p);
  t.deepEqual(hooks.down[0]!.split('\t').slice(2, 5), ['net', 'cni', 'del']);
});

test('the network JSON passes through stage1\'s placeholder expansion unchanged, whatever its strings hold', (t) => {
  const tricky = parseCniConfig({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'y', note: 'a {netns} {uuid} {pod-dir} {ip:default} {other} and a\ttab' }] }, 'x.conflist', true);
  const arg = networkArg(tricky);
  t.false(arg.includes('\t'));
  const expanded = expandHookArg(arg, { netns: '/proc/1/ns/net', uuid: 'u', podDir: '/p', ips: new Map([['default', '198.18.0.2']]) });
  t.deepEqual(JSON.parse(expanded), tricky);
});

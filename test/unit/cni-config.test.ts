/** CNI network configurations: .conf and .conflist, what is handed to plugins, plugin lookup; no root. */
import test from 'ava';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCniNetworks, parseCniConfig } from '../../network/cni/cni-config.js';
import { checkable, executionConfig } from '../../network/cni/cni-chain.js';
import { cniPathFromEnv, findPlugin, requirePlugins } from '../../network/cni/cni-plugin-dirs.js';
import { summarizeResult } from '../../network/cni/cni-result.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ptp = { cniVersion: '1.0.0', name: 'p2p', type: 'ptp', ipam: { type: 'host-local', subnet: '198.18.7.0/24' } };
const chain = {
  cniVersion: '1.0.0', name: 'br', plugins: [
    { type: 'bridge', bridge: 'cni-br', ipam: { type: 'host-local', subnet: '198.18.8.0/24' } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

test('net.d: .conflist and non-bridge .conf are CNI networks; a bridge .conf is left to the built-in bridge', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '10-p2p.conf'), JSON.stringify(ptp));
  writeFileSync(join(dir, '20-br.conflist'), JSON.stringify(chain));
  writeFileSync(join(dir, '30-own.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'own', type: 'bridge', ipam: { type: 'host-local', subnet: '198.18.9.0/24' } }));
  writeFileSync(join(dir, 'README'), 'not a config');
  const nets = loadCniNetworks(dir);
  t.deepEqual([...nets.keys()], ['p2p', 'br']);
  t.like(nets.get('p2p'), { cniVersion: '1.0.0', disableCheck: false, source: join(dir, '10-p2p.conf') });
  t.deepEqual(nets.get('p2p')!.plugins, [ptp], 'a .conf is a list of the one plugin it is');
  t.deepEqual(nets.get('br')!.plugins.map((p) => p.type), ['bridge', 'portmap']);
  t.deepEqual(loadCniNetworks(join(dir, 'missing')).size, 0);
});

test('net.d: each problem names the file and the field', (t) => {
  const cases: Array<[string, object | string, RegExp]> = [
    ['a.conflist', { cniVersion: '1.0.0', name: 'a', plugins: [] }, /a\.conflist: plugins is not a non-empty list/],
    ['b.conflist', { cniVersion: '1.0.0', name: 'b', plugins: [{ type: '../../bin/sh' }] }, /b\.conflist: plugins\[0\]\.type "\.\.\/\.\.\/bin\/sh" is not a plugin name/],
    ['c.conf', { cniVersion: 1, name: 'c', type: 'ptp' }, /c\.conf: cniVersion 1 is not a version/],
    ['d.conf', { cniVersion: '1.0.0', name: 'no spaces', type: 'ptp' }, /d\.conf: name "no spaces" is not a network name/],
    ['e.conflist', '{"name": ', /e\.conflist is not valid JSON/],
    ['f.conflist', { cniVersion: '1.0.0', name: 'f', disableCheck: 'yes', plugins: [{ type: 'ptp' }] }, /disableCheck is not true or false/],
  ];
  for (const [file, body, message] of cases) {
    const dir = tempDir(t);
    writeFileSync(join(dir, file), typeof body === 'string' ? body : JSON.stringify(body));
    t.throws(() => loadCniNetworks(dir), { message }, file);
  }
  const dir = tempDir(t);
  writeFileSync(join(dir, '1.conf'), JSON.stringify(ptp));
  writeFileSync(join(dir, '2.conflist'), JSON.stringify({ ...chain, name: 'p2p' }));
  t.throws(() => loadCniNetworks(dir), { message: /2\.conflist: name "p2p" is defined by .*1\.conf too/ });
});

test('execution config: the network name and version injected, prevResult when there is one, capabilities removed', (t) => {
  const net = parseCniConfig(chain, 'x.conflist', true);
  const prev = { cniVersion: '1.0.0', ips: [] };
  t.deepEqual(executionConfig(net, net.plugins[1]!, prev), { type: 'portmap', cniVersion: '1.0.0', name: 'br', prevResult: prev });
  t.deepEqual(executionConfig(net, { type: 'x', name: 'own', cniVersion: '0.1.0' }, undefined), { type: 'x', cniVersion: '1.0.0', name: 'br' });
  t.true(checkable(net));
  t.false(checkable({ ...net, disableCheck: true }));
  t.false(checkable({ ...net, cniVersion: '0.3.1' }), 'CHECK came with 0.4.0');
});

test('plugin dirs: SKIFF_CNI_PATH in order, default /usr/lib/cni; a missing plugin names its type, the network and the dirs', (t) => {
  t.deepEqual(cniPathFromEnv({}), ['/usr/lib/cni']);
  t.deepEqual(cniPathFromEnv({ SKIFF_CNI_PATH: '/a::/b' }), ['/a', '/b']);
  t.throws(() => cniPathFromEnv({ SKIFF_CNI_PATH: '/a:rel' }), { message: /"rel" is not an absolute dir/ });
  const a = tempDir(t);
  const b = tempDir(t);
  writeFileSync(join(b, 'ptp'), '#!/bin/sh\n');
  chmodSync(join(b, 'ptp'), 0o755);
  writeFileSync(join(a, 'ptp'), 'not executable');
  mkdirSync(join(a, 'bridge'));
  t.is(findPlugin('ptp', [a, b]), join(b, 'ptp'), 'a non-executable file is passed over');
  t.is(findPlugin('bridge', [a, b]), undefined, 'a dir is not a plugin');
  const net = parseCniConfig(chain, '/etc/skiff/net.d/br.conflist', true);
  t.throws(() => requirePlugins(net, [a, b]), { message: `network br (/etc/skiff/net.d/br.conflist): CNI plugin "bridge" not found in ${a}:${b}` });
});

test('result summary: the pod interface\'s IPv4 address, gateway and MAC, the host veth, DNS (1.0 and 0.2 results)', (t) => {
  const v1 = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni-br', mac: '02:00:00:00:00:01' }, { name: 'veth1234', mac: '02:00:00:00:00:02' }, { name: 'eth1', mac: '02:00:00:00:00:03', sandbox: '/proc/1/ns/net' }],
    ips: [{ address: 'fd00::5/64', interface: 2 }, { address: '198.18.8.5/24', gateway: '198.18.8.1', interface: 2 }],
    dns: { nameservers: ['198.18.8.1'], search: ['pods.test'] },
  };
  t.deepEqual(summarizeResult(v1, 'eth1'), {
    mac: '02:00:00:00:00:03', hostIfName: 'veth1234', ip: '198.18.8.5', prefixLength: 24, gateway: '198.18.8.1',
    dns: { nameservers: ['198.18.8.1'], search: ['pods.test'], options: [] },
  });
  t.deepEqual(summarizeResult({ cniVersion: '0.2.0', ip4: { ip: '198.18.9.3/24', gateway: '198.18.9.1' } }, 'eth0'), { ip: '198.18.9.3', prefixLength: 24, gateway: '198.18.9.1' });
  t.deepEqual(summarizeResult('nonsense', 'eth0'), {});
});

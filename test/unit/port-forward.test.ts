/**
 * `--port` (network/port-forward.ts): both forms parsed, named ports resolved against the images'
 * ExposedPorts (named PORT-PROTO, docker2aci's names), every bad value a UsageError naming it,
 * and the stage1 pairs a pod's forwards become (claims, then DNAT rules as host hooks with
 * placeholders only: nothing per pod but what stage1 fills in).
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePodArgs } from '../../runtime/cli/pod-args.js';
import { podCommandLine } from '../../runtime/cli/pod-spec-args.js';
import { NetworkError, UsageError } from '../../runtime/errors.js';
import type { StoredImage } from '../../image/store/stored-image.js';
import { podManifestFromSpec } from '../../runtime/pods/pod-manifest-from-spec.js';
import { stage1Pairs } from '../../runtime/pods/stage1-pairs.js';
import {
  assertPortsFree, claimName, describePort, imagePortNames, parsePortArg, portForwardPairs, releasePortClaims, resolvePorts, type PortRequest,
} from '../../network/port-forward.js';

const named = imagePortNames([{ port: 53, protocol: 'udp' }, { port: 8080, protocol: 'tcp' }, { port: 9000, protocol: 'sctp' }]);
const resolve1 = (value: string) => resolvePorts([parsePortArg(value)], named)[0];

test('HOSTPORT:PODPORT[/tcp|udp]: tcp by default, the protocol in any case', (t) => {
  t.deepEqual(resolve1('8080:80'), { protocol: 'tcp', hostPort: 8080, podPort: 80 });
  t.deepEqual(resolve1('5353:53/udp'), { protocol: 'udp', hostPort: 5353, podPort: 53 });
  t.deepEqual(resolve1('443:8443/TCP'), { protocol: 'tcp', hostPort: 443, podPort: 8443 });
});

test('NAME:[HOSTIP:]HOSTPORT: an image port named PORT-PROTO; 0.0.0.0 is every address', (t) => {
  t.deepEqual(resolve1('8080-tcp:80'), { protocol: 'tcp', hostPort: 80, podPort: 8080, name: '8080-tcp' });
  t.deepEqual(resolve1('53-udp:127.0.0.1:5353'), { protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353, podPort: 53, name: '53-udp' });
  t.deepEqual(resolve1('8080-tcp:0.0.0.0:81'), { protocol: 'tcp', hostPort: 81, podPort: 8080, name: '8080-tcp' });
  t.is(describePort(resolve1('53-udp:127.0.0.1:5353')!), '127.0.0.1:5353->53/udp');
});

test('an unknown name is a usage error listing the images\' ports; none exposed says how to forward anyway', (t) => {
  const err = t.throws(() => resolve1('web:80'), { instanceOf: UsageError });
  t.regex(err!.message, /--port web:80: the pod's images expose no port named "web"/);
  t.regex(err!.hint ?? '', /their ports: 53-udp, 8080-tcp, 9000-sctp/);
  const none = t.throws(() => resolvePorts([parsePortArg('web:80')], []), { instanceOf: UsageError });
  t.regex(none!.hint ?? '', /expose no ports: give --port=HOSTPORT:PODPORT/);
  t.throws(() => resolve1('9000-sctp:90'), { instanceOf: UsageError, message: /is sctp; only tcp and udp/ });
});

test('bad values: each a usage error naming it', (t) => {
  for (const [value, message] of [
    ['8080', /is not NAME:\[HOSTIP:\]HOSTPORT or HOSTPORT:PODPORT/],
    ['0:80', /host port "0" is not a port number/],
    ['8080:70000', /pod port "70000" is not a port number/],
    ['8080:80/sctp', /protocol "sctp" is not tcp or udp/],
    ['web:localhost:80', /host address "localhost" is not an IPv4 address/],
    ['web:1:2:3', /is not NAME:\[HOSTIP:\]HOSTPORT/],
    [':80', /is not NAME/],
    ['web:http', /host port "http" is not a port number/],
  ] as const) {
    t.throws(() => parsePortArg(value), { instanceOf: UsageError, message }, value);
  }
});

test('one host port twice (any host address) is refused; tcp and udp of one port are two', (t) => {
  const reqs = (...v: string[]): PortRequest[] => v.map(parsePortArg);
  t.throws(() => resolvePorts(reqs('8080:80', '8080-tcp:127.0.0.1:8080'), named), { instanceOf: UsageError, message: /host port 8080\/tcp is given twice/ });
  t.is(resolvePorts(reqs('53:53/udp', '53:53/tcp'), named).length, 2);
  t.is(claimName({ protocol: 'udp', hostPort: 53 }), 'udp-53');
});

test('the CLI: --port is a repeatable pod flag; with --net=none or host it is a usage error', (t) => {
  const { spec } = podCommandLine(parsePodArgs(['--port=8080:80', '--port', '8080-tcp:81', 'img']));
  t.deepEqual(spec.ports?.map((p) => p.kind), ['numeric', 'named']);
  t.is(podCommandLine(parsePodArgs(['img'])).spec.ports, undefined, 'no --port: no ports key (the manifest text stays as it was)');
  for (const net of ['none', 'host']) {
    t.throws(() => podCommandLine(parsePodArgs([`--net=${net}`, '--port=8080:80', 'img'])), { instanceOf: UsageError, message: new RegExp(`--port needs a pod network to forward to, not --net=${net}`) });
  }
});

test('stage1 pairs: the claims first, then per forward an iptables -A up and the same -D down, with placeholders only', (t) => {
  const forwards = resolvePorts([parsePortArg('8080:80'), parsePortArg('53-udp:127.0.0.1:5353')], named);
  const pairs = portForwardPairs(forwards, 'default', { iptables: '/usr/sbin/iptables', portsDir: '/run/skiff/ports' });
  t.deepEqual(pairs.slice(0, 2), [['port-claim', '/run/skiff/ports\ttcp\t8080'], ['port-claim', '/run/skiff/ports\tudp\t5353']]);
  const rule = '-p\ttcp\t--dport\t8080\t-m\tcomment\t--comment\tskiff:{uuid}\t-j\tDNAT\t--to-destination\t{ip:default}:80';
  t.deepEqual(pairs[2], ['host-up', `/usr/sbin/iptables\t-w\t-t\tnat\t-A\tSKIFF-DNAT\t${rule}`]);
  t.deepEqual(pairs[3], ['host-down', `/usr/sbin/iptables\t-w\t-t\tnat\t-D\tSKIFF-DNAT\t${rule}`]);
  t.regex(pairs[4]![1], /\t-p\tudp\t-d\t127\.0\.0\.1\/32\t--dport\t5353\t.*\{ip:default\}:53$/);
});

test('the early check names the pod holding a port; gc releases only the claims that name the pod', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tcp-8080'), 'pod-a\n');
  writeFileSync(join(dir, 'udp-53'), 'pod-b\n');
  const err = t.throws(() => assertPortsFree(dir, [{ protocol: 'tcp', hostPort: 8080, podPort: 80 }]), { instanceOf: NetworkError });
  t.is(err!.message, 'host port 8080/tcp is taken by pod pod-a');
  t.notThrows(() => assertPortsFree(dir, [{ protocol: 'udp', hostPort: 8080, podPort: 80 }]));
  releasePortClaims('pod-a', [`${dir}\ttcp\t8080`, `${dir}\tudp\t53`]);
  releasePortClaims('pod-a', [`${dir}\ttcp\t8080`]);
  t.deepEqual(readdirSync(dir), ['udp-53']);
});

function fakeImage(root: string, id: string, exposedPorts: Array<{ port: number; protocol: 'tcp' | 'udp' | 'sctp' }>): StoredImage {
  const layer = join(root, id);
  mkdirSync(join(layer, 'etc'), { recursive: true });
  writeFileSync(join(layer, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(layer, 'etc', 'group'), 'root:x:0:\n');
  return {
    record: { id, names: [`example.test/${id}:latest`], configDigest: id, layers: [] },
    config: { os: 'linux', architecture: 'amd64', diffIds: [], config: { cmd: ['/probe'], env: [], exposedPorts, labels: {} } },
    layerDirs: [layer],
  } as unknown as StoredImage;
}

test('the manifest: named ports resolved over every app\'s image; stage1 gets claims and hooks to the first network', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'skiff-ports-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const images = [fakeImage(root, 'web', [{ port: 8080, protocol: 'tcp' }]), fakeImage(root, 'dns', [{ port: 53, protocol: 'udp' }])];
  const { spec } = podCommandLine(parsePodArgs(['--port=53-udp:5353', '--port=8080-tcp:127.0.0.1:80', '--port=9090:90', 'web', '---', 'dns']));
  const m = podManifestFromSpec(spec, images, { uuid: 'u', created: '2026-01-01T00:00:00.000Z' }, {});
  t.deepEqual(m.runtime.ports, [
    { protocol: 'udp', hostPort: 5353, podPort: 53, name: '53-udp' },
    { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 80, podPort: 8080, name: '8080-tcp' },
    { protocol: 'tcp', hostPort: 9090, podPort: 90 },
  ]);
  const pairs = stage1Pairs('/pods/run/u', m, 3, { join: [], cleanup: [] }, ['back\teth0\tskiff2\t1500\t/ipam\t198.18.9.0/24\t198.18.9.2-198.18.9.9\t198.18.9.1\tnone\t']);
  t.is(pairs.filter(([k]) => k === 'port-claim').length, 3);
  t.true(pairs.filter(([k]) => k === 'host-up').every(([, v]) => /\{ip:back\}:\d+$/.test(v)), 'forwards go to the first network');
  const noPorts = podManifestFromSpec(podCommandLine(parsePodArgs(['web'])).spec, [images[0]!], { uuid: 'u', created: '2026-01-01T00:00:00.000Z' }, {});
  t.false('ports' in noPorts.runtime, 'a pod without --port keeps the manifest it had');
  t.throws(() => stage1Pairs('/pods/run/u', m, 3, { join: [], cleanup: [] }, []), { instanceOf: UsageError, message: /needs a pod network/ });
});

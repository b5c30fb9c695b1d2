import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostResolvConf, nameservers } from '../../runtime/pods/host-resolv-conf.js';
import { InvalidStateError } from '../../runtime/errors.js';
import { tempDir } from '../support/temp-dir.js';

function files(t: Parameters<typeof tempDir>[0], host: string | undefined, upstream: string | undefined) {
  const dir = tempDir(t);
  const paths = { host: join(dir, 'resolv.conf'), upstream: join(dir, 'upstream.conf') };
  if (host !== undefined) writeFileSync(paths.host, host);
  if (upstream !== undefined) writeFileSync(paths.upstream, upstream);
  return paths;
}

test('nameservers: the addresses of nameserver lines only', (t) => {
  t.deepEqual(nameservers('# nameserver 198.18.0.9\nsearch x\nnameserver 198.18.0.1\n  nameserver\t::1\noptions ndots:1\n'), ['198.18.0.1', '::1']);
});

test('a host file with a real nameserver is the one the pod gets', (t) => {
  const p = files(t, 'nameserver 198.18.0.1\n', 'nameserver 198.18.0.2\n');
  t.is(hostResolvConf(p).path, p.host);
});

test('loopback-only nameservers (systemd-resolved\'s stub): the upstream file instead, when there is one', (t) => {
  const stub = files(t, 'nameserver 127.0.0.53\noptions edns0 trust-ad\n', 'nameserver 198.18.0.2\n');
  t.is(hostResolvConf(stub).path, stub.upstream);
  const v6 = files(t, 'nameserver ::1\n', 'nameserver 198.18.0.2\n');
  t.is(hostResolvConf(v6).path, v6.upstream);
  const noUpstream = files(t, 'nameserver 127.0.0.1\n', undefined);
  t.is(hostResolvConf(noUpstream).path, noUpstream.host, 'nothing better to give: the host\'s own');
  const mixed = files(t, 'nameserver 127.0.0.53\nnameserver 198.18.0.1\n', 'nameserver 198.18.0.2\n');
  t.is(hostResolvConf(mixed).path, mixed.host);
});

test('the stamps cover both files, absent ones as "-"', (t) => {
  const p = files(t, 'nameserver 198.18.0.1\n', undefined);
  const { stamps } = hostResolvConf(p);
  t.deepEqual(stamps.map(([path]) => path), [p.host, p.upstream]);
  t.regex(stamps[0]![1], /^\d+:\d+:\d+\.\d{9}$/);
  t.is(stamps[1]![1], '-');
});

test('no host file: an error saying what to give instead', (t) => {
  const p = files(t, undefined, undefined);
  const err = t.throws(() => hostResolvConf(p), { instanceOf: InvalidStateError });
  t.regex(err!.message, /--dns=host: the host has no readable .*resolv\.conf/);
});

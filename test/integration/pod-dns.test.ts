/**
 * `--dns`, `--dns-search`, `--dns-opt`, `--dns-domain` through `skiff run`, on the CLI path and
 * replayed: the pod's /etc/resolv.conf as generated, as the host's (read-only), or as the image's.
 * No network is needed for any of it (SKIFF_NET=none, the stores' default).
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeRootfs, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import { hostResolvConf } from '../../runtime/pods/host-resolv-conf.js';

const TRACE = { SKIFF_LAUNCH_TRACE: '1' };
const SHOW = ['--exec', '/bin/cat', '--', '/etc/resolv.conf'];
/** The host's file is bound read-only (a generated one is the pod's own, in its pod dir, and writable as Docker's is). */
const SHOW_RO = ['--exec', '/bin/sh', '--', '-c', 'cat /etc/resolv.conf; echo x 2>/dev/null >> /etc/resolv.conf || echo read-only'];

/** Runs `args` twice: the first through Node (it records the plan), the second replayed; both outputs. */
async function bothPaths(t: ExecutionContext, s: PodStore, args: string[]): Promise<string[]> {
  const outs: string[] = [];
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, ...args], { env: { ...s.env, ...TRACE } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'), `${args.join(' ')}: the ${path} path`);
    outs.push(r.stdout);
  }
  return outs;
}

/** The store's probe image with an /etc/resolv.conf of its own. */
async function imageWithResolvConf(t: ExecutionContext, s: PodStore): Promise<string> {
  const layout = join(tempDir(t, 'skiff-test-layout-'), 'layout');
  const layers = [buildLayer([...(await probeRootfs()), { path: 'etc/resolv.conf', type: 'file', content: 'nameserver 198.18.0.99\n' }])];
  await writeOciLayout(layout, [{ ref: 'dns', image: buildImage({ layers, config: PROBE_CONFIG }) }]);
  const ref = `oci:${layout}:dns`;
  const fetched = await s.skiff(['fetch', '--quiet', ref]);
  if (fetched.code !== 0) throw new Error(`fetch ${ref}: ${fetched.stderr}`);
  return ref;
}

test('nameservers, search domains, options and the domain make the pod\'s resolv.conf, in resolv.conf(5)\'s order', async (t) => {
  const s = await podStore(t);
  const args = ['run', '--dns=198.18.0.53,198.18.0.54', '--dns-search', 'a.example', '--dns-search=b.example', '--dns-opt', 'ndots:2',
    '--dns-opt=rotate', '--dns-domain', 'a.example', s.image, ...SHOW];
  const want = 'domain a.example\nsearch a.example b.example\nnameserver 198.18.0.53\nnameserver 198.18.0.54\noptions ndots:2 rotate\n';
  for (const out of await bothPaths(t, s, args)) t.is(out, want);
  // Search domains alone make a file with no nameserver: the resolver then asks its default, as in rkt.
  const only = await s.skiff(['run', '--dns-search', 'c.example', s.image, ...SHOW]);
  t.is(only.stdout, 'search c.example\n');
});

test('--dns=host binds the host\'s resolv.conf read-only; --dns=none and no flag keep the image\'s own', async (t) => {
  const s = await podStore(t);
  const image = await imageWithResolvConf(t, s);
  const host = readFileSync(hostResolvConf().path, 'utf8');
  for (const out of await bothPaths(t, s, ['run', '--dns=host', image, ...SHOW_RO])) t.is(out, `${host}read-only\n`);
  for (const flags of [['--dns=none'], []]) {
    const r = await s.skiff(['run', ...flags, image, '--exec', '/bin/cat', '--', '/etc/resolv.conf']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'nameserver 198.18.0.99\n', flags.join(' ') || 'no flag');
  }
});

test('run-prepared --dns* replaces the prepared pod\'s whole resolver setting', async (t) => {
  const s = await podStore(t);
  const prepared = await s.skiff(['prepare', '--quiet', '--dns=host', s.image, ...SHOW]);
  t.is(prepared.code, 0, prepared.stderr);
  const r = await s.skiff(['run-prepared', '--dns-search', 'x.example', prepared.stdout.trim()]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'search x.example\n');
});

test('bad --dns* values are usage errors (exit 2, one line) and make no pod', async (t) => {
  const s = await podStore(t);
  const cases: Array<[string[], RegExp]> = [
    [['--dns=host', '--dns-search=a.example'], /--dns=host keeps a resolv.conf Skiff does not write: --dns-search cannot go with it/],
    [['--dns-opt', 'ndots:1\nnameserver 6.6.6.6'], /--dns-opt "ndots:1\\nnameserver 6.6.6.6" is not a resolv.conf option/],
    [['--dns', 'resolver'], /--dns "resolver" is not an IP address, host or none/],
  ];
  for (const [flags, re] of cases) {
    const r = await s.skiff(['run', ...flags, s.image]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  t.is((await s.skiff(['list', '--no-legend'])).stdout.trim(), '');
});

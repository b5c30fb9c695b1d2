/**
 * The capabilities a pod gets from `skiff run` (the stage1 config stage0 writes, not stage1's
 * own fallback), on the CLI path and on the replayed path: Docker's 14 for a root app, less
 * what --caps-remove names; none at all for a non-root app (the audit's escalation: a non-root
 * app held all 14 as effective and ambient, wrote /etc/passwd and setresuid'ed back to 0),
 * unless --caps-retain asks for them.
 */
import test from 'ava';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';

const DOCKER_14 = [
  'CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_MKNOD', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

type Caps = Record<'eff' | 'prm' | 'inh' | 'amb' | 'bnd', string[]>;

/** Runs the probe's `info` twice with the same command line (the second is replayed) and returns both runs' caps. */
async function capsOf(s: PodStore, appFlags: string[]): Promise<{ cli: Caps; replayed: Caps }> {
  const args = ['--dir', s.dir, 'run', s.image, ...appFlags, '--exec', '/probe', '--', 'info'];
  const env = { ...s.env, SKIFF_LAUNCH_TRACE: '1' };
  const runs = [];
  for (const expected of ['node', 'replay']) {
    const r = await runSkiff(args, { env });
    if (r.code !== 0) throw new Error(`skiff run: ${r.stderr}`);
    if (!new RegExp(`^skiff launch: ${expected} `, 'm').test(r.stderr)) throw new Error(`expected the ${expected} path: ${r.stderr}`);
    const caps = (JSON.parse(r.stdout.split('\n')[0] ?? '') as { caps: Record<string, string[]> }).caps;
    runs.push(Object.fromEntries(['eff', 'prm', 'inh', 'amb', 'bnd'].map((k) => [k, [...(caps[`${k}_names`] ?? [])].sort()])) as Caps);
  }
  return { cli: runs[0]!, replayed: runs[1]! };
}

test('a root app: exactly Docker\'s 14 in every set but ambient; --caps-remove net_raw gives 13', async (t) => {
  const s = await podStore(t);
  for (const [flags, want] of [[[], DOCKER_14], [['--caps-remove', 'net_raw'], DOCKER_14.filter((c) => c !== 'CAP_NET_RAW')]] as const) {
    const { cli, replayed } = await capsOf(s, [...flags]);
    t.deepEqual(replayed, cli, 'the replayed pod gets what the CLI\'s got');
    for (const set of ['eff', 'prm', 'inh', 'bnd'] as const) t.deepEqual(cli[set], [...want], `${flags.join(' ')} ${set}`);
    t.deepEqual(cli.amb, []);
  }
});

test('a non-root app holds no capability, with the default set and with --caps-remove; the bounding set as configured', async (t) => {
  const s = await podStore(t);
  for (const flags of [['--user', 'skiff'], ['--user', '1000:1000', '--caps-remove', 'net_raw']]) {
    const { cli, replayed } = await capsOf(s, flags);
    t.deepEqual(replayed, cli);
    for (const set of ['eff', 'prm', 'inh', 'amb'] as const) t.deepEqual(cli[set], [], `${flags.join(' ')} ${set}`);
    t.is(cli.bnd.length, flags.includes('--caps-remove') ? 13 : 14);
  }
});

test('--caps-retain with a non-root user: exactly that list, as ambient capabilities', async (t) => {
  const s = await podStore(t);
  const { cli, replayed } = await capsOf(s, ['--user', 'skiff', '--caps-retain', 'net_bind_service,kill']);
  t.deepEqual(replayed, cli);
  for (const set of ['eff', 'prm', 'inh', 'amb', 'bnd'] as const) t.deepEqual(cli[set], ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], set);
});

test('the audit\'s case: a non-root app cannot write the image\'s /etc/passwd (root-owned, 0644) and holds no capability to become root again', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff(['run', s.image, '--user', 'skiff', '--exec', '/bin/sh', '--', '-c',
    'grep -E "^Cap(Eff|Prm|Amb)" /proc/self/status; (echo x >> /etc/passwd) 2>/dev/null && echo WROTE-PASSWD; echo done']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^CapEff:\s+0{16}$/m);
  t.regex(r.stdout, /^CapPrm:\s+0{16}$/m, 'nothing permitted: setresuid(0) and capset cannot bring root back');
  t.regex(r.stdout, /^CapAmb:\s+0{16}$/m);
  t.notRegex(r.stdout, /WROTE-PASSWD/);
  t.regex(r.stdout, /done/);
});

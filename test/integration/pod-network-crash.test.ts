/**
 * kill -9 of stage1 in the middle of attaching a pod to its network, at exact points, then `gc`:
 * nothing may be left (no claim or address file, no veth, no pod dir). The points are syscalls of
 * the attach (native/stage1/net-attach.c), hit by strace's fault injection (`-e inject=SYSCALL:signal=
 * SIGKILL:when=N`, counted per process): first a traced run records the attaching process's
 * syscalls in order, then each case kills a fresh run at the Nth call of one of them. Each case
 * also checks the kill landed where it says (the state it leaves before gc), so a change of the
 * attach's order fails the test instead of silently testing another point.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podStore, type PodStore } from '../support/pod-store.js';
import { skiffEnv, skiffLauncher } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import { testWhen } from '../support/host-condition.js';

const TRACED = ['link', 'unlink', 'sendto'];

interface Traced { code: number | null; signal: NodeJS.Signals | null; stderr: string; trace: string }

/** `skiff run` in the store's test host, under strace (with `inject` when given). */
function tracedRun(t: ExecutionContext, s: PodStore, inject?: string): Promise<Traced> {
  const out = join(tempDir(t, 'skiff-strace-'), 'trace');
  const strace = ['strace', '-f', '-qq', '-o', out, '-e', `trace=${TRACED.join(',')}`, ...(inject === undefined ? [] : ['-e', `inject=${inject}`])];
  const args = ['--dir', s.dir, 'run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const child = spawn('nsenter', [`--net=${s.host!.netns.path}`, '--', ...strace, skiffLauncher(), ...args], { env: skiffEnv({ ...s.env, SKIFF_LAUNCH_TRACE: '1' }), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, trace: existsSync(out) ? readFileSync(out, 'utf8') : '' }));
  });
}

/** The traced syscalls of the process that claimed an address (the one calling link), in order. */
function attachCalls(trace: string): string[] {
  const lines = trace.split('\n').map((l) => /^(\d+) +(\w+)\(/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const pid = lines.find((m) => m[2] === 'link')?.[1];
  return lines.filter((m) => m[1] === pid).map((m) => m[2] as string);
}

const ipamDir = (s: PodStore) => join(s.dir, '..', 'ipam', 'default');
const ipamEntries = (s: PodStore) => (existsSync(ipamDir(s)) ? readdirSync(ipamDir(s)).sort() : []);

async function podVeths(s: PodStore): Promise<string[]> {
  const r = await s.host!.netns.run('ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((l) => /^sk[0-9a-f]{12}\d$/.test(l));
}

testWhen('root')('kill -9 of stage1 mid-attach (before the claim, between claim and address, mid-netlink): gc leaves nothing', async (t) => {
  const s = await podStore(t, { network: true });
  // The first run goes through Node and records the plan; the rest are replayed, and the launcher
  // (the same process stage1 becomes) makes requests of its own first (its NAT rule checks): so the
  // counted run is a replay, like the killed ones.
  const first = await tracedRun(t, s);
  t.is(first.code, 0, first.stderr);
  const clean = await tracedRun(t, s);
  t.is(clean.code, 0, clean.stderr);
  t.regex(clean.stderr, /^skiff launch: replay /m);
  const calls = attachCalls(clean.trace);
  const linkAt = calls.indexOf('link');
  t.true(linkAt >= 0, `the traced run claimed an address with link(2): ${calls.join(' ')}`);
  // Ordinal (1-based, per syscall) of a call at index i in the attaching process.
  const nth = (i: number) => calls.slice(0, i + 1).filter((c) => c === calls[i]).length;
  const unlinkAfter = calls.indexOf('unlink', linkAt);
  const sendAfter = calls.indexOf('sendto', linkAt);
  t.true(unlinkAfter > linkAt && sendAfter > linkAt, calls.join(' '));
  t.log(`the attaching process: ${calls.join(' ')}`);
  const cases: Array<{ point: string; inject: string; before: (entries: string[]) => boolean }> = [
    // The claim file is written; no address yet.
    { point: 'at link(2)', inject: `link:signal=SIGKILL:when=${nth(linkAt)}`, before: (e) => e.length === 1 && e[0]!.startsWith('.claim-') },
    // The address file is ours; the claim file not yet removed.
    { point: 'at the claim file\'s unlink(2)', inject: `unlink:signal=SIGKILL:when=${nth(unlinkAfter)}`, before: (e) => e.length === 2 && e.some((f) => f.startsWith('.claim-')) && e.some((f) => f.startsWith('198.18.')) },
    // The address is ours, the links are being made.
    { point: 'at the first netlink request after the claim', inject: `sendto:signal=SIGKILL:when=${nth(sendAfter)}`, before: (e) => e.length === 1 && e[0]!.startsWith('198.18.') },
  ];
  for (const c of cases) {
    const killed = await tracedRun(t, s, c.inject);
    t.not(killed.code, 0, `${c.point}: the run was killed`);
    t.regex(killed.stderr, /^skiff launch: replay /m, `${c.point}: replayed, as the counted run`);
    const left = ipamEntries(s);
    t.true(c.before(left), `${c.point}: the kill landed where it says (IPAM dir: ${left.join(' ')})`);
    const gc = await s.skiff(['gc', '--grace-period=0s']);
    t.is(gc.code, 0, gc.stderr);
    t.deepEqual(ipamEntries(s), [], `${c.point}: gc released the address and the claim`);
    t.deepEqual(existsSync(join(s.dir, 'pods', 'run')) ? readdirSync(join(s.dir, 'pods', 'run')) : [], [], `${c.point}: no pod dir`);
    // The netns died with stage1 and took the veth along (asynchronously: cleanup_net): bounded wait.
    let veths = await podVeths(s);
    for (const deadline = Date.now() + 30_000; veths.length > 0 && Date.now() < deadline; veths = await podVeths(s)) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(veths, [], `${c.point}: no veth on the host side`);
  }
  // The network still works after all of it.
  const after = await s.skiff(['run', '--net=default', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(after.code, 0, after.stderr);
  t.deepEqual(ipamEntries(s), []);
});

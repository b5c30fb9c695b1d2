/**
 * Re-exec safety (CVE-2019-5736's class; native/stage1/self-clone.c): the pod's PID 1 and every
 * stage1 process run from a sealed memfd copy, never from the host's skiff-stage1. From inside a
 * pod, /proc/1/exe does not open by default (PID 1 is non-dumpable); with CAP_SYS_PTRACE retained
 * it opens, but names the sealed copy: no write, no reopening for writing. `enter` runs from a
 * copy too. The host binary's bytes are the same afterwards. Both paths (SKIFF_LAUNCH_TRACE).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { openSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';
import { podStore, waitRunning } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';

const STAGE1 = join(packageRoot(), 'native', 'build', 'skiff-stage1');
const digest = () => createHash('sha256').update(readFileSync(STAGE1)).digest('hex');
const SEALED = /^\/memfd:skiff-stage1 \(deleted\)$/;

interface Attack { link: string; read: string; write: string; readWrite: string; reopenWrite: string }

test('from inside a pod, /proc/1/exe neither opens by default nor, with sys_ptrace retained, writes: it is a sealed copy; both paths', async (t) => {
  const s = await podStore(t);
  const before = digest();
  for (const caps of [[], ['--caps-retain=chown,dac_override,fowner,setuid,setgid,sys_ptrace']]) {
    const args = ['--dir', s.dir, 'run', s.image, ...caps, '--exec', '/probe', '--', 'exe-attack', '1'];
    for (const expected of ['node', 'replay']) {
      const r = await runSkiff(args, { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
      t.is(r.code, 0, r.stderr);
      t.regex(r.stderr, new RegExp(`^skiff launch: ${expected} `, 'm'));
      const got = JSON.parse(r.stdout) as Attack;
      if (caps.length === 0) {
        t.deepEqual(got, { ok: true, link: 'EACCES', read: 'EACCES', write: 'EACCES', readWrite: 'EACCES', reopenWrite: 'EACCES' } as Attack, expected);
      } else {
        t.regex(got.link, SEALED, `${expected}: PID 1 runs from the sealed copy`);
        t.is(got.read, 'ok', 'its bytes are no secret');
        for (const key of ['write', 'readWrite', 'reopenWrite'] as const) t.regex(got[key], /^(ETXTBSY|EPERM)$/, `${expected} ${key}`);
      }
    }
  }
  t.is(digest(), before, 'the host binary is unchanged');
});

test('the supervisor and `enter` run from sealed copies too, which even the host\'s root cannot write; both paths', async (t) => {
  const s = await podStore(t);
  const pod = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s);
  t.regex(readlinkSync(`/proc/${pod.child.pid}/exe`), SEALED, 'the supervisor');
  const err = t.throws(() => openSync(`/proc/${pod.child.pid}/exe`, 'r+'));
  t.regex((err as NodeJS.ErrnoException | undefined)?.code ?? '', /^(ETXTBSY|EPERM)$/);
  // A full UUID: the launcher execs stage1; a prefix: the CLI resolves it and Node execs stage1.
  for (const id of [uuid, uuid.slice(0, 8)]) {
    const enter = s.start(['enter', id, '--', '/probe', 'sleep', '60']);
    // The enter process is exec'd in place of skiff: once its exe is stage1, it is in the pod.
    let link = '';
    for (let i = 0; i < 600 && !SEALED.test(link); i++) {
      try {
        link = readlinkSync(`/proc/${enter.child.pid}/exe`);
      } catch {
        break;
      }
      if (!SEALED.test(link)) await new Promise((r) => setTimeout(r, 50));
    }
    t.regex(link, SEALED, `enter ${id}: its forked child runs this same copy until it execs CMD`);
    enter.child.kill('SIGKILL');
  }
  pod.child.kill('SIGTERM');
  await pod.exited;
});

/**
 * `stop` signals only the pod's own processes, pinned by pidfds (pod-lifecycle.ts,
 * native/bindings/pidfd.ts): a pod dir whose pid file names a process that is not
 * the pod's PID 1 (exited, its number reused by a stranger), or a PID 1 that exits
 * while stage1 is still tearing down, gets no signal, and the stop still ends.
 * The "pod" here is a dir in pods/run held locked by flock(1), as stage1 holds it.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closePidfd, pidfdOpen, pidfdSignal } from '../../native/bindings/pidfd.js';
import { podDir } from '../../runtime/pods/pod-dirs.js';
import { stopPod } from '../../runtime/pods/pod-lifecycle.js';
import { isLocked } from '../../runtime/pods/pod-state.js';
import { tempDir } from '../support/temp-dir.js';

const UUID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';

/** A running-looking pod: its dir locked by a flock(1) that lets go after `holdMs`, its pid file naming `pid`. */
async function fakeRunningPod(t: { teardown(fn: () => void): void }, store: string, pid: number, holdMs: number): Promise<ChildProcess> {
  const dir = podDir(store, 'run', UUID);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pid'), `${pid}\n`);
  const holder = spawn('flock', ['-x', dir, 'sleep', String(holdMs / 1000)], { stdio: 'ignore' });
  t.teardown(() => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
  });
  for (let i = 0; i < 200 && !isLocked(dir); i++) await sleep(10);
  return holder;
}

function stranger(t: { teardown(fn: () => void): void }): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

test('a pid file naming a process that is not a stage1 (a reused PID): stop signals nothing, waits for the lock, says stopped', async (t) => {
  const store = tempDir(t, 'skiff-stop-');
  const victim = stranger(t);
  await fakeRunningPod(t, store, victim.pid!, 1500);
  const result = await stopPod(store, UUID, { force: false, timeoutMs: 200 });
  t.deepEqual(result, { uuid: UUID, outcome: 'stopped' });
  t.is(victim.exitCode, null);
  t.is(victim.signalCode, null, 'neither SIGTERM to its parent nor SIGKILL to it');
  t.true(spawnSync('kill', ['-0', String(victim.pid)]).status === 0, 'still alive');
});

test('--force with a pid file naming a stranger: no SIGKILL for it either', async (t) => {
  const store = tempDir(t, 'skiff-stop-');
  const victim = stranger(t);
  await fakeRunningPod(t, store, victim.pid!, 800);
  t.deepEqual(await stopPod(store, UUID, { force: true, timeoutMs: 200 }), { uuid: UUID, outcome: 'stopped' });
  t.is(victim.signalCode, null);
});

test('PID 1 already gone while stage1 still tears down: stopped once the lock is let go, nothing killed', async (t) => {
  const store = tempDir(t, 'skiff-stop-');
  const gone = spawn('true');
  await once(gone, 'exit');
  await fakeRunningPod(t, store, gone.pid!, 1000);
  t.deepEqual(await stopPod(store, UUID, { force: false, timeoutMs: 100 }), { uuid: UUID, outcome: 'stopped' });
});

test('pidfds: a signal reaches the process opened, and nobody once it has exited and been reaped', async (t) => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const fd = pidfdOpen(child.pid!)!;
  t.true(fd >= 0);
  t.true(pidfdSignal(fd, 'SIGTERM'));
  const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
  t.is(signal, 'SIGTERM');
  t.false(pidfdSignal(fd, 'SIGKILL'), 'ESRCH: not a stranger with the same number');
  closePidfd(fd);
  t.is(pidfdOpen(child.pid!), undefined, 'no such process');
});

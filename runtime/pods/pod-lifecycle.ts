/**
 * stop, rm and gc: the parts of a pod's life after it runs, all daemonless.
 *
 * stop signals the pod's stage1 (found as the parent of the pod's PID 1),
 * which forwards SIGTERM to the apps and SIGKILLs them after its stop
 * timeout; `--force` SIGKILLs PID 1 at once (stage1 still records the exits
 * and tears down). gc is rkt's mark and sweep: exited pods are moved to
 * exited-garbage and deleted after a grace period, prepared pods expire,
 * aborted prepares go at once. Deleting takes the pod's lock first, so two
 * gc runs never delete one pod twice, and a pod that is running is never
 * touched.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLockDir, type HeldLock } from '../../native/bindings/flock.js';
import { InvalidStateError, LockHeldError } from '../errors.js';
import { podDir, type PodDirState } from './pod-dirs.js';
import { podCreated, podState, readPodPid } from './pod-state.js';
import { deletePodDir, teardownPodLeftovers } from './pod-teardown.js';
import { listPodLocations, resolvePodUuid, type PodLocation } from './pod-uuid.js';
import { pruneRunPlans } from './run-plan-prune.js';

const GC_MARKER = 'gc-marked';

function parentPid(pid: number): number | undefined {
  try {
    const m = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitExited(storeDir: string, uuid: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = podState(storeDir, resolvePodUuid(storeDir, uuid));
    if (state !== 'running') return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

export interface StopResult {
  uuid: string;
  outcome: 'stopped' | 'killed' | 'not running';
}

export async function stopPod(storeDir: string, query: string, options: { force: boolean; timeoutMs: number }): Promise<StopResult> {
  const location = resolvePodUuid(storeDir, query);
  const uuid = location.uuid;
  if (podState(storeDir, location) !== 'running') return { uuid, outcome: 'not running' };
  const dir = podDir(storeDir, 'run', uuid);
  // stage1 writes the pid once the pod's root is built; a pod just starting has none yet.
  let pid1 = readPodPid(dir);
  for (let i = 0; pid1 === undefined && i < 200; i++) {
    await sleep(25);
    pid1 = readPodPid(dir);
  }
  if (pid1 === undefined) {
    throw new InvalidStateError(`pod ${uuid} is running but has not started its apps`, { input: uuid, hint: 'retry in a moment' });
  }
  if (!options.force) {
    const stage1 = parentPid(pid1);
    if (stage1 !== undefined) signal(stage1, 'SIGTERM');
    if (await waitExited(storeDir, uuid, options.timeoutMs)) return { uuid, outcome: 'stopped' };
  }
  signal(pid1, 'SIGKILL');
  if (!(await waitExited(storeDir, uuid, 10_000))) {
    throw new InvalidStateError(`pod ${uuid} did not exit after SIGKILL`, { input: uuid, hint: 'check the host for stuck processes (D state)' });
  }
  return { uuid, outcome: 'killed' };
}

function move(storeDir: string, uuid: string, from: PodDirState, to: PodDirState): void {
  const target = podDir(storeDir, to, uuid);
  mkdirSync(dirname(target), { recursive: true, mode: 0o711 });
  renameSync(podDir(storeDir, from, uuid), target);
}

async function deletePod(storeDir: string, location: PodLocation): Promise<boolean> {
  const dir = podDir(storeDir, location.state, location.uuid);
  let lock: HeldLock | undefined;
  try {
    lock = tryLockDir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // another gc got it
    throw err;
  }
  // Held by someone else: the pod is busy.
  if (lock === undefined) return false;
  try {
    await teardownPodLeftovers(dir);
    deletePodDir(dir);
    return true;
  } finally {
    lock.release();
  }
}

/** `rm`: deletes pods that do not run, at once. */
export async function removePod(storeDir: string, query: string): Promise<string> {
  const location = resolvePodUuid(storeDir, query);
  const state = podState(storeDir, location);
  if (state === 'running' || state === 'preparing' || state === 'embryo') {
    throw new InvalidStateError(`pod ${location.uuid} is ${state}`, {
      input: location.uuid,
      hint: state === 'running' ? "stop it first with 'skiff stop'" : 'wait for it to finish preparing',
    });
  }
  let current = location;
  if (location.state === 'run' || location.state === 'prepared' || location.state === 'prepare') {
    const to: PodDirState = location.state === 'run' ? 'exited-garbage' : 'garbage';
    const lock = tryLockDir(podDir(storeDir, location.state, location.uuid));
    if (lock === undefined) throw new LockHeldError(`pod ${location.uuid} is busy`, { input: location.uuid, hint: 'retry when the other command finishes' });
    try {
      move(storeDir, location.uuid, location.state, to);
    } finally {
      lock.release();
    }
    current = { uuid: location.uuid, state: to };
  }
  if (!(await deletePod(storeDir, current))) {
    throw new LockHeldError(`pod ${location.uuid} is being deleted by another command`, { input: location.uuid });
  }
  return location.uuid;
}

export interface GcResult {
  marked: string[];
  deleted: string[];
}

function markedAt(dir: string): number {
  try {
    return statSync(join(dir, GC_MARKER)).mtimeMs;
  } catch {
    return statSync(dir).mtimeMs;
  }
}

export async function gcPods(
  storeDir: string,
  options: { gracePeriodMs: number; expirePreparedMs: number; markOnly: boolean; now?: number },
): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const result: GcResult = { marked: [], deleted: [] };
  for (const location of listPodLocations(storeDir)) {
    const state = podState(storeDir, location);
    const dir = podDir(storeDir, location.state, location.uuid);
    let to: PodDirState | undefined;
    if (state === 'exited') to = 'exited-garbage';
    else if (state === 'aborted prepare') to = 'garbage';
    else if (state === 'prepared') {
      const created = Date.parse(podCreated(dir) ?? '') || statSync(dir).mtimeMs;
      if (now - created > options.expirePreparedMs) to = 'garbage';
    }
    if (to === undefined) continue;
    const lock = tryLockDir(dir);
    if (lock === undefined) continue;
    try {
      move(storeDir, location.uuid, location.state, to);
      writeFileSync(join(podDir(storeDir, to, location.uuid), GC_MARKER), '');
      result.marked.push(location.uuid);
    } finally {
      lock.release();
    }
  }
  if (options.markOnly) return result;
  pruneRunPlans(storeDir);
  // Pods marked just now count from now: the marks above are newer than `now`. File times
  // have sub-millisecond parts that Date.now() lacks, hence the floor below.
  const sweepNow = options.now ?? Date.now();
  for (const location of listPodLocations(storeDir)) {
    if (location.state !== 'exited-garbage' && location.state !== 'garbage') continue;
    const dir = podDir(storeDir, location.state, location.uuid);
    if (location.state === 'exited-garbage' && sweepNow - Math.floor(markedAt(dir)) < options.gracePeriodMs) continue;
    if (await deletePod(storeDir, location)) result.deleted.push(location.uuid);
  }
  return result;
}

/**
 * stop, rm and gc: the parts of a pod's life after it runs, all daemonless.
 *
 * stop signals the pod's stage1 (found as the parent of the pod's PID 1),
 * which forwards SIGTERM to the apps; after stop's timeout (at once with
 * `--force`) it SIGKILLs PID 1 (stage1 still records the exits and tears
 * down). Both are held by pidfds from the moment they are checked to be the
 * pod's, so a late signal never reaches a process that took over a number. gc is rkt's mark and sweep: exited pods are moved to
 * exited-garbage and deleted after a grace period, prepared pods expire,
 * aborted prepares go at once. Deleting takes the pod's lock first, so two
 * gc runs never delete one pod twice, and a pod that is running is never
 * touched.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLockDir, type HeldLock } from '../../native/bindings/flock.js';
import { closePidfd, pidfdOpen, pidfdSignal } from '../../native/bindings/pidfd.js';
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

/** stage1 and the pod's PID 1 (a fork of it) run as this command, also from the sealed copy it execs. */
const STAGE1_COMM = 'skiff-stage1';

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

interface PinnedPod {
  pid1: number;
  stage1: number;
}

/**
 * The pod's PID 1 and its stage1 held as processes (pidfds), not numbers: a
 * signal sent later, even after the whole stop timeout, reaches them or nobody.
 * Opened after the number was read, so they are checked to be what the pod
 * dir says: PID 1 a stage1 process (init is a fork of it) whose parent is
 * stage1. Undefined when PID 1 has exited already (its apps are done; stage1
 * is tearing down and will let go of the pod's lock) or the number is no
 * longer the pod's.
 */
function pinPod(pid1: number): PinnedPod | undefined {
  const pid1Fd = pidfdOpen(pid1);
  if (pid1Fd === undefined) return undefined;
  const parent = parentPid(pid1);
  const stage1Fd = parent === undefined ? undefined : pidfdOpen(parent);
  // Checked after both are open: a process that exits after this cannot be replaced under its fd.
  if (stage1Fd !== undefined && comm(pid1) === STAGE1_COMM && comm(parent!) === STAGE1_COMM && parentPid(pid1) === parent) {
    return { pid1: pid1Fd, stage1: stage1Fd };
  }
  closePidfd(pid1Fd);
  if (stage1Fd !== undefined) closePidfd(stage1Fd);
  return undefined;
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
  const pinned = pinPod(pid1);
  try {
    if (!options.force) {
      if (pinned !== undefined) pidfdSignal(pinned.stage1, 'SIGTERM');
      if (await waitExited(storeDir, uuid, options.timeoutMs)) return { uuid, outcome: 'stopped' };
    }
    // Only the PID 1 pinned above: if it exited meanwhile (the apps are done and stage1's teardown is
    // slow, e.g. an unmount's sync on a busy disk), there is nothing to kill, and its number may be
    // someone else's by now.
    const killed = pinned !== undefined && pidfdSignal(pinned.pid1, 'SIGKILL');
    if (!(await waitExited(storeDir, uuid, 10_000))) {
      throw new InvalidStateError(
        killed ? `pod ${uuid} did not exit after SIGKILL` : `pod ${uuid}'s apps have exited but stage1 has not finished tearing it down`,
        { input: uuid, hint: 'check the host for stuck processes (D state) or a hung filesystem' },
      );
    }
    return { uuid, outcome: killed ? 'killed' : 'stopped' };
  } finally {
    if (pinned !== undefined) {
      closePidfd(pinned.pid1);
      closePidfd(pinned.stage1);
    }
  }
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

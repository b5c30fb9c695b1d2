/**
 * A pod's state as rkt reports it, from its dir and its lock: no daemon is
 * asked. The lock is probed with a shared, non-blocking flock, so probing
 * never blocks and never holds up the owner (which holds it exclusively).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tryLockDir, type HeldLock } from '../../native/bindings/flock.js';
import { NativeError } from '../errors.js';
import { POD_FILES, podDir, type PodDirState } from './pod-dirs.js';
import type { PodLocation } from './pod-uuid.js';

export type PodState =
  | 'embryo'
  | 'preparing'
  | 'aborted prepare'
  | 'prepared'
  | 'running'
  | 'exited'
  | 'exited garbage'
  | 'exited deleting'
  | 'garbage'
  | 'deleting';

/** true when some process holds the pod dir's lock; a dir that cannot be opened is not locked. */
export function isLocked(dir: string): boolean {
  let lock: HeldLock | undefined;
  try {
    lock = tryLockDir(dir, 'shared');
  } catch (err) {
    if (err instanceof NativeError) throw err;
    return false;
  }
  lock?.release();
  return lock === undefined;
}

const STATE_BY_LOCK: Record<PodDirState, [locked: PodState, unlocked: PodState]> = {
  embryo: ['embryo', 'embryo'],
  prepare: ['preparing', 'aborted prepare'],
  prepared: ['prepared', 'prepared'],
  run: ['running', 'exited'],
  'exited-garbage': ['exited deleting', 'exited garbage'],
  garbage: ['deleting', 'garbage'],
};

export function podState(storeDir: string, location: PodLocation): PodState {
  const dir = podDir(storeDir, location.state, location.uuid);
  const [locked, unlocked] = STATE_BY_LOCK[location.state];
  if (locked === unlocked) return locked;
  return isLocked(dir) ? locked : unlocked;
}

export interface AppExit {
  code: number;
  signal: string | null;
  started: string;
  finished: string;
}

export function readAppExit(dir: string, app: string): AppExit | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, POD_FILES.apps, app, 'exit'), 'utf8')) as AppExit;
  } catch {
    return undefined;
  }
}

export function readAppStarted(dir: string, app: string): string | undefined {
  try {
    return readFileSync(join(dir, POD_FILES.apps, app, 'started'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function readPodPid(dir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, POD_FILES.pid), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function readStage1Error(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, POD_FILES.stage1Error), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function podCreated(dir: string): string | undefined {
  const marker = join(dir, POD_FILES.created);
  return existsSync(marker) ? statSync(marker).mtime.toISOString() : undefined;
}

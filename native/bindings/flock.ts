/**
 * flock(2) through the native binding: Node has none. Locks belong to the
 * open file description, so they are released when the fd is closed or the
 * process dies (also by SIGKILL): the basis of rkt-style liveness (a pod is
 * running while its lock is held) and of the store's writer lock.
 *
 * A blocking flock would block Node's event loop, so waiting is done by
 * polling LOCK_NB with a short async sleep.
 */
import { closeSync, openSync, constants as fsConstants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockHeldError } from '../../runtime/errors.js';
import { check, ERRNO, libc } from './libc.js';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;

let flockFn: ((fd: number, operation: number) => number) | undefined;

/** Declared on first use: listing pods and images imports this module but may lock nothing. */
function flock(fd: number, operation: number): number {
  flockFn ??= libc.func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  return flockFn(fd, operation);
}

export type LockMode = 'shared' | 'exclusive';

/** How long lockPath waits before it calls its onWait. */
const WAIT_NOTICE_MS = 1000;

/** Tries to lock `fd` without waiting: true when taken, false when someone else holds it. */
export function tryFlock(fd: number, mode: LockMode, path?: string): boolean {
  const op = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  return check('flock', flock(fd, op), path, [ERRNO.EWOULDBLOCK]) >= 0;
}

export interface HeldLock {
  fd: number;
  path: string;
  release(): void;
}

function heldLock(fd: number, path: string): HeldLock {
  let released = false;
  return {
    fd,
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

function lockHeldError(path: string, what: string | undefined): LockHeldError {
  return new LockHeldError(`${what ?? path} is locked by another process`, {
    input: path,
    hint: 'wait for the other skiff command to finish, then retry',
  });
}

/**
 * Opens directory `dir` (a pod dir) and locks it without waiting: the lock,
 * or undefined when another process holds it. A missing dir throws (ENOENT).
 */
export function tryLockDir(dir: string, mode: LockMode = 'exclusive'): HeldLock | undefined {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    if (tryFlock(fd, mode, dir)) return heldLock(fd, dir);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  closeSync(fd);
  return undefined;
}

/** tryLockDir, with a LockHeldError naming `what` when the lock is held. */
export function lockDir(dir: string, what?: string): HeldLock {
  const lock = tryLockDir(dir);
  if (lock === undefined) throw lockHeldError(dir, what);
  return lock;
}

/**
 * Opens file `path` (created if missing) and locks it, waiting up to
 * `timeoutMs` (0: don't wait). libuv opens every fd O_CLOEXEC, so a lock
 * meant to be inherited by stage1 must be passed on explicitly.
 */
export async function lockPath(
  path: string,
  mode: LockMode,
  options: { timeoutMs?: number; what?: string; onWait?: () => void } = {},
): Promise<HeldLock> {
  const fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600);
  const start = Date.now();
  const deadline = start + (options.timeoutMs ?? 0);
  let delay = 5;
  let told = false;
  try {
    while (!tryFlock(fd, mode, path)) {
      if (Date.now() >= deadline) throw lockHeldError(path, options.what);
      // Said once, after a second: a user (or a test) can tell a command waiting for another
      // one's lock from a hung one; the usual brief contention stays silent.
      if (!told && Date.now() - start >= WAIT_NOTICE_MS) {
        told = true;
        options.onWait?.();
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return heldLock(fd, path);
}

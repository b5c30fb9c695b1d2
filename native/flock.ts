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
import { LockHeldError } from '../runtime/errors.js';
import { check, ERRNO, libc } from './libc.js';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

const flockFn = libc.func('int flock(int fd, int operation)');

export type LockMode = 'shared' | 'exclusive';

/** Tries to lock `fd` without waiting: true when taken, false when someone else holds it. */
export function tryFlock(fd: number, mode: LockMode, path?: string): boolean {
  const op = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  return check('flock', flockFn(fd, op) as number, path, [ERRNO.EWOULDBLOCK]) >= 0;
}

export function unflock(fd: number, path?: string): void {
  check('flock', flockFn(fd, LOCK_UN) as number, path);
}

export interface HeldLock {
  fd: number;
  path: string;
  release(): void;
}

/**
 * Opens `path` (a file, created if missing, or a directory) and locks it,
 * waiting up to `timeoutMs` (0: don't wait). libuv opens every fd O_CLOEXEC,
 * so a lock meant to be inherited by stage1 must be passed on explicitly.
 */
export async function lockPath(
  path: string,
  mode: LockMode,
  options: { timeoutMs?: number; directory?: boolean; what?: string } = {},
): Promise<HeldLock> {
  const flags = options.directory === true
    ? fsConstants.O_RDONLY | fsConstants.O_DIRECTORY
    : fsConstants.O_RDWR | fsConstants.O_CREAT;
  const fd = openSync(path, flags, 0o600);
  const deadline = Date.now() + (options.timeoutMs ?? 0);
  let delay = 5;
  try {
    while (!tryFlock(fd, mode, path)) {
      if (Date.now() >= deadline) {
        throw new LockHeldError(`${options.what ?? path} is locked by another process`, {
          input: path,
          hint: 'wait for the other skiff command to finish, then retry',
        });
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
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

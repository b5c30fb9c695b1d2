/**
 * The stage0 → stage1 handoff: execve() in place, so the pod's supervisor
 * keeps this process's PID (systemd's main PID) and Node is gone for the
 * life of the pod (DESIGN.md, "The handoff").
 *
 * Two traps, both measured: Node opens fds 0-2 with O_CLOEXEC (and makes
 * pipes O_NONBLOCK), so they are cleared first or stage1 starts without
 * stdio; and every other fd Node holds is CLOEXEC already (libuv), so only
 * the fds named in `keepFds` (the pod lock) are made inheritable.
 */
import { NativeError } from '../../runtime/errors.js';
import { check, errnoName, lastErrno, libc } from './libc.js';

const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
const execveFn = libc.func('int execve(const char *path, const char **argv, const char **envp)');

function makeInheritable(fd: number): void {
  check('fcntl', fcntl(fd, F_GETFD, 0) as number, `fd ${fd}`);
  check('fcntl', fcntl(fd, F_SETFD, 0) as number, `fd ${fd}`);
}

/** Replaces this process with `path`. Returns only by throwing. */
export function execInPlace(path: string, argv: string[], env: string[], keepFds: number[] = []): never {
  for (const fd of [0, 1, 2]) {
    makeInheritable(fd);
    const flags = fcntl(fd, F_GETFL, 0) as number;
    if (flags >= 0 && (flags & O_NONBLOCK) !== 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  for (const fd of keepFds) makeInheritable(fd);
  execveFn(path, [...argv, null], [...env, null]);
  const errno = lastErrno();
  throw new NativeError('execve', errno, errnoName(errno), { path, hint: 'check that npm ci built native/build/skiff-stage1' });
}

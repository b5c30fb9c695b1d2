/**
 * pidfd_open(2) and pidfd_send_signal(2) (glibc 2.36, Linux 5.3): a signal
 * through a pidfd reaches the process the fd was opened for or nobody (ESRCH
 * once it has exited), never a process that got its PID number later. `stop`
 * holds its pod's PID 1 this way between reading it and escalating to SIGKILL,
 * which may be the whole stop timeout later: on a busy host PIDs wrap around
 * (pid_max is 32768 here) and a plain kill(PID) could hit a stranger.
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { check, ERRNO, libc } from './libc.js';

type OpenFn = (pid: number, flags: number) => number;
type SignalFn = (fd: number, sig: number, info: null, flags: number) => number;

let openFn: OpenFn | undefined;
let signalFn: SignalFn | undefined;

/** A pidfd for `pid`, or undefined when no such process exists (ESRCH). Close it with closePidfd. */
export function pidfdOpen(pid: number): number | undefined {
  openFn ??= libc.func('int pidfd_open(int pid, unsigned int flags)') as unknown as OpenFn;
  const fd = check('pidfd_open', openFn(pid, 0), `pid ${pid}`, [ERRNO.ESRCH]);
  return fd < 0 ? undefined : fd;
}

/** Signals the process of `fd`: true when sent, false when it has exited (ESRCH). */
export function pidfdSignal(fd: number, signal: NodeJS.Signals): boolean {
  signalFn ??= libc.func('int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)') as unknown as SignalFn;
  return check('pidfd_send_signal', signalFn(fd, constants.signals[signal], null, 0), undefined, [ERRNO.ESRCH]) === 0;
}

export function closePidfd(fd: number): void {
  closeSync(fd);
}

/**
 * Creating a socket inside another network namespace, the one in-process
 * namespace trick DESIGN.md allows ("Node never forks and never enters mount,
 * pid or user namespaces ... The one in-process namespace trick that is safe
 * is creating a socket inside a netns").
 *
 * Why it is safe: namespaces are per thread, and a socket keeps the namespace
 * it was created in for its whole life, whichever thread later reads it. So
 * the main thread setns()es into the target, creates the socket, and setns()es
 * back, all synchronously: no callback, promise or timer can run on the main
 * thread in between, and the libuv pool threads never leave their namespace
 * (dependency-probe.md §1: a pool thread keeps the namespace it started in).
 * setns(CLONE_NEWNET) works from a multithreaded process, unlike mnt/user.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { check, libc } from '../../native/bindings/libc.js';
import { asSkiffError, NetworkError } from '../../runtime/errors.js';

const CLONE_NEWNET = 0x40000000;

const setns = libc.func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;

/** The calling thread's own netns; /proc/self would name the main thread's, which is the same here. */
const OWN_NETNS = '/proc/thread-self/ns/net';

/**
 * Runs `create` with the main thread inside the netns at `netnsPath`
 * (/run/netns/NAME, /proc/PID/ns/net, a pod's netns bind mount) and returns
 * what it made. `create` must be synchronous: anything it schedules runs after
 * the thread is back home.
 */
export function createInNetns<T>(netnsPath: string, create: () => T): T {
  const target = openNamespace(netnsPath);
  let home: number | undefined;
  try {
    home = openNamespace(OWN_NETNS);
    check('setns', setns(target, CLONE_NEWNET), netnsPath);
    let result: T;
    try {
      result = create();
    } finally {
      // Failing to get back would leave every later socket of this process
      // in the pod's namespace: nothing sensible can continue.
      if (setns(home, CLONE_NEWNET) !== 0) {
        writeSync(2, `skiff: setns back from ${netnsPath} failed; aborting rather than acting in the wrong network namespace\n`);
        process.abort();
      }
    }
    if (result instanceof Promise) {
      throw new NetworkError(`createInNetns ${netnsPath}: the callback returned a promise; it must create its socket synchronously`);
    }
    return result;
  } finally {
    if (home !== undefined) closeSync(home);
    closeSync(target);
  }
}

/** An fd of a namespace file; a missing one is a NativeError naming the path (ENOENT: the pod is gone). */
function openNamespace(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw asSkiffError(err);
  }
}

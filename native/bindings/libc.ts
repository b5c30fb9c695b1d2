/**
 * The native binding: libc through koffi (DESIGN.md: ~35 ns a call, prebuilt,
 * no compiler needed). Subsystems declare the functions they need with
 * `libc.func('int openat(int, const char *, int, uint32_t)')` in their own
 * modules, and call them through `check()`, which turns -1 + errno into a
 * NativeError naming the syscall, the path and the errno.
 *
 * Loading this module loads koffi: import it only on paths that make system
 * calls (never from `skiff version`).
 */
import koffi from 'koffi';
import { constants } from 'node:os';
import { NativeError } from '../../runtime/errors.js';

export const libc = koffi.load('libc.so.6');
export { koffi };

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** The calling thread's errno, right after a failed call. */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * Runs a libc call that returns -1 on failure (the usual convention) and
 * throws a NativeError with the errno; returns the result otherwise.
 * `allow` lists errno values that are not failures (returned as -errno).
 */
export function check(syscall: string, result: number, path?: string, allow: readonly number[] = []): number {
  if (result !== -1) return result;
  const errno = lastErrno();
  if (allow.includes(errno)) return -errno;
  throw new NativeError(syscall, errno, errnoName(errno), path === undefined ? {} : { path });
}

export const ERRNO = constants.errno;

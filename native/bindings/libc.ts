/**
 * The native binding: libc through koffi (DESIGN.md: ~35 ns a call, prebuilt,
 * no compiler needed). Subsystems declare the functions they need with
 * `libc.func('int openat(int, const char *, int, uint32_t)')` in their own
 * modules, and call them through `check()`, which turns -1 + errno into a
 * NativeError naming the syscall, the path and the errno.
 *
 * koffi (~15 ms to load here, and libc with it) is loaded on the first
 * declaration, not with this module: the read-only commands (`list`,
 * `image list`, `status`) import the lock helpers but need no system call when
 * there is nothing to lock (query-fast-path.ts). A module that declares its
 * functions at its top level still loads koffi when it is imported.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type * as Koffi from 'koffi';
import { NativeError } from '../../runtime/errors.js';

let koffiModule: typeof Koffi | undefined;
let libcHandle: Koffi.LibraryHandle | undefined;

function loadKoffi(): typeof Koffi {
  return (koffiModule ??= createRequire(import.meta.url)('koffi') as typeof Koffi);
}

/** libc: `libc.func(...)` declares a function (and loads koffi and libc on the first). */
export const libc: Pick<Koffi.LibraryHandle, 'func'> = {
  func: ((...args: Parameters<Koffi.LibraryHandle['func']>) =>
    (libcHandle ??= loadKoffi().load('libc.so.6')).func(...args)) as Koffi.LibraryHandle['func'],
};

/** koffi itself (structs, other libraries), loaded on first use as libc is. */
export const koffi: typeof Koffi = new Proxy({} as typeof Koffi, {
  get(_target, key) {
    const value = Reflect.get(loadKoffi(), key) as unknown;
    return typeof value === 'function' ? value.bind(loadKoffi()) : value;
  },
});

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

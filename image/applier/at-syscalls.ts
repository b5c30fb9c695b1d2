/**
 * The `*at` system calls the layer applier makes, declared through koffi
 * (native/bindings/libc.ts). Every path argument is a NUL-terminated Buffer of raw
 * bytes: tar names are bytes, not UTF-8, and are passed to the kernel exactly
 * as the archive holds them (entry paths travel as latin1 "binary strings",
 * one char per byte; see tar-reader.ts).
 *
 * Calls return the raw result (-1 on failure); callers read `lastErrno()` and
 * decide, because EEXIST/ENOENT/ELOOP are expected outcomes here, not faults.
 */
import { constants as fsConstants } from 'node:fs';
import { libc, lastErrno } from '../../native/bindings/libc.js';

/** Linux open(2) flags. fs.constants lacks O_CLOEXEC and O_PATH (same value on x86_64 and arm64). */
export const O_RDONLY = fsConstants.O_RDONLY;
export const O_WRONLY = fsConstants.O_WRONLY;
export const O_CREAT = fsConstants.O_CREAT;
export const O_EXCL = fsConstants.O_EXCL;
export const O_NOFOLLOW = fsConstants.O_NOFOLLOW;
export const O_DIRECTORY = fsConstants.O_DIRECTORY;
export const O_CLOEXEC = 0o2000000;

export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;

export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;

/** openat2(2) `resolve` flags (linux/openat2.h). */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_IN_ROOT = 0x10;

/** openat2 is 437 on every architecture (it came after the syscall table unification). */
const SYS_openat2 = 437;
const STATX_TYPE = 0x1;

/*
 * glibc 2.36 has no openat2 wrapper, so it goes through syscall(2). syscall is
 * variadic; it is declared here with a fixed prototype because koffi's
 * variadic calls parse their types on every call, and on x86_64/arm64 integer
 * and pointer arguments travel in the same registers either way (glibc's
 * syscall() is assembly that only moves registers).
 */
const rawOpenat2 = libc.func('syscall', 'long', ['long', 'int', 'const char *', 'void *', 'size_t']) as (
  nr: number,
  dirfd: number,
  path: Buffer,
  how: Buffer,
  size: number,
) => number;

export const mkdirat = libc.func('int mkdirat(int, const char *, uint32_t)') as (dirfd: number, path: Buffer, mode: number) => number;
export const mknodat = libc.func('int mknodat(int, const char *, uint32_t, uint64_t)') as (
  dirfd: number,
  path: Buffer,
  mode: number,
  dev: bigint,
) => number;
export const symlinkat = libc.func('int symlinkat(const char *, int, const char *)') as (target: Buffer, dirfd: number, path: Buffer) => number;
export const linkat = libc.func('int linkat(int, const char *, int, const char *, int)') as (
  olddirfd: number,
  oldpath: Buffer,
  newdirfd: number,
  newpath: Buffer,
  flags: number,
) => number;
export const unlinkat = libc.func('int unlinkat(int, const char *, int)') as (dirfd: number, path: Buffer, flags: number) => number;
export const fchown = libc.func('int fchown(int, uint32_t, uint32_t)') as (fd: number, uid: number, gid: number) => number;
export const fchownat = libc.func('int fchownat(int, const char *, uint32_t, uint32_t, int)') as (
  dirfd: number,
  path: Buffer,
  uid: number,
  gid: number,
  flags: number,
) => number;
export const fchmod = libc.func('int fchmod(int, uint32_t)') as (fd: number, mode: number) => number;
export const fchmodat = libc.func('int fchmodat(int, const char *, uint32_t, int)') as (dirfd: number, path: Buffer, mode: number, flags: number) => number;
export const fsetxattr = libc.func('int fsetxattr(int, const char *, const void *, size_t, int)') as (
  fd: number,
  name: Buffer,
  value: Buffer,
  size: number,
  flags: number,
) => number;
export const lsetxattr = libc.func('int lsetxattr(const char *, const char *, const void *, size_t, int)') as (
  path: Buffer,
  name: Buffer,
  value: Buffer,
  size: number,
  flags: number,
) => number;
/** `times` is struct timespec[2] (atime, mtime). */
export const utimensat = libc.func('int utimensat(int, const char *, const void *, int)') as (
  dirfd: number,
  path: Buffer,
  times: Buffer,
  flags: number,
) => number;
/** glibc's utimensat() refuses a NULL path (EINVAL); futimens is the fd form. */
export const futimens = libc.func('int futimens(int, const void *)') as (fd: number, times: Buffer) => number;
const rawStatx = libc.func('int statx(int, const char *, int, uint32_t, void *)') as (
  dirfd: number,
  path: Buffer,
  flags: number,
  mask: number,
  buf: Buffer,
) => number;

/** For copy-up (lower-layers.ts): what a lower layer's file holds, read without following it. */
export const readlinkat = libc.func('long readlinkat(int, const char *, void *, size_t)') as (dirfd: number, path: Buffer, buf: Buffer, size: number) => number;
export const flistxattr = libc.func('long flistxattr(int, void *, size_t)') as (fd: number, list: Buffer | null, size: number) => number;
export const fgetxattr = libc.func('long fgetxattr(int, const char *, void *, size_t)') as (fd: number, name: Buffer, value: Buffer | null, size: number) => number;
export const llistxattr = libc.func('long llistxattr(const char *, void *, size_t)') as (path: Buffer, list: Buffer | null, size: number) => number;
export const lgetxattr = libc.func('long lgetxattr(const char *, const char *, void *, size_t)') as (
  path: Buffer,
  name: Buffer,
  value: Buffer | null,
  size: number,
) => number;

/** A path component or relative path as the kernel wants it: raw bytes, NUL-terminated. */
export function cPath(binary: string): Buffer {
  return Buffer.from(`${binary}\0`, 'latin1');
}

/** struct open_how { u64 flags; u64 mode; u64 resolve; }, reused (the applier is single-threaded). */
const how = Buffer.alloc(24);

/** openat2(2); returns the fd or -1 (errno in lastErrno()). */
export function openat2(dirfd: number, path: Buffer, flags: number, mode: number, resolve: number): number {
  // All three fit in 32 bits; the high halves stay zero (the buffer is never written there).
  how.writeUInt32LE(flags >>> 0, 0);
  how.writeUInt32LE(mode >>> 0, 8);
  how.writeUInt32LE(resolve >>> 0, 16);
  return Number(rawOpenat2(SYS_openat2, dirfd, path, how, how.length));
}

const statxBuf = Buffer.alloc(256);

/** The S_IFMT type bits of `path` under `dirfd`, not following a final symlink; -1 on failure. */
export function lstatType(dirfd: number, path: Buffer): number {
  // struct statx is the same on every architecture; stx_mode is the u16 at offset 0x1c.
  if (rawStatx(dirfd, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, statxBuf) !== 0) return -1;
  return statxBuf.readUInt16LE(0x1c) & S_IFMT;
}

const AT_EMPTY_PATH = 0x1000;
const STATX_MODE = 0x2;
const STATX_GID = 0x10;
const STATX_BASIC_STATS = 0x7ff;
const EMPTY = Buffer.from([0]);

/** What copy-up needs of a lower layer's object (struct statx, the same on every architecture). */
export interface Stat {
  /** Type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: bigint;
  rdevMajor: number;
  rdevMinor: number;
  atime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
}

function readStat(buf: Buffer): Stat {
  const time = (at: number) => ({ sec: Number(buf.readBigInt64LE(at)), nsec: buf.readUInt32LE(at + 8) });
  return {
    mode: buf.readUInt16LE(0x1c),
    uid: buf.readUInt32LE(0x14),
    gid: buf.readUInt32LE(0x18),
    size: Number(buf.readBigUInt64LE(0x28)),
    ino: buf.readBigUInt64LE(0x20),
    rdevMajor: buf.readUInt32LE(0x80),
    rdevMinor: buf.readUInt32LE(0x84),
    atime: time(0x40),
    mtime: time(0x70),
  };
}

/** statx of `path` under `dirfd` without following a final symlink; undefined on failure (errno in lastErrno()). */
export function lstatAt(dirfd: number, path: Buffer): Stat | undefined {
  if (rawStatx(dirfd, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statxBuf) !== 0) return undefined;
  return readStat(statxBuf);
}

/** statx of what `fd` refers to; undefined on failure. */
export function fstatFd(fd: number): Stat | undefined {
  if (rawStatx(fd, EMPTY, AT_EMPTY_PATH, STATX_BASIC_STATS, statxBuf) !== 0) return undefined;
  return readStat(statxBuf);
}

/** Mode and group of what `fd` refers to; undefined on failure. */
export function fdModeGid(fd: number): { mode: number; gid: number } | undefined {
  if (rawStatx(fd, EMPTY, AT_EMPTY_PATH, STATX_MODE | STATX_GID, statxBuf) !== 0) return undefined;
  return { mode: statxBuf.readUInt16LE(0x1c), gid: statxBuf.readUInt32LE(24) };
}

/** glibc's makedev(): the 64-bit dev_t layout. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export { lastErrno };

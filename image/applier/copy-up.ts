/**
 * Copy-up: a lower layer's object, found by MergedView (lower-layers.ts),
 * recreated in the layer being written under a hardlink's name, with what a
 * hardlink would have shared: data (regular files), link target (symlinks),
 * device numbers (nodes), then in the writer's order owner, mode, xattrs
 * (after chown and after the data: both drop security.capability) and the
 * times last.
 *
 * The source is only ever read through fds: the file by an fd opened
 * O_NOFOLLOW relative to its parent's fd in its layer, a symlink and its
 * xattrs through the parent fd's /proc/self/fd link with the final name not
 * followed. trusted.overlay.* xattrs are never copied (they are overlayfs's
 * own, and layers may not carry them).
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { ERRNO } from '../../native/bindings/libc.js';
import {
  AT_SYMLINK_NOFOLLOW,
  fchmod,
  fchmodat,
  fchown,
  fchownat,
  fgetxattr,
  flistxattr,
  fsetxattr,
  fstatFd,
  futimens,
  lastErrno,
  lgetxattr,
  llistxattr,
  lsetxattr,
  makedev,
  mknodat,
  openat2,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_RDONLY,
  O_WRONLY,
  readlinkat,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  symlinkat,
  utimensat,
} from './at-syscalls.js';
import { RESOLVE_SAFE } from './dir-resolver.js';
import { EntryRefused, syscallFailed } from './entry-refused.js';
import type { MergedHit } from './lower-layers.js';
import { writeTimes } from './timespec.js';

/** Where the copy goes, and the writer's rules for it. */
export interface CopyDestination {
  parentFd: number;
  /** The last component, NUL-terminated. */
  name: Buffer;
  /** For messages. */
  shown: string;
  /** Clears the name (a lower layer's or an earlier entry's object) so it can be created. */
  makeRoom(): void;
  /** Whether an object owned by `uid:gid` needs a chown after creation here. */
  needsChown(uid: number, gid: number): boolean;
  /** Counts `bytes` of copied data against the layer's limits; throws to refuse. */
  reserve(bytes: number): void;
}

const FILE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
const CHUNK = 1 << 20;
const times = Buffer.alloc(32);

function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

/** Reads a size-then-fill libc call (listxattr, getxattr) into a Buffer; undefined for ENODATA. */
function sized(call: (buf: Buffer | null, size: number) => number, what: string, shown: string): Buffer | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    const size = call(null, 0);
    if (size < 0) {
      if (lastErrno() === ERRNO.ENODATA) return undefined;
      throw syscallFailed(what, shown);
    }
    const buf = Buffer.alloc(size);
    const got = call(buf, size);
    if (got >= 0) return buf.subarray(0, got);
    // ERANGE: it grew between the two calls (not in a finished layer; tried again anyway).
    if (lastErrno() !== ERRNO.ERANGE) throw syscallFailed(what, shown);
  }
  throw syscallFailed(what, shown, ERRNO.ERANGE);
}

/** The source's xattrs (name → value), overlayfs's own left out. */
function readXattrs(list: (buf: Buffer | null, size: number) => number, get: (name: Buffer, buf: Buffer | null, size: number) => number, shown: string): Array<[Buffer, Buffer]> {
  const names = sized(list, 'listxattr', shown);
  if (names === undefined || names.length === 0) return [];
  const out: Array<[Buffer, Buffer]> = [];
  for (const name of names.toString('latin1').split('\0')) {
    if (name === '' || isOverlayXattr(name)) continue;
    const cName = Buffer.from(`${name}\0`, 'latin1');
    const value = sized((buf, size) => get(cName, buf, size), 'getxattr', shown);
    if (value !== undefined) out.push([cName, value]);
  }
  return out;
}

/** `/proc/self/fd/<dirFd>/<name>`, NUL-terminated (`name` is too): the name under an open dir, for the l*xattr calls. */
function procPath(dirFd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);
}

/** Copies `hit` (a lower layer's object) to `dest`. Returns the new object's inode number (regular files), for sharing. */
export function copyUp(hit: MergedHit, dest: CopyDestination): bigint | undefined {
  const type = hit.stat.mode & S_IFMT;
  switch (type) {
    case S_IFREG:
      return copyFile(hit, dest);
    case S_IFLNK:
      copySymlink(hit, dest);
      return undefined;
    case S_IFIFO:
    case S_IFCHR:
    case S_IFBLK:
      copyNode(hit, dest);
      return undefined;
    default:
      throw new EntryRefused(`hardlink target ${dest.shown} in a lower layer is of an unknown type (mode 0${hit.stat.mode.toString(8)})`);
  }
}

function create(dest: CopyDestination, make: () => number, syscall: string): number {
  let r = make();
  if (r < 0 && lastErrno() === ERRNO.EEXIST) {
    dest.makeRoom();
    r = make();
  }
  if (r < 0) throw syscallFailed(syscall, dest.shown);
  return r;
}

function copyFile(hit: MergedHit, dest: CopyDestination): bigint {
  const src = openat2(hit.dirFd, hit.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, RESOLVE_SAFE);
  if (src < 0) throw syscallFailed('openat2 (lower layer)', dest.shown);
  let dst = -1;
  try {
    // The fd's own stat: what is copied is what was opened.
    const st = fstatFd(src);
    if (st === undefined) throw syscallFailed('statx (lower layer)', dest.shown);
    if ((st.mode & S_IFMT) !== S_IFREG) throw new EntryRefused(`hardlink target ${dest.shown} in a lower layer changed while it was read`);
    dest.reserve(st.size);
    dst = create(dest, () => openat2(dest.parentFd, dest.name, FILE_FLAGS, 0o600, RESOLVE_SAFE), 'openat2');
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(st.size, 1)));
    for (let pos = 0; ; ) {
      const n = readSync(src, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let done = 0; done < n; ) done += writeSync(dst, buf, done, n - done, pos + done);
      pos += n;
    }
    if (dest.needsChown(st.uid, st.gid) && fchown(dst, st.uid, st.gid) !== 0) throw syscallFailed('fchown', dest.shown);
    if (fchmod(dst, st.mode & 0o7777) !== 0) throw syscallFailed('fchmod', dest.shown);
    for (const [name, value] of readXattrs((b, s) => flistxattr(src, b, s), (n, b, s) => fgetxattr(src, n, b, s), dest.shown)) {
      if (fsetxattr(dst, name, value, value.length, 0) !== 0) throw syscallFailed('fsetxattr', dest.shown);
    }
    writeTimes(times, st.atime, st.mtime);
    if (futimens(dst, times) !== 0) throw syscallFailed('futimens', dest.shown);
    const made = fstatFd(dst);
    if (made === undefined) throw syscallFailed('statx', dest.shown);
    return made.ino;
  } finally {
    closeSync(src);
    if (dst >= 0) closeSync(dst);
  }
}

function copySymlink(hit: MergedHit, dest: CopyDestination): void {
  const st = hit.stat;
  const target = Buffer.alloc(st.size + 2);
  const n = readlinkat(hit.dirFd, hit.name, target, target.length);
  if (n < 0) throw syscallFailed('readlinkat (lower layer)', dest.shown);
  if (n !== st.size) throw new EntryRefused(`hardlink target ${dest.shown} in a lower layer changed while it was read`);
  const linkTarget = Buffer.concat([target.subarray(0, n), Buffer.from([0])]);
  create(dest, () => symlinkat(linkTarget, dest.parentFd, dest.name), 'symlinkat');
  metadataByName(hit, dest, false);
}

function copyNode(hit: MergedHit, dest: CopyDestination): void {
  const st = hit.stat;
  const type = st.mode & S_IFMT;
  const dev = type === S_IFIFO ? 0n : makedev(st.rdevMajor, st.rdevMinor);
  create(dest, () => mknodat(dest.parentFd, dest.name, type | (st.mode & 0o777), dev), 'mknodat');
  metadataByName(hit, dest, true);
}

/** Owner, mode (not of symlinks), xattrs and times of what was just made at `dest`, never following it. */
function metadataByName(hit: MergedHit, dest: CopyDestination, chmod: boolean): void {
  const st = hit.stat;
  if (dest.needsChown(st.uid, st.gid) && fchownat(dest.parentFd, dest.name, st.uid, st.gid, AT_SYMLINK_NOFOLLOW) !== 0) {
    throw syscallFailed('fchownat', dest.shown);
  }
  // mknodat made it a moment ago, so fchmodat (which follows) reaches that node.
  if (chmod && fchmodat(dest.parentFd, dest.name, st.mode & 0o7777, 0) !== 0) throw syscallFailed('fchmodat', dest.shown);
  const src = procPath(hit.dirFd, hit.name);
  const xattrs = readXattrs((b, s) => llistxattr(src, b, s), (n, b, s) => lgetxattr(src, n, b, s), dest.shown);
  if (xattrs.length > 0) {
    const dst = procPath(dest.parentFd, dest.name);
    for (const [name, value] of xattrs) if (lsetxattr(dst, name, value, value.length, 0) !== 0) throw syscallFailed('lsetxattr', dest.shown);
  }
  writeTimes(times, st.atime, st.mtime);
  if (utimensat(dest.parentFd, dest.name, times, AT_SYMLINK_NOFOLLOW) !== 0) throw syscallFailed('utimensat', dest.shown);
}

/**
 * Directory fds inside the layer dir, resolved so that nothing can lead out.
 *
 * Every lookup is openat2() relative to the layer root fd with
 * RESOLVE_IN_ROOT ("/" and ".." stay inside), RESOLVE_NO_SYMLINKS (a symlink
 * anywhere on the way is an error: parents must be real directories, so a
 * link planted by an earlier entry, pointing outside or even inside, is never
 * written through), RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV (no crossing
 * into something mounted in the tree), plus O_NOFOLLOW|O_DIRECTORY.
 *
 * Speed: entries come grouped by directory, so the fd of the last parent is
 * cached. The cache is dropped before any entry changes that path or one of
 * its ancestors (invalidate()), so a directory swapped for a symlink
 * mid-archive is looked up again, and refused.
 */
import { closeSync } from 'node:fs';
import { ERRNO } from '../../native/bindings/libc.js';
import {
  cPath,
  fchmod,
  fdModeGid,
  lastErrno,
  lstatType,
  mkdirat,
  openat2,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_RDONLY,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  RESOLVE_NO_XDEV,
  S_IFLNK,
} from './at-syscalls.js';
import { showName } from './entry-path.js';
import { EntryRefused, syscallFailed } from './entry-refused.js';

export const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
export const RESOLVE_SAFE = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

/** Mode of directories an archive needs but does not list (as GNU tar and containerd make them). */
const IMPLICIT_DIR_MODE = 0o755;

function refusal(errno: number, path: string): EntryRefused {
  const shown = showName(path);
  switch (errno) {
    case ERRNO.ELOOP:
      return new EntryRefused(`parent ${shown} is a symlink (entries are never written through symlinks)`);
    case ERRNO.ENOTDIR:
      return new EntryRefused(`parent ${shown} is not a directory`);
    case ERRNO.ENOENT:
      return new EntryRefused(`${shown} does not exist in the layer`);
    case ERRNO.EXDEV:
      return new EntryRefused(`parent ${shown} is a mount point`);
    default:
      return syscallFailed('openat2', shown, errno);
  }
}

const S_ISGID = 0o2000;

export class DirResolver {
  private cacheKey: string | undefined;
  private cacheFd = -1;
  /**
   * Whether the root and the cached dir are setgid: what is created in a
   * setgid dir takes the dir's group, so the writer may only skip a chown
   * to its own ids where the parent is known not to be setgid.
   */
  private cacheSetgid = true;
  private rootSetgid: boolean;

  constructor(readonly rootFd: number) {
    const st = fdModeGid(rootFd);
    this.rootSetgid = st === undefined || (st.mode & S_ISGID) !== 0;
  }

  /** True unless `fd` (the root or the cached dir) is known not to be setgid. */
  isSetgid(fd: number): boolean {
    if (fd === this.rootFd) return this.rootSetgid;
    if (fd === this.cacheFd) return this.cacheSetgid;
    return true;
  }

  /** The writer changed a dir's mode. */
  noteMode(fd: number, mode: number): void {
    if (fd === this.rootFd) this.rootSetgid = (mode & S_ISGID) !== 0;
    else if (fd === this.cacheFd) this.cacheSetgid = (mode & S_ISGID) !== 0;
  }

  /** The dir at `components` (the layer root for []), creating missing ones if asked; owned by the cache: do not close. */
  dir(components: readonly string[], create: boolean): number {
    if (components.length === 0) return this.rootFd;
    const key = components.join('/');
    if (key === this.cacheKey) return this.cacheFd;
    const fd = this.open(components, key, create);
    this.adopt(key, fd);
    const st = fdModeGid(fd);
    this.cacheSetgid = st === undefined || (st.mode & S_ISGID) !== 0;
    return fd;
  }

  /** Like dir() but not cached: the caller closes it (unless it is rootFd). */
  openDir(components: readonly string[], create: boolean): number {
    if (components.length === 0) return this.rootFd;
    return this.open(components, components.join('/'), create);
  }

  /** Hands a dir fd the writer just opened to the cache (children usually follow their dir). */
  adopt(key: string, fd: number): void {
    this.drop();
    this.cacheKey = key;
    this.cacheFd = fd;
    this.cacheSetgid = true;
  }

  /** Something at `key` is about to change: forget the cached fd if it is that path or below it. */
  invalidate(key: string): void {
    const cached = this.cacheKey;
    if (cached !== undefined && (cached === key || cached.startsWith(`${key}/`))) this.drop();
  }

  close(): void {
    this.drop();
  }

  private drop(): void {
    if (this.cacheFd >= 0) closeSync(this.cacheFd);
    this.cacheFd = -1;
    this.cacheKey = undefined;
  }

  private open(components: readonly string[], key: string, create: boolean): number {
    const fd = openat2(this.rootFd, cPath(key), DIR_FLAGS, 0, RESOLVE_SAFE);
    if (fd >= 0) return fd;
    const errno = lastErrno();
    // Walk component by component: to create what is missing, or to say exactly which parent is wrong.
    if (errno === ERRNO.ENOENT || errno === ERRNO.ELOOP || errno === ERRNO.ENOTDIR) return this.walk(components, create);
    throw refusal(errno, key);
  }

  private walk(components: readonly string[], create: boolean): number {
    let fd = this.rootFd;
    try {
      for (let i = 0; i < components.length; i++) {
        const name = cPath(components[i]!);
        let next = openat2(fd, name, DIR_FLAGS, 0, RESOLVE_SAFE);
        if (next < 0 && lastErrno() === ERRNO.ENOENT && create) {
          if (mkdirat(fd, name, IMPLICIT_DIR_MODE) !== 0) throw syscallFailed('mkdirat', showName(components.slice(0, i + 1).join('/')));
          next = openat2(fd, name, DIR_FLAGS, 0, RESOLVE_SAFE);
          // mkdir's mode went through the umask; make it exact.
          if (next >= 0 && fchmod(next, IMPLICIT_DIR_MODE) !== 0) {
            const errno = lastErrno();
            closeSync(next);
            throw syscallFailed('fchmod', showName(components.slice(0, i + 1).join('/')), errno);
          }
        }
        if (next < 0) {
          let errno = lastErrno();
          // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: name the symlink for what it is.
          if (errno === ERRNO.ENOTDIR && lstatType(fd, name) === S_IFLNK) errno = ERRNO.ELOOP;
          throw refusal(errno, components.slice(0, i + 1).join('/'));
        }
        if (fd !== this.rootFd) closeSync(fd);
        fd = next;
      }
      return fd;
    } catch (err) {
      if (fd !== this.rootFd) closeSync(fd);
      throw err;
    }
  }
}

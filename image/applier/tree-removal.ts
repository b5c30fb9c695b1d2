/**
 * Removing a name inside the target, a whole directory tree included,
 * without ever following a symlink or leaving the tree: render mode's
 * whiteouts and opaque dirs, a non-directory replacing a lower layer's
 * directory, and callers discarding a rendered tree.
 *
 * Everything is relative to a directory fd, one component at a time, never a
 * path string (so never `rm -rf` of a path that could run through a symlink a
 * layer planted):
 * 1. unlinkat(parent, name, 0). It does not follow a final symlink: a symlink
 *    (to a dir, to outside) is removed itself, its target untouched. Linux
 *    says EISDIR for a directory, and only then:
 * 2. the directory is opened from the parent fd with openat2(O_NOFOLLOW|
 *    O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|
 *    RESOLVE_NO_XDEV): not a symlink, not a mount point;
 * 3. its names are read through that fd (/proc/self/fd/N is the open dir
 *    itself, not a path looked up again) and each is removed by steps 1-3
 *    relative to that fd;
 * 4. the fd is closed and the now empty directory removed with
 *    unlinkat(AT_REMOVEDIR).
 * Depth, and so the fds held at once, is bounded by the deepest path the
 * applier can create (PATH_MAX: every entry is opened by its full name).
 */
import { closeSync, openSync, readdirSync, constants as fsConstants } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ERRNO } from '../../native/bindings/libc.js';
import { ImageError, SkiffError } from '../../runtime/errors.js';
import { AT_REMOVEDIR, cPath, lastErrno, openat2, unlinkat } from './at-syscalls.js';
import { DIR_FLAGS, RESOLVE_SAFE } from './dir-resolver.js';
import { showName } from './entry-path.js';
import { EntryRefused, syscallFailed } from './entry-refused.js';

/** The names in the open directory `fd`, as latin1 binary strings (tar-reader.ts), without "." and "..". */
export function dirNames(fd: number): string[] {
  return readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }).map((name) => name.toString('latin1'));
}

/** Removes every name inside the open directory `fd` (at `key`, for messages), trees included. */
function emptyDir(fd: number, key: string): void {
  for (const name of dirNames(fd)) removeEntry(fd, name, key === '' ? name : `${key}/${name}`);
}

/**
 * Removes `name` (one component) from the directory `parentFd`, whatever it
 * is; `key` is its path in the target, for messages. False when there was
 * nothing to remove.
 */
export function removeEntry(parentFd: number, name: string, key: string): boolean {
  const cName = cPath(name);
  if (unlinkat(parentFd, cName, 0) === 0) return true;
  const errno = lastErrno();
  if (errno === ERRNO.ENOENT) return false;
  if (errno !== ERRNO.EISDIR) throw syscallFailed('unlinkat', showName(key), errno);
  const fd = openat2(parentFd, cName, DIR_FLAGS, 0, RESOLVE_SAFE);
  if (fd < 0) {
    const err = lastErrno();
    if (err === ERRNO.EXDEV) throw new EntryRefused(`${showName(key)} is a mount point and cannot be removed`);
    throw syscallFailed('openat2', showName(key), err);
  }
  try {
    emptyDir(fd, key);
  } finally {
    closeSync(fd);
  }
  if (unlinkat(parentFd, cName, AT_REMOVEDIR) !== 0) throw syscallFailed('rmdir', showName(key));
  return true;
}

/**
 * Removes the tree at `path` (a rendered rootfs, say) the same way. `path`
 * itself comes from the caller, not from a layer: only its parent is looked
 * up by name. Nothing there is not an error.
 */
export function removeTreeAt(path: string): void {
  let parentFd: number;
  try {
    parentFd = openSync(dirname(path), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const binary = (s: string): string => Buffer.from(s).toString('latin1');
  try {
    removeEntry(parentFd, binary(basename(path)), binary(path));
  } catch (err) {
    // Outside the applier an EntryRefused means nothing: hand on the system call's own error.
    if (err instanceof EntryRefused) {
      throw err.cause instanceof SkiffError ? err.cause : new ImageError(`cannot remove ${path}: ${err.message}`, { input: path, cause: err });
    }
    throw err;
  } finally {
    closeSync(parentFd);
  }
}

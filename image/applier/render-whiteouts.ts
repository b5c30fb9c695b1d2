/**
 * Render mode: layers applied one after another into the same dir make a
 * flattened rootfs (as docker and umoci do), so a whiteout removes instead
 * of hiding. What the OCI image spec says, and how:
 *
 * - `.wh.NAME` removes NAME (a file, a symlink, a whole dir tree) of the
 *   lower layers. Whiteouts only apply to lower layers: a NAME this layer
 *   wrote before the whiteout stays (as in overlay form, where the 0/0 device
 *   cannot be made over it).
 * - `.wh..wh..opq` removes everything the dir holds from lower layers and
 *   keeps what this layer put there, before or after the marker (its place
 *   in the archive is free). Entries that come after it are simply written
 *   later; for those that came before, this layer's paths are remembered
 *   (`written`: each entry and its parent dirs), and the marker removes the
 *   names not among them. A dir of this layer may still hold lower entries
 *   (a dir over a dir keeps its contents), so it is cleared the same way,
 *   recursively: below an opaque dir only this layer's entries remain, which
 *   is what the overlay of the same layers shows.
 * - A non-directory replacing a lower layer's directory removes its tree (in
 *   an overlay the upper entry hides it all); a directory this layer wrote
 *   into is replaced only when empty, as within one layer.
 *
 * The whiteout's dir is resolved like every entry's parent (dir-resolver.ts:
 * no symlink, planted by this layer or a lower one, is ever followed, no
 * mount crossed), and made when missing, as overlay form makes it to hold the
 * device; removal is fd-relative (tree-removal.ts). Nothing lower layers
 * left can lead a removal outside the target.
 */
import { closeSync } from 'node:fs';
import { ERRNO } from '../../native/bindings/libc.js';
import { cPath, lastErrno, openat2 } from './at-syscalls.js';
import { DIR_FLAGS, RESOLVE_SAFE, type DirResolver } from './dir-resolver.js';
import { showName } from './entry-path.js';
import { syscallFailed } from './entry-refused.js';
import { dirNames, removeEntry } from './tree-removal.js';

const childKey = (dirKey: string, name: string): string => (dirKey === '' ? name : `${dirKey}/${name}`);

export class RenderWhiteouts {
  /** Paths this layer wrote, and every dir above them ("" not included). */
  private readonly written = new Set<string>();

  constructor(private readonly dirs: DirResolver) {}

  /** An entry of this layer now exists at `key`. */
  wrote(key: string): void {
    let k = key;
    while (k !== '' && !this.written.has(k)) {
      this.written.add(k);
      const slash = k.lastIndexOf('/');
      k = slash < 0 ? '' : k.slice(0, slash);
    }
  }

  /** `.wh.NAME` in the dir `parent`. */
  whiteout(parent: string[], name: string): void {
    const dirKey = parent.join('/');
    const fd = this.dirs.dir(parent, true);
    this.wrote(dirKey);
    const key = childKey(dirKey, name);
    if (this.written.has(key)) return;
    this.dirs.invalidate(key);
    removeEntry(fd, name, key);
  }

  /** `.wh..wh..opq` in the dir `parent`. */
  opaque(parent: string[]): void {
    const dirKey = parent.join('/');
    const fd = this.dirs.dir(parent, true);
    this.wrote(dirKey);
    this.clearLower(fd, dirKey);
  }

  /**
   * A non-directory entry of this layer meets the directory at `key`: true
   * when it was a lower layer's and is now removed, tree and all; false when
   * this layer wrote into it (the caller then removes it only if empty).
   */
  removeLowerDir(parentFd: number, name: string, key: string): boolean {
    if (this.written.has(key)) return false;
    this.dirs.invalidate(key);
    removeEntry(parentFd, name, key);
    return true;
  }

  /** Removes what lower layers left in the open dir `fd` (at `dirKey`), keeping this layer's entries. */
  private clearLower(fd: number, dirKey: string): void {
    for (const name of dirNames(fd)) {
      const key = childKey(dirKey, name);
      if (!this.written.has(key)) {
        this.dirs.invalidate(key);
        removeEntry(fd, name, key);
        continue;
      }
      const child = openat2(fd, cPath(name), DIR_FLAGS, 0, RESOLVE_SAFE);
      if (child < 0) {
        const errno = lastErrno();
        // A file, symlink or node of this layer: kept as it is.
        if (errno === ERRNO.ENOTDIR || errno === ERRNO.ELOOP) continue;
        throw syscallFailed('openat2', showName(key), errno);
      }
      try {
        this.clearLower(child, key);
      } finally {
        closeSync(child);
      }
    }
  }
}

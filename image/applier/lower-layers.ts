/**
 * Hardlinks to a lower layer's file, in overlay form (issue 11, section 2).
 *
 * A layer tar may hardlink a path it does not hold itself: `docker build`
 * writes a link to a file of an earlier layer when a RUN step adds a name to
 * it, and GNU tar, extracting the layers in order into one dir, makes the
 * link to the file that is there. In overlay form each layer is unpacked
 * alone into its own dir, so the target is not in the dir being written, and
 * a link cannot cross to another layer's dir anyway (another tree, and layers
 * are shared read-only between images). containerd's overlay applier resolves
 * it by reading the parent snapshots and copying the file up into the new
 * layer; Skiff does the same:
 *
 * - The target is looked up as an overlay mount of this layer (as written so
 *   far) over the image's lower layers would show it at that moment: the
 *   layers top-most first, one component at a time; a whiteout (0/0 char
 *   device) ends the lookup ("removed"), an opaque dir (trusted.overlay.opaque)
 *   hides the layers below it, a non-directory hides the layers below it, and a
 *   symlink anywhere on the way is refused, as the applier never resolves
 *   through one (so a link cannot reach out of a layer, nor another layer's
 *   file through a symlink an image planted). Each layer root is an fd; every
 *   component is opened with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS|…)
 *   relative to its parent's fd in that layer (dir-resolver.ts's flags), and
 *   the final object is read through an fd opened with O_NOFOLLOW.
 * - Found in this layer: the usual linkat (layer-writer.ts). Found below: a
 *   copy of it (copy-up.ts) with its data, type, mode, owner, xattrs and
 *   times, which is what the link shows in GNU tar's rendering (a link shares
 *   its target's inode). Several links in one layer to the same lower file
 *   share one copy, as they would share one inode. The copy's bytes count
 *   against the layer's size cap and free-space margin like file data (a
 *   thousand links to a big lower file are a thousand copies).
 * - Whiteouts and opaque markers later in the same archive do not undo a link
 *   made before them: in tar order the link was made while the target was
 *   there, and the link's own name belongs to this layer.
 *
 * The lower layers must be unpacked before a layer that needs them reads
 * them, but a fetch unpacks layers in parallel. The applier asks for them
 * only when a hardlink needs them (`lowerDirs()`); if some are still being
 * unpacked it stops with LowersPending, and the caller applies the layer
 * again once they are (layer-store.ts). Lower layers never wait for upper
 * ones, so this cannot deadlock.
 *
 * Such a layer's unpacked content depends on the layers below it, not only
 * on its own diffID: the store keeps it under its chainID (layer-store.ts).
 */
import { closeSync, openSync, constants as fsConstants } from 'node:fs';
import { ERRNO } from '../../native/bindings/libc.js';
import { cPath, fgetxattr, lastErrno, lstatAt, openat2, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, type Stat } from './at-syscalls.js';
import { DIR_FLAGS, RESOLVE_SAFE } from './dir-resolver.js';
import { showName } from './entry-path.js';
import { EntryRefused, syscallFailed } from './entry-refused.js';

/** A hardlink needs the lower layers and some are still being unpacked: apply this layer again when they are. */
export class LowersPending extends Error {
  constructor() {
    super('the lower layers are not all unpacked yet');
  }
}

/**
 * The image's layers below the one being applied, top-most first, in overlay
 * form; undefined while some of them are still being unpacked.
 */
export type LowerDirs = () => readonly string[] | undefined;

/** Where the lookup found the target: `layer` 0 is the layer being written, 1 the one right below it. */
export interface MergedHit {
  layer: number;
  /** The target's parent dir in that layer (open only while `use` runs). */
  dirFd: number;
  name: Buffer;
  stat: Stat;
}

const OPAQUE = cPath('trusted.overlay.opaque');
const opaqueValue = Buffer.alloc(4);

export function isWhiteout(st: Stat): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdevMajor === 0 && st.rdevMinor === 0;
}

function isOpaque(dirFd: number): boolean {
  const n = fgetxattr(dirFd, OPAQUE, opaqueValue, opaqueValue.length);
  return n === 1 && opaqueValue[0] === 0x79; // 'y'
}

function where(layer: number): string {
  return layer === 0 ? 'in this layer' : 'in a lower layer';
}

export class MergedView {
  private lowerFds: number[] | undefined;

  /** `rootFd`: the layer being written (not closed here). */
  constructor(
    private readonly rootFd: number,
    private readonly lowerDirs: LowerDirs,
  ) {}

  /**
   * Looks `target` (components of a hardlink target) up as the overlay of this
   * layer over the lower ones shows it, and runs `use` on what it finds while
   * its parent dir fd is open. Refuses (EntryRefused) a target that is missing,
   * removed by a whiteout, a directory, or reached through a symlink or a
   * non-directory; throws LowersPending when the lower layers are not ready.
   */
  find<T>(target: readonly string[], linkpath: string, use: (hit: MergedHit) => T): T {
    const roots = [this.rootFd, ...this.lowers()];
    const opened: number[] = [];
    const shownTarget = `hardlink target ${showName(linkpath)}`;
    try {
      let dirs = roots.map((fd, layer) => ({ layer, fd }));
      for (let i = 0; i < target.length - 1; i++) {
        const name = cPath(target[i]!);
        const shown = showName(target.slice(0, i + 1).join('/'));
        const next: Array<{ layer: number; fd: number }> = [];
        for (const dir of dirs) {
          const st = this.stat(dir.fd, name, shown);
          if (st === undefined) continue;
          const type = st.mode & S_IFMT;
          if (type === S_IFDIR) {
            const fd = openat2(dir.fd, name, DIR_FLAGS, 0, RESOLVE_SAFE);
            if (fd < 0) throw syscallFailed('openat2', shown);
            opened.push(fd);
            next.push({ layer: dir.layer, fd });
            if (isOpaque(fd)) break;
            continue;
          }
          // A whiteout or any non-directory hides the layers below; only the top-most one is seen.
          if (next.length > 0) break;
          if (isWhiteout(st)) throw new EntryRefused(`${shownTarget}: its parent ${shown} was removed by a whiteout ${where(dir.layer)}`);
          if (type === S_IFLNK) throw new EntryRefused(`${shownTarget} goes through the symlink ${shown} ${where(dir.layer)} (hardlinks are never resolved through symlinks)`);
          throw new EntryRefused(`${shownTarget}: its parent ${shown} ${where(dir.layer)} is not a directory`);
        }
        if (next.length === 0) throw this.missing(shownTarget);
        dirs = next;
      }
      const base = cPath(target[target.length - 1]!);
      for (const dir of dirs) {
        const stat = this.stat(dir.fd, base, showName(linkpath));
        if (stat === undefined) continue;
        if (isWhiteout(stat)) throw new EntryRefused(`${shownTarget} was removed by a whiteout ${where(dir.layer)}`);
        if ((stat.mode & S_IFMT) === S_IFDIR) throw new EntryRefused(`${shownTarget} is a directory ${where(dir.layer)}`);
        return use({ layer: dir.layer, dirFd: dir.fd, name: base, stat });
      }
      throw this.missing(shownTarget);
    } finally {
      for (const fd of opened) closeSync(fd);
    }
  }

  close(): void {
    for (const fd of this.lowerFds ?? []) closeSync(fd);
    this.lowerFds = undefined;
  }

  private missing(shownTarget: string): EntryRefused {
    return new EntryRefused(`${shownTarget} does not exist in this layer or any layer below it`);
  }

  /** The lower layer roots, opened on first use. */
  private lowers(): number[] {
    if (this.lowerFds !== undefined) return this.lowerFds;
    const dirs = this.lowerDirs();
    if (dirs === undefined) throw new LowersPending();
    const fds: number[] = [];
    try {
      // libuv opens with O_CLOEXEC. The roots are the store's own dirs, named by the caller.
      for (const dir of dirs) fds.push(openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW));
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw new EntryRefused(`cannot open a lower layer: ${(err as Error).message}`, { cause: err });
    }
    this.lowerFds = fds;
    return fds;
  }

  private stat(dirFd: number, name: Buffer, shown: string): Stat | undefined {
    const st = lstatAt(dirFd, name);
    if (st !== undefined) return st;
    const errno = lastErrno();
    if (errno === ERRNO.ENOENT) return undefined;
    throw syscallFailed('statx', shown, errno);
  }
}

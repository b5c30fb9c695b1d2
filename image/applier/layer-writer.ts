/**
 * The filesystem side of the applier: one tar entry at a time into the layer
 * dir, in overlayfs form, or in render mode onto the layers already there
 * (render-whiteouts.ts: whiteouts remove, replacements may remove a lower
 * layer's tree).
 *
 * Order of operations, and why:
 * 1. The name is checked lexically (entry-path.ts), then its parent dir is
 *    resolved with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS|…) from the
 *    layer root fd (dir-resolver.ts). Only the last component is then used,
 *    relative to that parent fd, so no path is ever resolved through
 *    something an archive made.
 * 2. The object is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
 *    mknodat, symlinkat, linkat; none follows a final symlink). If the name
 *    exists, the entry replaces it as tar does: a non-directory is unlinked,
 *    an empty directory removed, a directory over a directory kept (its
 *    metadata updated); replacing a non-empty directory is refused (render
 *    mode: unless a lower layer made it, then its tree goes).
 * 3. File data is written with fs.writeSync on the raw fd (no FFI call per
 *    chunk; file-writes.ts).
 * 4. Then metadata, in this order: owner (chown clears setuid/setgid and
 *    security.capability), mode (exact, not through the umask, set after
 *    chown so setuid survives), xattrs (after the data too: a write drops
 *    security.capability), and the times last (everything before changes
 *    them). Symlink owners and times are set on the link itself
 *    (AT_SYMLINK_NOFOLLOW).
 * 5. Directory times are set at the very end, deepest first, because creating
 *    children changes a directory's mtime.
 *
 * Hardlinks: to a target of this layer, linkat (sharing the inode, as tar
 * does); to a lower layer's object (when the caller gives the lower layers),
 * a copy of it (lower-layers.ts, copy-up.ts).
 *
 * Whiteouts: `.wh.NAME` becomes a 0/0 character device NAME (unless NAME
 * already exists in this layer: whiteouts only hide lower layers), and
 * `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory. Neither
 * writes a file of its own. In render mode they remove from the lower layers
 * instead (render-whiteouts.ts), and nothing of overlayfs is written.
 */
import { closeSync, ftruncateSync } from 'node:fs';
import { ERRNO } from '../../native/bindings/libc.js';
import {
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  cPath,
  fchmod,
  fchmodat,
  fchown,
  fchownat,
  fsetxattr,
  futimens,
  lastErrno,
  linkat,
  lsetxattr,
  lstatAt,
  lstatType,
  makedev,
  mkdirat,
  mknodat,
  openat2,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  symlinkat,
  unlinkat,
  utimensat,
} from './at-syscalls.js';
import { copyUp } from './copy-up.js';
import { DIR_FLAGS, DirResolver, RESOLVE_SAFE } from './dir-resolver.js';
import { entryComponents, showName, whiteoutOf } from './entry-path.js';
import { FileWrites } from './file-writes.js';
import { EntryRefused, syscallFailed } from './entry-refused.js';
import { isWhiteout, MergedView, type LowerDirs, type MergedHit } from './lower-layers.js';
import type { Timestamp } from './pax-records.js';
import { RenderWhiteouts } from './render-whiteouts.js';
import { writeTimes } from './timespec.js';
import type { TarEntry } from './tar-reader.js';

/**
 * Device nodes (char/block other than the 0/0 whiteout) in a layer:
 * 'create' them as the layer says, 'skip' them (the name is cleared, nothing
 * is made, the writer counts them), or 'refuse' the layer.
 */
export type DevicePolicy = 'create' | 'skip' | 'refuse';

export interface WriterOptions {
  devices: DevicePolicy;
  /** The process umask: modes it would not change need no chmod. */
  umask: number;
  /** 'overlay': one layer, whiteouts as devices and xattrs; 'render': onto the lower layers in the dir. */
  mode: 'overlay' | 'render';
  /** Overlay mode: the image's layers below this one, for hardlinks to their files (lower-layers.ts). */
  lowerDirs?: LowerDirs;
  /** Counts the bytes a copy-up writes against the layer's limits; throws to refuse. */
  reserveCopy?: (bytes: number) => void;
}

const FILE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
const OPAQUE_XATTR = cPath('trusted.overlay.opaque');
const OPAQUE_VALUE = Buffer.from('y');

/**
 * Overlayfs reads trusted.overlay.* (and user.overlay.* with userxattr) as
 * its own metadata: redirect, metacopy, origin could point lookups at other
 * layers. A layer may only say "opaque" and "whiteout", through the OCI
 * names; these xattrs in the archive itself are refused.
 */
function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

export class LayerWriter {
  private readonly dirs: DirResolver;
  private readonly times = Buffer.alloc(32);
  /** Directory times to set at the end, by path ("" is the layer root). */
  private readonly dirTimes = new Map<string, { atime: Timestamp; mtime: Timestamp }>();
  private readonly files: FileWrites;
  /** Render mode only. */
  private readonly render: RenderWhiteouts | undefined;
  /** Device nodes skipped ('skip'), by path: a hardlink to one is skipped with it. */
  private readonly skipped = new Set<string>();
  /** How many device nodes (and hardlinks to them) were skipped, and the first few names. */
  readonly skippedDevices = { count: 0, examples: [] as string[] };
  /** Overlay mode with lower layers: where hardlink targets not in this layer are looked up. */
  private readonly merged: MergedView | undefined;
  /** Lower objects copied up, by target path: the copy's path and inode, so later links to the same target share it. */
  private readonly copies = new Map<string, { key: string; ino: bigint }>();
  /** Hardlinks resolved from a lower layer: this layer's content depends on the layers below it. */
  copiedUp = 0;
  /** Who we create things as: entries owned by exactly that need no chown (outside setgid dirs). */
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;

  constructor(
    private readonly rootFd: number,
    private readonly options: WriterOptions,
  ) {
    this.dirs = new DirResolver(rootFd);
    this.files = new FileWrites();
    this.render = options.mode === 'render' ? new RenderWhiteouts(this.dirs) : undefined;
    this.merged = options.mode === 'overlay' && options.lowerDirs !== undefined ? new MergedView(rootFd, options.lowerDirs) : undefined;
  }

  /** Creates what `entry` describes; a file stays open for data() until end(). */
  begin(entry: TarEntry): void {
    const components = entryComponents(entry.path);
    for (const name of entry.xattrs.keys()) {
      if (isOverlayXattr(name)) throw new EntryRefused(`carries the overlayfs xattr ${showName(name)}; layers may only use OCI whiteouts`);
    }
    if (components.length === 0) {
      if (entry.type !== 'dir') throw new EntryRefused(`the layer root can only be a directory, not a ${entry.type}`);
      this.dirMetadata(this.rootFd, entry, '');
      return;
    }
    const base = components[components.length - 1]!;
    const parent = components.slice(0, -1);
    const whiteout = whiteoutOf(base);
    switch (whiteout.kind) {
      case 'opaque':
        return this.render === undefined ? this.opaque(parent) : this.render.opaque(parent);
      case 'meta':
        return;
      case 'whiteout':
        return this.render === undefined ? this.whiteout(parent, whiteout.name, entry) : this.render.whiteout(parent, whiteout.name);
      case 'none':
        break;
    }
    const key = components.join('/');
    this.dirs.invalidate(key);
    this.skipped.delete(key);
    const parentFd = this.dirs.dir(parent, true);
    const name = cPath(base);
    switch (entry.type) {
      case 'file':
        this.beginFile(parentFd, name, key, entry);
        break;
      case 'dir':
        this.directory(parentFd, name, key, entry);
        break;
      case 'symlink':
        this.symlink(parentFd, name, key, base, entry);
        break;
      case 'hardlink':
        this.hardlink(parentFd, name, key, parent, entry);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        this.node(parentFd, name, key, base, entry);
        break;
    }
    // Only once it exists: until then a lower layer's dir at `key` may be replaced whole.
    this.render?.wrote(key);
  }

  data(chunk: Buffer, position: number): void {
    this.files.write(chunk, position);
  }

  end(): void {
    this.files.end();
  }

  /** All entries are in: directory times, deepest first. */
  finish(): void {
    const keys = [...this.dirTimes.keys()].sort((a, b) => depth(b) - depth(a));
    for (const key of keys) {
      const t = this.dirTimes.get(key)!;
      const fd = key === '' ? this.rootFd : openat2(this.rootFd, cPath(key), DIR_FLAGS, 0, RESOLVE_SAFE);
      if (fd < 0) throw syscallFailed('openat2', showName(key));
      writeTimes(this.times, t.atime, t.mtime);
      const ok = futimens(fd, this.times) === 0;
      const errno = lastErrno();
      if (fd !== this.rootFd) closeSync(fd);
      if (!ok) throw syscallFailed('futimens', showName(key), errno);
    }
  }

  /** Closes every fd the writer holds; safe to call twice and after a failure. */
  close(): void {
    this.files.close();
    this.dirs.close();
    this.merged?.close();
  }

  private beginFile(parentFd: number, name: Buffer, key: string, entry: TarEntry): void {
    let fd = openat2(parentFd, name, FILE_FLAGS, entry.mode & 0o777, RESOLVE_SAFE);
    if (fd < 0 && lastErrno() === ERRNO.EEXIST) {
      this.removeExisting(parentFd, name, key, false);
      fd = openat2(parentFd, name, FILE_FLAGS, entry.mode & 0o777, RESOLVE_SAFE);
    }
    if (fd < 0) throw syscallFailed('openat2', showName(entry.path));
    const chown = this.needsChown(parentFd, entry);
    this.files.open(fd, entry, (file) => this.finishFile(file, entry, chown));
  }

  /** After the data (a write drops setuid and security.capability): owner, mode, xattrs, then the times. */
  private finishFile(fd: number, entry: TarEntry, chown: boolean): void {
    // A sparse file's last segment may end before its real size (a trailing hole).
    if (entry.sparse !== undefined) ftruncateSync(fd, entry.size);
    if (chown && fchown(fd, entry.uid, entry.gid) !== 0) throw syscallFailed('fchown', showName(entry.path));
    if (this.needsChmod(entry.mode) && fchmod(fd, entry.mode) !== 0) throw syscallFailed('fchmod', showName(entry.path));
    this.xattrs(entry, (name, value) => fsetxattr(fd, name, value, value.length, 0));
    this.setTimes(entry);
    if (futimens(fd, this.times) !== 0) throw syscallFailed('futimens', showName(entry.path));
  }

  /** A new object is ours (euid, and egid unless its dir is setgid); skip the chown when that is what the entry wants. */
  private needsChown(parentFd: number, entry: TarEntry): boolean {
    return entry.uid !== this.euid || entry.gid !== this.egid || this.dirs.isSetgid(parentFd);
  }

  private directory(parentFd: number, name: Buffer, key: string, entry: TarEntry): void {
    let fresh = true;
    if (mkdirat(parentFd, name, 0o700) !== 0) {
      if (lastErrno() !== ERRNO.EEXIST) throw syscallFailed('mkdirat', showName(entry.path));
      fresh = !this.removeExisting(parentFd, name, key, true);
      if (fresh && mkdirat(parentFd, name, 0o700) !== 0) throw syscallFailed('mkdirat', showName(entry.path));
    }
    const chown = !fresh || this.needsChown(parentFd, entry);
    const fd = openat2(parentFd, name, DIR_FLAGS, 0, RESOLVE_SAFE);
    if (fd < 0) throw syscallFailed('openat2', showName(entry.path));
    // Cached right away: it is closed with the cache even if the metadata fails.
    this.dirs.adopt(key, fd);
    this.dirMetadata(fd, entry, key, chown);
  }

  private dirMetadata(fd: number, entry: TarEntry, key: string, chown = true): void {
    if (chown && fchown(fd, entry.uid, entry.gid) !== 0) throw syscallFailed('fchown', showName(entry.path));
    // Always: mkdir went through the umask (1777 would become 1755).
    if (fchmod(fd, entry.mode) !== 0) throw syscallFailed('fchmod', showName(entry.path));
    this.dirs.noteMode(fd, entry.mode);
    this.xattrs(entry, (name, value) => fsetxattr(fd, name, value, value.length, 0));
    this.dirTimes.set(key, { atime: entry.atime ?? entry.mtime, mtime: entry.mtime });
  }

  private symlink(parentFd: number, name: Buffer, key: string, base: string, entry: TarEntry): void {
    // The target is kept verbatim, absolute or not: it is resolved later, inside the container's root.
    if (entry.linkpath === '') throw new EntryRefused('symlink has an empty target');
    if (entry.linkpath.includes('\0')) throw new EntryRefused('symlink target contains a NUL byte');
    const target = cPath(entry.linkpath);
    if (symlinkat(target, parentFd, name) !== 0) {
      if (lastErrno() !== ERRNO.EEXIST) throw syscallFailed('symlinkat', showName(entry.path));
      this.removeExisting(parentFd, name, key, false);
      if (symlinkat(target, parentFd, name) !== 0) throw syscallFailed('symlinkat', showName(entry.path));
    }
    this.nodeMetadata(parentFd, name, base, entry, false);
  }

  private hardlink(parentFd: number, name: Buffer, key: string, parent: string[], entry: TarEntry): void {
    const target = entryComponents(entry.linkpath, 'hardlink target');
    if (target.length === 0) throw new EntryRefused('hardlink to the layer root');
    const targetKey = target.join('/');
    if (targetKey === key) throw new EntryRefused('hardlink to itself');
    if (this.skipped.has(targetKey)) return this.skipDevice(parentFd, name, key);
    if (this.merged !== undefined && !this.inThisLayer(target)) return this.linkFromBelow(parentFd, name, key, target, entry);
    const targetParent = target.slice(0, -1);
    const sameDir = targetParent.join('/') === parent.join('/');
    const targetDirFd = sameDir ? parentFd : this.dirs.openDir(targetParent, false);
    try {
      const targetName = cPath(target[target.length - 1]!);
      // flags 0: a symlink target is linked itself, never followed.
      let ok = linkat(targetDirFd, targetName, parentFd, name, 0) === 0;
      if (!ok && lastErrno() === ERRNO.EEXIST) {
        this.removeExisting(parentFd, name, key, false);
        ok = linkat(targetDirFd, targetName, parentFd, name, 0) === 0;
      }
      if (!ok) {
        const errno = lastErrno();
        if (errno === ERRNO.ENOENT) throw new EntryRefused(`hardlink target ${showName(entry.linkpath)} does not exist in the layer`);
        if (errno === ERRNO.EPERM) throw new EntryRefused(`hardlink target ${showName(entry.linkpath)} is a directory`);
        throw syscallFailed('linkat', showName(entry.path), errno);
      }
    } finally {
      if (targetDirFd !== parentFd && targetDirFd !== this.rootFd) closeSync(targetDirFd);
    }
  }

  /** Whether `target` is a file, symlink or node of this layer (as written so far), reached through real dirs only. */
  private inThisLayer(target: readonly string[]): boolean {
    const dirFd = target.length === 1 ? this.rootFd : openat2(this.rootFd, cPath(target.slice(0, -1).join('/')), DIR_FLAGS, 0, RESOLVE_SAFE);
    if (dirFd < 0) return false;
    try {
      const st = lstatAt(dirFd, cPath(target[target.length - 1]!));
      return st !== undefined && !isWhiteout(st) && (st.mode & S_IFMT) !== S_IFDIR;
    } finally {
      if (dirFd !== this.rootFd) closeSync(dirFd);
    }
  }

  /** A hardlink whose target this layer lacks: a copy of the lower layers' object (lower-layers.ts), or a link to an earlier copy of it. */
  private linkFromBelow(parentFd: number, name: Buffer, key: string, target: readonly string[], entry: TarEntry): void {
    const targetKey = target.join('/');
    this.copiedUp++;
    const prior = this.copies.get(targetKey);
    if (prior !== undefined && this.linkToCopy(prior, parentFd, name, key)) return;
    const ino = this.merged!.find(target, entry.linkpath, (hit) => this.materialise(hit, parentFd, name, key, entry));
    if (ino !== undefined) this.copies.set(targetKey, { key, ino });
  }

  private materialise(hit: MergedHit, parentFd: number, name: Buffer, key: string, entry: TarEntry): bigint | undefined {
    const type = hit.stat.mode & S_IFMT;
    if ((type === S_IFCHR || type === S_IFBLK) && this.options.devices !== 'create') {
      if (this.options.devices === 'refuse') throw new EntryRefused(`hardlink to a device ${hit.stat.rdevMajor}:${hit.stat.rdevMinor} of a lower layer; devices are not allowed in this layer`);
      this.skipDevice(parentFd, name, key);
      return undefined;
    }
    return copyUp(hit, {
      parentFd,
      name,
      shown: showName(entry.path),
      makeRoom: () => void this.removeExisting(parentFd, name, key, false),
      needsChown: (uid, gid) => uid !== this.euid || gid !== this.egid || this.dirs.isSetgid(parentFd),
      reserve: (bytes) => this.options.reserveCopy?.(bytes),
    });
  }

  /** Links `name` to an earlier copy of the same lower file, if that copy is still where it was made; false if not. */
  private linkToCopy(prior: { key: string; ino: bigint }, parentFd: number, name: Buffer, key: string): boolean {
    if (prior.key === key) return lstatAt(parentFd, name)?.ino === prior.ino;
    const parts = prior.key.split('/');
    const dirFd = parts.length === 1 ? this.rootFd : openat2(this.rootFd, cPath(parts.slice(0, -1).join('/')), DIR_FLAGS, 0, RESOLVE_SAFE);
    if (dirFd < 0) return false;
    try {
      const priorName = cPath(parts[parts.length - 1]!);
      const st = lstatAt(dirFd, priorName);
      if (st === undefined || st.ino !== prior.ino || (st.mode & S_IFMT) !== S_IFREG) return false;
      let ok = linkat(dirFd, priorName, parentFd, name, 0) === 0;
      if (!ok && lastErrno() === ERRNO.EEXIST) {
        this.removeExisting(parentFd, name, key, false);
        ok = linkat(dirFd, priorName, parentFd, name, 0) === 0;
      }
      if (!ok) throw syscallFailed('linkat', showName(key));
      return true;
    } finally {
      if (dirFd !== this.rootFd) closeSync(dirFd);
    }
  }

  private node(parentFd: number, name: Buffer, key: string, base: string, entry: TarEntry): void {
    const isDevice = entry.type === 'char' || entry.type === 'block';
    // A 0/0 character device is overlayfs' own whiteout, not a device: allowed either way.
    const isWhiteoutDev = entry.type === 'char' && entry.devmajor === 0 && entry.devminor === 0;
    if (isDevice && !isWhiteoutDev && this.options.devices !== 'create') {
      if (this.options.devices === 'skip') return this.skipDevice(parentFd, name, key);
      throw new EntryRefused(`${entry.type} device ${entry.devmajor}:${entry.devminor} is not allowed in this layer`);
    }
    const typeBits = entry.type === 'char' ? S_IFCHR : entry.type === 'block' ? S_IFBLK : S_IFIFO;
    const dev = isDevice ? makedev(entry.devmajor, entry.devminor) : 0n;
    const mode = typeBits | (entry.mode & 0o777);
    if (mknodat(parentFd, name, mode, dev) !== 0) {
      if (lastErrno() !== ERRNO.EEXIST) throw syscallFailed('mknodat', showName(entry.path));
      this.removeExisting(parentFd, name, key, false);
      if (mknodat(parentFd, name, mode, dev) !== 0) throw syscallFailed('mknodat', showName(entry.path));
    }
    this.nodeMetadata(parentFd, name, base, entry, true);
  }

  /**
   * A device node not made: what the name held (a lower layer's entry) is
   * still replaced, by nothing, as if the node had been made and removed.
   */
  private skipDevice(parentFd: number, name: Buffer, key: string): void {
    this.removeExisting(parentFd, name, key, false);
    this.skipped.add(key);
    this.skippedDevices.count++;
    if (this.skippedDevices.examples.length < 3) this.skippedDevices.examples.push(key);
  }

  /**
   * Metadata of something that must not be opened (a symlink, a device, a
   * FIFO): by name relative to its parent fd, never following the name. The
   * name is what this writer just created in the layer's own tree.
   */
  private nodeMetadata(parentFd: number, name: Buffer, base: string, entry: TarEntry, chmod: boolean): void {
    if (this.needsChown(parentFd, entry) && fchownat(parentFd, name, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) !== 0) {
      throw syscallFailed('fchownat', showName(entry.path));
    }
    // fchmodat has no working AT_SYMLINK_NOFOLLOW before fchmodat2; it is only used on what mknodat just made.
    if (chmod && this.needsChmod(entry.mode) && fchmodat(parentFd, name, entry.mode, 0) !== 0) {
      throw syscallFailed('fchmodat', showName(entry.path));
    }
    if (entry.xattrs.size > 0) {
      // lsetxattr through the parent's fd link: the final name is not followed.
      const path = cPath(`/proc/self/fd/${parentFd}/${base}`);
      this.xattrs(entry, (xname, value) => lsetxattr(path, xname, value, value.length, 0));
    }
    this.setTimes(entry);
    if (utimensat(parentFd, name, this.times, AT_SYMLINK_NOFOLLOW) !== 0) throw syscallFailed('utimensat', showName(entry.path));
  }

  private opaque(parent: string[]): void {
    const fd = this.dirs.dir(parent, true);
    if (fsetxattr(fd, OPAQUE_XATTR, OPAQUE_VALUE, OPAQUE_VALUE.length, 0) !== 0) {
      throw syscallFailed('fsetxattr trusted.overlay.opaque on', showName(parent.join('/') || '.'));
    }
  }

  private whiteout(parent: string[], target: string, entry: TarEntry): void {
    const fd = this.dirs.dir(parent, true);
    const name = cPath(target);
    if (mknodat(fd, name, S_IFCHR, 0n) !== 0) {
      // Something of this layer has the name: a whiteout only hides lower layers, so it stays.
      if (lastErrno() === ERRNO.EEXIST) return;
      throw syscallFailed('mknodat', showName(entry.path));
    }
    if (this.needsChown(fd, entry) && fchownat(fd, name, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) !== 0) {
      throw syscallFailed('fchownat', showName(entry.path));
    }
  }

  /**
   * Makes room for an entry whose name exists. Returns true when an existing
   * directory is kept (a directory entry over a directory).
   */
  private removeExisting(parentFd: number, name: Buffer, key: string, entryIsDir: boolean): boolean {
    const type = lstatType(parentFd, name);
    if (type === S_IFDIR) {
      if (entryIsDir) return true;
      if (this.render?.removeLowerDir(parentFd, key.slice(key.lastIndexOf('/') + 1), key) === true) return false;
      if (unlinkat(parentFd, name, AT_REMOVEDIR) !== 0) {
        if (lastErrno() === ERRNO.ENOTEMPTY) throw new EntryRefused(`would replace the non-empty directory ${showName(key)}`);
        throw syscallFailed('rmdir', showName(key));
      }
      this.dirTimes.delete(key);
      return false;
    }
    if (type >= 0 && unlinkat(parentFd, name, 0) !== 0 && lastErrno() !== ERRNO.ENOENT) throw syscallFailed('unlinkat', showName(key));
    return false;
  }

  /** Created with mode & 0777 through the umask: a chmod is needed for special bits or bits the umask took. */
  private needsChmod(mode: number): boolean {
    return (mode & 0o7000) !== 0 || (mode & this.options.umask) !== 0;
  }

  private xattrs(entry: TarEntry, set: (name: Buffer, value: Buffer) => number): void {
    for (const [name, value] of entry.xattrs) {
      if (set(cPath(name), value) !== 0) throw syscallFailed('setxattr', `${showName(name)} on ${showName(entry.path)}`);
    }
  }

  private setTimes(entry: TarEntry): void {
    writeTimes(this.times, entry.atime ?? entry.mtime, entry.mtime);
  }
}

function depth(key: string): number {
  if (key === '') return 0;
  let n = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 0x2f) n++;
  return n;
}

/**
 * The free-space check of a layer being applied (issue 13, item 6: a 9 MB
 * gzip became a fully allocated 2 GiB file). The filesystem the layer goes
 * to must keep a margin free: filling the disk of /var/lib breaks more than
 * the fetch (logs, databases, the pods already running).
 *
 * statfs is taken when the layer starts (a store already below the margin
 * refuses at once, before anything is written) and then again only when an
 * entry would use more than what is left of the last reading, or after
 * every REFRESH_BYTES written (other writers use the disk too). Each entry
 * reserves what it will allocate when it begins (a file its data rounded up
 * to blocks, the data segments only for a sparse file; a dir a block), so a
 * file that would cross the margin is refused before its first byte is
 * written. What is left out (inodes, metadata) is small, and ENOSPC is still
 * reported as a full filesystem.
 */
import { statfsSync } from 'node:fs';
import { formatBytes } from '../../runtime/cli/fetch-progress.js';
import { ImageError } from '../../runtime/errors.js';
import { showName } from './entry-path.js';
import type { TarEntry } from './tar-entry.js';

const GiB = 1024 ** 3;
const REFRESH_BYTES = 256 * 1024 ** 2;

/** The bytes a filesystem of `totalBytes` keeps free: 5% of it, at most 1 GiB. */
export function freeSpaceMargin(totalBytes: number): number {
  return Math.min(GiB, Math.floor(totalBytes * 0.05));
}

export const FREE_SPACE_HINT = "free space on that filesystem (for the image store: 'skiff image gc', 'skiff image rm') and try again";

export class FreeSpace {
  private margin = 0;
  private blockSize = 4096;
  /** Free bytes above the margin at the last statfs, less what was reserved since. */
  private left = 0;
  private sinceRefresh = 0;

  /** `dir` is statfs'd; `shown` names it in messages. */
  constructor(
    private readonly dir: string,
    private readonly shown: string,
  ) {
    this.refresh();
    if (this.left < 0) throw this.refusal('it has');
  }

  /** Reserves what `entry` will allocate; refuses it when that would cross the margin. */
  reserve(entry: TarEntry): void {
    const bytes = this.allocation(entry);
    if (bytes === 0) return;
    this.sinceRefresh += bytes;
    if (bytes > this.left || this.sinceRefresh >= REFRESH_BYTES) this.refresh();
    if (bytes > this.left) throw this.refusal(`entry #${entry.index} ${showName(entry.path)} needs ${formatBytes(bytes)} and it has`);
    this.left -= bytes;
  }

  private allocation(entry: TarEntry): number {
    if (entry.type === 'dir') return this.blockSize;
    if (entry.type !== 'file') return 0;
    const data = entry.sparse === undefined ? entry.size : entry.sparse.reduce((sum, s) => sum + s.length, 0);
    return Math.ceil(data / this.blockSize) * this.blockSize;
  }

  private refresh(): void {
    const st = statfsSync(this.dir);
    this.blockSize = st.bsize;
    this.margin = freeSpaceMargin(st.blocks * st.bsize);
    this.left = st.bavail * st.bsize - this.margin;
    this.sinceRefresh = 0;
  }

  private refusal(what: string): ImageError {
    const free = this.left + this.margin;
    return new ImageError(`not unpacked: the filesystem of ${this.shown} must keep ${formatBytes(this.margin)} free; ${what} ${formatBytes(Math.max(0, free))} free`, {
      input: this.shown,
      hint: FREE_SPACE_HINT,
    });
  }
}

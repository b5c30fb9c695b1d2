/**
 * Crash-safe file writes: write a temp file in the same directory, fsync it,
 * rename it over the target, fsync the directory. A reader (or a process that
 * starts after a crash) sees the old content or the new, never a mix.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

/** node:crypto on first use: read-only commands import this module, never write, and skip its load. */
function randomBytes(size: number): Buffer {
  return (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomBytes(size);
}

/** Flushes a file written through a stream before it is renamed into place. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes rename durable: the directory entry itself must reach the disk. */
export function fsyncDir(dir: string): void {
  fsyncFile(dir);
}

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * `durable: false` skips both fsyncs and keeps the atomicity: readers still
 * see old or new, never a mix, but a power loss may lose the write. For a
 * running pod's own files that is enough: the pod does not survive a power
 * loss either, and gc removes what it left (bench/start measured the fsyncs
 * at ~30 ms of `skiff run` here).
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644, options: { durable?: boolean } = {}): void {
  const durable = options.durable ?? true;
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  if (durable) fsyncDir(dirname(path));
}

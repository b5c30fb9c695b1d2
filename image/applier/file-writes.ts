/**
 * The one file of the layer whose data is arriving: written on the raw fd
 * with Node's fs.writeSync (a plain write(2) per chunk, no FFI call), then
 * finalised (owner, mode, xattrs, times) and closed when its data is in.
 *
 * Synchronous on purpose. Writing big files from the thread pool instead was
 * measured (bench/unpack.ts, 2 cores): no faster, since the pool is already
 * busy reading the input, and it would hold fds open under in-flight writes.
 */
import { closeSync, writeSync } from 'node:fs';
import type { TarEntry } from './tar-reader.js';

interface OpenFile {
  fd: number;
  entry: TarEntry;
  /** Owner, mode, xattrs, times: everything after the data. */
  finalize: (fd: number) => void;
}

export class FileWrites {
  private current: OpenFile | undefined;

  open(fd: number, entry: TarEntry, finalize: (fd: number) => void): void {
    this.current = { fd, entry, finalize };
  }

  write(chunk: Buffer, position: number): void {
    const fd = this.current!.fd;
    let done = 0;
    while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, position + done);
  }

  /** The entry's data is complete: finalise and close. */
  end(): void {
    const file = this.current;
    if (file === undefined) return;
    this.current = undefined;
    try {
      file.finalize(file.fd);
    } finally {
      closeSync(file.fd);
    }
  }

  /** Closes a file left open by a failure; safe to call twice. */
  close(): void {
    if (this.current !== undefined) closeSync(this.current.fd);
    this.current = undefined;
  }
}

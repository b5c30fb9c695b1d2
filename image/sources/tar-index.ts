/**
 * Finds the regular files in a tar archive (an oci-archive or a `docker save`
 * tarball) and where their data lies, without extracting anything: blobs are
 * then streamed straight from the archive by offset. Reads headers only
 * (ustar name + prefix, PAX `path`, GNU long names), skipping over file data.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ImageError } from '../../runtime/errors.js';

export interface TarFileEntry {
  offset: number;
  size: number;
}

const BLOCK = 512;

function field(h: Buffer, off: number, len: number): string {
  const raw = h.subarray(off, off + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function numeric(h: Buffer, off: number, len: number): number {
  if ((h[off] ?? 0) & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + (h[i] ?? 0);
    return v;
  }
  const text = field(h, off, len).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  return sum === numeric(h, 148, 8);
}

function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  let path: string | undefined;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(pos, space).toString(), 10);
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    pos += len;
  }
  return path;
}

/** Normalises `./blobs/x` and `blobs/x` to one key. */
export function archiveKey(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

export function indexTar(file: string): Map<string, TarFileEntry> {
  const fd = openSync(file, 'r');
  try {
    const total = fstatSync(fd).size;
    const files = new Map<string, TarFileEntry>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    while (pos + BLOCK <= total) {
      readSync(fd, header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) {
        throw new ImageError(`${file} is not a valid tar archive (bad header checksum at byte ${pos})`, {
          input: file,
          hint: 'check that the file is a complete oci-archive or docker save tarball',
        });
      }
      const size = numeric(header, 124, 12);
      const type = String.fromCharCode(header[156] ?? 0);
      const dataStart = pos + BLOCK;
      if (dataStart + size > total) {
        throw new ImageError(`${file} is truncated (an entry runs past the end of the file)`, { input: file });
      }
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        readSync(fd, data, 0, size, dataStart);
        longName = type === 'x' ? paxPath(data) : data.toString('utf8').replace(/\0+$/, '');
      } else {
        const prefix = field(header, 345, 155);
        const name = longName ?? (prefix === '' ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`);
        longName = undefined;
        if (type === '0' || type === '\0') files.set(archiveKey(name), { offset: dataStart, size });
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
    return files;
  } finally {
    closeSync(fd);
  }
}

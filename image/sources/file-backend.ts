/**
 * Where a local image's files are read from: a directory (an OCI layout) or
 * a tar archive read in place (oci-archive, docker-archive). Names are
 * relative to the layout's root; reads are size-capped.
 */
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError, NotFoundError } from '../../runtime/errors.js';
import { archiveKey, indexTar, type TarFileEntry } from './tar-index.js';
import { STREAM_CHUNK } from '../stream-chunk.js';

export interface FileBackend {
  /** For messages: the dir or archive. */
  readonly location: string;
  has(name: string): boolean;
  size(name: string): number;
  read(name: string, maxBytes: number): Buffer;
  open(name: string): NodeJS.ReadableStream;
}

function tooBig(location: string, name: string, size: number, max: number): ImageError {
  return new ImageError(`${name} in ${location} is ${size} bytes, more than the ${max} allowed`, { input: location });
}

function missing(location: string, name: string): NotFoundError {
  return new NotFoundError(`${location} has no ${name}`, { input: location, hint: 'check that it is a complete OCI layout or archive' });
}

export function dirBackend(dir: string): FileBackend {
  // Names come from index.json and digests, never from the user: still, refuse anything but plain relative paths.
  const pathOf = (name: string): string => {
    if (name.split('/').some((p) => p === '..' || p === '') || name.startsWith('/')) {
      throw new ImageError(`refusing path ${JSON.stringify(name)} in ${dir}`, { input: dir });
    }
    return join(dir, name);
  };
  return {
    location: dir,
    has: (name) => existsSync(pathOf(name)),
    size: (name) => statSync(pathOf(name)).size,
    read(name, maxBytes) {
      const path = pathOf(name);
      if (!existsSync(path)) throw missing(dir, name);
      const size = statSync(path).size;
      if (size > maxBytes) throw tooBig(dir, name, size, maxBytes);
      const buf = Buffer.alloc(size);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, buf, 0, size, 0);
      } finally {
        closeSync(fd);
      }
      return buf;
    },
    open(name) {
      const path = pathOf(name);
      if (!existsSync(path)) throw missing(dir, name);
      return createReadStream(path, { highWaterMark: STREAM_CHUNK });
    },
  };
}

export function tarBackend(file: string): FileBackend {
  if (!existsSync(file)) throw new NotFoundError(`no such archive ${file}`, { input: file, hint: 'check the path after oci-archive: or docker-archive:' });
  const entries = indexTar(file);
  const entry = (name: string): TarFileEntry => {
    const e = entries.get(archiveKey(name));
    if (e === undefined) throw missing(file, name);
    return e;
  };
  return {
    location: file,
    has: (name) => entries.has(archiveKey(name)),
    size: (name) => entry(name).size,
    read(name, maxBytes) {
      const e = entry(name);
      if (e.size > maxBytes) throw tooBig(file, name, e.size, maxBytes);
      const buf = Buffer.alloc(e.size);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buf, 0, e.size, e.offset);
      } finally {
        closeSync(fd);
      }
      return buf;
    },
    open(name) {
      const e = entry(name);
      if (e.size === 0) return createReadStream(file, { start: 1, end: 0 });
      return createReadStream(file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: STREAM_CHUNK });
    },
  };
}

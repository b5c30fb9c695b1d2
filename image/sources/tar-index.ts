/**
 * Finds the regular files in a tar archive (an oci-archive or a `docker save`
 * tarball) and where their data lies, without extracting anything: blobs are
 * then streamed straight from the archive by offset. Reads headers only,
 * with the layer applier's own header and PAX parsers (ustar prefix, PAX
 * `path` and `size`, GNU long names), skipping over file data.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ImageError } from '../../runtime/errors.js';
import { parsePax } from '../applier/pax-records.js';
import { BLOCK, isZeroBlock, parseHeader, TarFormatError } from '../applier/tar-header.js';

export interface TarFileEntry {
  offset: number;
  size: number;
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
    const block = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let paxSize: number | undefined;
    while (pos + BLOCK <= total) {
      readSync(fd, block, 0, BLOCK, pos);
      if (isZeroBlock(block)) break;
      let header;
      try {
        header = parseHeader(block, 0);
      } catch (err) {
        if (!(err instanceof TarFormatError)) throw err;
        throw new ImageError(`${file} is not a valid tar archive (${err.message} at byte ${pos})`, {
          input: file,
          hint: 'check that the file is a complete oci-archive or docker save tarball',
        });
      }
      const size = paxSize ?? header.size;
      const dataStart = pos + BLOCK;
      if (dataStart + size > total) {
        throw new ImageError(`${file} is truncated (an entry runs past the end of the file)`, { input: file });
      }
      const type = header.typeflag;
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        readSync(fd, data, 0, size, dataStart);
        if (type === 'x') {
          const pax = parsePax(data);
          longName = pax.path;
          paxSize = pax.size;
        } else {
          longName = data.toString('utf8').replace(/\0+$/, '');
        }
      } else {
        if (type === '0' || type === '\0') files.set(archiveKey(longName ?? header.name), { offset: dataStart, size });
        longName = undefined;
        paxSize = undefined;
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
    return files;
  } finally {
    closeSync(fd);
  }
}

/**
 * Sparse files, in the three shapes GNU tar writes them: the old GNU 'S'
 * entry (map in the header and in extension blocks), PAX 0.0/0.1 (map in PAX
 * records) and PAX 1.0 (map in decimal lines at the start of the data).
 * Whatever the shape, the result is a list of data segments that must be in
 * order, must not overlap, must end within the real size, and must add up to
 * exactly the data the entry carries; anything else is refused.
 */
import { BLOCK, readNumber, TarFormatError } from './tar-header.js';

export interface SparseSegment {
  offset: number;
  length: number;
}

/** More segments than this in one file is refused (a map is held in memory). */
export const MAX_SPARSE_SEGMENTS = 1_000_000;

/** Reads `count` (offset, numbytes) pairs of 12-byte octal fields starting at `at`. */
export function readGnuSparseEntries(block: Buffer, at: number, count: number, into: SparseSegment[]): void {
  for (let k = 0; k < count; k++) {
    const base = at + k * 24;
    if (block[base] === 0) return; // an empty slot ends the list
    into.push({
      offset: readNumber(block, base, 12, 'sparse offset'),
      length: readNumber(block, base + 12, 12, 'sparse numbytes'),
    });
    if (into.length > MAX_SPARSE_SEGMENTS) throw new TarFormatError('sparse map has too many segments');
  }
}

/** A GNU sparse extension block: 21 entries, then the "more follow" flag at byte 504. */
export function readGnuSparseExtension(block: Buffer, offset: number, into: SparseSegment[]): boolean {
  readGnuSparseEntries(block, offset, 21, into);
  return block[offset + 504] !== 0;
}

export function segmentsFromPairs(pairs: number[], numblocks: number | undefined): SparseSegment[] {
  if (pairs.length % 2 !== 0) throw new TarFormatError('sparse map has an odd number of values');
  if (numblocks !== undefined && numblocks * 2 !== pairs.length) throw new TarFormatError('sparse map length disagrees with GNU.sparse.numblocks');
  if (pairs.length / 2 > MAX_SPARSE_SEGMENTS) throw new TarFormatError('sparse map has too many segments');
  const out: SparseSegment[] = [];
  for (let k = 0; k < pairs.length; k += 2) out.push({ offset: pairs[k]!, length: pairs[k + 1]! });
  return out;
}

/**
 * PAX 1.0: "<count>\n" then count × "<offset>\n<size>\n", padded to a block.
 * Returns the segments and the bytes the map takes (a multiple of BLOCK), or
 * undefined when `data` does not hold the whole map yet.
 */
export function parseSparseMap1(data: Buffer): { segments: SparseSegment[]; bytes: number } | undefined {
  const numbers: number[] = [];
  let start = 0;
  let wanted = -1;
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c === 0x0a) {
      const text = data.toString('latin1', start, i);
      if (!/^[0-9]{1,16}$/.test(text)) throw new TarFormatError('malformed sparse map (PAX 1.0)');
      numbers.push(Number(text));
      start = i + 1;
      if (wanted < 0) {
        wanted = numbers[0]!;
        if (wanted > MAX_SPARSE_SEGMENTS) throw new TarFormatError('sparse map has too many segments');
        numbers.length = 0;
      }
      if (numbers.length === wanted * 2) {
        return { segments: segmentsFromPairs(numbers, wanted), bytes: Math.ceil(start / BLOCK) * BLOCK };
      }
    } else if (c < 0x30 || c > 0x39) {
      throw new TarFormatError('malformed sparse map (PAX 1.0)');
    }
  }
  return undefined;
}

/** Checks a map against the entry: ordered, disjoint, within realsize, and covering exactly `dataSize` bytes. */
export function validateSparse(segments: SparseSegment[], realsize: number, dataSize: number): void {
  let end = 0;
  let total = 0;
  for (const s of segments) {
    if (s.offset < end) throw new TarFormatError('sparse map segments overlap or are out of order');
    end = s.offset + s.length;
    total += s.length;
    if (end > realsize) throw new TarFormatError('sparse map reaches past the real file size');
  }
  if (total !== dataSize) throw new TarFormatError(`sparse map covers ${total} bytes but the entry carries ${dataSize}`);
}

/**
 * One 512-byte tar header block: ustar (POSIX), GNU and old v7 layouts.
 *
 * Strict where leniency would let two readers see different archives: a bad
 * checksum or a malformed number is an error, not a skipped entry (node-tar
 * warns and skips, GNU tar searches for the next valid header). Names are kept
 * as latin1 "binary strings", one char per byte, so no byte of a name is
 * reinterpreted on its way to the kernel.
 */

export const BLOCK = 512;

export interface RawHeader {
  /** name, with the ustar prefix joined in front when the format has one. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** GNU layout: the old sparse map and real size live in the header. */
  gnu: boolean;
}

/** Thrown for malformed input; the reader adds where in the archive it was. */
export class TarFormatError extends Error {}

export function isZeroBlock(block: Buffer, offset = 0): boolean {
  for (let i = offset; i < offset + BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** A NUL-terminated fixed-width text field, bytes kept as latin1. */
export function readText(block: Buffer, offset: number, length: number): string {
  let end = offset;
  const limit = offset + length;
  while (end < limit && block[end] !== 0) end++;
  return block.toString('latin1', offset, end);
}

/**
 * A numeric field: octal digits (leading spaces allowed, ended by NUL or
 * space), or GNU base-256 when the top bit of the first byte is set.
 */
export function readNumber(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    const negative = first === 0xff;
    let value = 0n;
    for (let i = offset; i < offset + length; i++) {
      const byte = i === offset ? first & 0x7f : (block[i] ?? 0);
      value = (value << 8n) | BigInt(negative ? ~byte & 0xff : byte);
    }
    if (negative) value = -(value + 1n);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TarFormatError(`${field} out of range`);
    }
    return Number(value);
  }
  let i = offset;
  const end = offset + length;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i] ?? 0;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`${field} field is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  // Only NULs and spaces may follow the digits.
  for (; i < end; i++) {
    const c = block[i];
    if (c !== 0 && c !== 0x20) throw new TarFormatError(`${field} field is not an octal number`);
  }
  return digits === 0 ? 0 : value;
}

function checksumOk(block: Buffer, offset: number): boolean {
  const stored = readNumber(block, offset + 148, 8, 'checksum');
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  let high = 0; // bytes > 127, for the signed sum
  for (let i = offset; i < offset + 148; i++) {
    const byte = block[i]!;
    unsigned += byte;
    if (byte > 127) high++;
  }
  for (let i = offset + 156; i < offset + BLOCK; i++) {
    const byte = block[i]!;
    unsigned += byte;
    if (byte > 127) high++;
  }
  // Some old writers summed signed chars; both are accepted, as by GNU tar and Go.
  return stored === unsigned || stored === unsigned - 256 * high;
}

export function parseHeader(block: Buffer, offset: number): RawHeader {
  if (!checksumOk(block, offset)) throw new TarFormatError('header checksum mismatch (corrupt or not a tar archive)');
  const magic = block.toString('latin1', offset + 257, offset + 265);
  const ustar = magic === 'ustar\u000000';
  const gnu = magic === 'ustar  \u0000';
  let name = readText(block, offset, 100);
  if (ustar) {
    const prefix = readText(block, offset + 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const flagByte = block[offset + 156] ?? 0;
  return {
    name,
    mode: readNumber(block, offset + 100, 8, 'mode'),
    uid: readNumber(block, offset + 108, 8, 'uid'),
    gid: readNumber(block, offset + 116, 8, 'gid'),
    size: readNumber(block, offset + 124, 12, 'size'),
    mtime: readNumber(block, offset + 136, 12, 'mtime'),
    typeflag: flagByte === 0 ? '\0' : String.fromCharCode(flagByte),
    linkname: readText(block, offset + 157, 100),
    devmajor: ustar || gnu ? readNumber(block, offset + 329, 8, 'devmajor') : 0,
    devminor: ustar || gnu ? readNumber(block, offset + 337, 8, 'devminor') : 0,
    gnu,
  };
}

/** Times as the kernel takes them (utimensat, futimens): struct timespec[2], atime then mtime. */
import type { Timestamp } from './pax-records.js';

/** An int64 as two 32-bit halves (no BigInt per file; floor keeps negative times right). */
function writeInt64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

/** Fills `buf` (32 bytes, reused) with struct timespec[2]. */
export function writeTimes(buf: Buffer, atime: Timestamp, mtime: Timestamp): void {
  writeInt64(buf, 0, atime.sec);
  writeInt64(buf, 8, atime.nsec);
  writeInt64(buf, 16, mtime.sec);
  writeInt64(buf, 24, mtime.nsec);
}

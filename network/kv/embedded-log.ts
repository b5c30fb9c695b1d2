/**
 * The embedded store's on-disk format: one append-only journal file, one record per line,
 *   <crc32 of the JSON, 8 hex digits> <JSON>\n
 * The first line is always a snapshot (the whole state at some revision); every later line is one
 * change. Why a journal and not a state file rewritten on each change: a lease keepalive or a
 * put is one small append + fdatasync, where rewriting a few thousand keys each time would cost a
 * megabyte of writes per keepalive; and other processes catch up by reading only the new lines.
 *
 * Crash safety: a record is written with one write() and fdatasync'd before the writer lets go of
 * the lock, so a crash can only leave a torn *last* line (no newline yet, or a bad checksum). A
 * reader stops at it; the next writer, holding the lock, cuts it off before appending. A bad line
 * with valid lines after it is not a crash leftover but damage, and is reported as such.
 * Compaction (embedded-compaction.ts) writes a new journal whole and renames it into place.
 */
import { crc32 } from 'node:zlib';
import type { KeyValue, LeaseId } from './kv-store.js';

export interface LeaseState {
  id: LeaseId;
  ttl: number;
  /** Wall-clock expiry, ms since the epoch: one machine, one clock for every process. */
  expiresAt: number;
}

export type LogRecord =
  | { t: 'snap'; rev: number; compact: number; kvs: KeyValue[]; leases: LeaseState[] }
  | { t: 'put'; r: number; k: string; v: string; l?: LeaseId }
  | { t: 'del'; r: number; k: string[] }
  | { t: 'grant'; id: LeaseId; ttl: number; exp: number }
  | { t: 'keep'; id: LeaseId; exp: number }
  /** A lease revoked or expired; its keys, if any, deleted at revision r. */
  | { t: 'revoke'; id: LeaseId; r?: number; k: string[] };

export function encodeRecord(record: LogRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface ParsedLine {
  record: LogRecord;
  /** Byte offset just past the line's newline, relative to the parsed buffer. */
  end: number;
}

export interface ParseResult {
  lines: ParsedLine[];
  /** Offset (relative) past the last good line: where a writer may append. */
  goodEnd: number;
  /** A bad line was followed by more data: not a torn tail. */
  damaged: boolean;
}

/** Parses the complete, intact lines at the start of `buf`. */
export function parseRecords(buf: Buffer): ParseResult {
  const lines: ParsedLine[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const record = decodeLine(buf.subarray(pos, nl));
    if (record === undefined) {
      return { lines, goodEnd: pos, damaged: nl + 1 < buf.length };
    }
    pos = nl + 1;
    lines.push({ record, end: pos });
  }
  return { lines, goodEnd: pos, damaged: false };
}

function decodeLine(line: Buffer): LogRecord | undefined {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const json = line.subarray(9);
  const want = Number.parseInt(line.subarray(0, 8).toString('latin1'), 16);
  if (!Number.isInteger(want) || crc32(json) !== want) return undefined;
  try {
    const record = JSON.parse(json.toString('utf8')) as LogRecord;
    return typeof record === 'object' && record !== null && typeof record.t === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

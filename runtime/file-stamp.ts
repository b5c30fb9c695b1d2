/**
 * A file's stamp, to tell whether it changed between two looks without
 * reading it: the run plans key on the image index's (pods/run-plan.ts), and
 * the native launcher computes the very same string (its file_stamp).
 */
import { statSync } from 'node:fs';

/** "ino:size:mtime_sec.nsec"; undefined when the file is missing. */
export function fileStamp(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    const ns = st.mtimeNs;
    return `${st.ino}:${st.size}:${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
  } catch {
    return undefined;
  }
}

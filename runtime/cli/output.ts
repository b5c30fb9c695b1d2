/**
 * How commands print results: text for people, JSON (one document, newline
 * terminated) for scripts. Commands build the data; this decides the shape.
 */
import { writeSync } from 'node:fs';
import type { OutputFormat } from './global-options.js';

export function printResult<T>(format: OutputFormat, data: T, renderText: (data: T) => string): void {
  const text = format === 'json' ? JSON.stringify(data, null, 2) : renderText(data);
  writeStdout(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * write(2) on fd 1 rather than process.stdout: making that stream loads node:stream and its kin
 * (~15 ms here, most of what `skiff list` costs beyond Node's own start). A non-blocking pipe
 * (EAGAIN) is waited on; a reader that went away (EPIPE) ends the output quietly, as a shell
 * tool killed by SIGPIPE would.
 */
export function writeStdout(text: string): void {
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return;
      if (code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Rows as aligned columns (the last one unpadded); the first row is the legend, left out unless `legend`. */
export function renderTable(rows: string[][], legend: boolean): string {
  const body = legend ? rows : rows.slice(1);
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  return body.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

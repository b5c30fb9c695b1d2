/**
 * How commands print results: text for people, JSON (one document, newline
 * terminated) for scripts. Commands build the data; this decides the shape.
 */
import type { OutputFormat } from './global-options.js';

export function printResult<T>(format: OutputFormat, data: T, renderText: (data: T) => string): void {
  const text = format === 'json' ? JSON.stringify(data, null, 2) : renderText(data);
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Rows as aligned columns (the last one unpadded); the first row is the legend, left out unless `legend`. */
export function renderTable(rows: string[][], legend: boolean): string {
  const body = legend ? rows : rows.slice(1);
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  return body.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

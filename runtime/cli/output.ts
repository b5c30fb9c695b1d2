/**
 * How commands print results: text for people, JSON (one document, newline
 * terminated) for scripts. Commands build the data; this decides the shape.
 */
import type { OutputFormat } from './global-options.js';

export function printResult<T>(format: OutputFormat, data: T, renderText: (data: T) => string): void {
  const text = format === 'json' ? JSON.stringify(data, null, 2) : renderText(data);
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * Module resolve hook (runs on Node's loader thread) that appends every
 * resolved URL to the file named by SKIFF_IMPORT_LOG. Used to prove that a
 * command loads only what it needs.
 */
import { appendFileSync } from 'node:fs';

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const result = await next(specifier, context);
  const log = process.env['SKIFF_IMPORT_LOG'];
  if (log !== undefined) appendFileSync(log, `${result.url}\n`);
  return result;
}

/**
 * The flags every command accepts (rkt's global flags, trimmed to what Skiff
 * has): where the store and pods live, debug output, which security checks
 * to relax, and the output format of commands that print data.
 */
import { InvalidArgumentError, Option } from 'commander';

export const DEFAULT_DIR = '/var/lib/skiff';

/** rkt's --insecure-options values that Skiff honours. */
export const INSECURE_OPTIONS = ['none', 'http', 'tls', 'image', 'all-fetch', 'all'] as const;
export type InsecureOption = 'http' | 'tls' | 'image';

export type OutputFormat = 'text' | 'json';

export interface GlobalOptions {
  dir: string;
  debug: boolean;
  insecureOptions: ReadonlySet<InsecureOption>;
  format: OutputFormat;
}

export function parseInsecureOptions(value: string): ReadonlySet<InsecureOption> {
  const out = new Set<InsecureOption>();
  for (const raw of value.split(',')) {
    const item = raw.trim();
    switch (item) {
      case 'none':
        break;
      case 'http':
      case 'tls':
      case 'image':
        out.add(item);
        break;
      case 'all-fetch':
      case 'all':
        out.add('http').add('tls').add('image');
        break;
      default:
        throw new InvalidArgumentError(`'${item}' is not one of ${INSECURE_OPTIONS.join(', ')}`);
    }
  }
  return out;
}

export function globalOptionList(): Option[] {
  return [
    new Option('--dir <path>', 'where images and pods are kept').default(DEFAULT_DIR).env('SKIFF_DIR'),
    new Option('--debug', 'print debug output and full stacks on errors').default(false),
    new Option('--insecure-options <list>', `relax security checks: ${INSECURE_OPTIONS.join(',')}`)
      .argParser(parseInsecureOptions)
      .default(new Set<InsecureOption>(), 'none'),
    new Option('--format <format>', 'output format of commands that print data')
      .choices(['text', 'json'])
      .default('text'),
  ];
}

/** Reads the global options of a parsed command, with their types. */
export function globalOptionsOf(opts: Record<string, unknown>): GlobalOptions {
  return {
    dir: opts['dir'] as string,
    debug: opts['debug'] === true,
    insecureOptions: opts['insecureOptions'] as ReadonlySet<InsecureOption>,
    format: opts['format'] as OutputFormat,
  };
}

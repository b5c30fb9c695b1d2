/**
 * The flags every command accepts (rkt's global flags, trimmed to what Skiff
 * has): where the store and pods live, debug output, which security checks
 * to relax, and the output format of commands that print data. No commander
 * here: the fast path for `run` (fast-path.ts) reads these without it.
 */
import { UsageError } from '../errors.js';

export const DEFAULT_DIR = '/var/lib/skiff';

/** rkt's --insecure-options values that Skiff honours. */
export const INSECURE_OPTIONS = ['none', 'http', 'tls', 'image', 'seccomp', 'paths', 'all-fetch', 'all-run', 'all'] as const;
/**
 * seccomp: no seccomp filter for the apps of a pod made by run or prepare; paths: no masked and no
 * read-only /proc and /sys paths (run, prepare, run-prepared).
 */
export type InsecureOption = 'http' | 'tls' | 'image' | 'seccomp' | 'paths';
/** The options of the run path, not the fetch's. */
export const RUN_INSECURE_OPTIONS = ['seccomp', 'paths'] as const;

export type OutputFormat = 'text' | 'json';

export interface GlobalOptions {
  dir: string;
  /** rkt's --local-config: the host's own settings (net.d/ network definitions). */
  localConfig: string;
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
      case 'seccomp':
      case 'paths':
        out.add(item);
        break;
      case 'all-fetch':
        out.add('http').add('tls').add('image');
        break;
      case 'all-run':
        out.add('seccomp').add('paths');
        break;
      case 'all':
        out.add('http').add('tls').add('image').add('seccomp').add('paths');
        break;
      default:
        throw new UsageError(`'${item}' is not one of ${INSECURE_OPTIONS.join(', ')}`, { input: value });
    }
  }
  return out;
}

/** Reads the global options of a parsed command, with their types. */
export function globalOptionsOf(opts: Record<string, unknown>): GlobalOptions {
  return {
    dir: opts['dir'] as string,
    localConfig: opts['localConfig'] as string,
    debug: opts['debug'] === true,
    insecureOptions: opts['insecureOptions'] as ReadonlySet<InsecureOption>,
    format: opts['format'] as OutputFormat,
  };
}

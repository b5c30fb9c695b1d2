/**
 * `skiff run` without commander. Start-up is most of a pod's start time
 * (bench/start: Node alone is ~70 ms here), and the pod commands parse their
 * own rkt-style arguments anyway (pod-args.ts), so for them the CLI reads the
 * global flags itself and skips loading commander (~20 ms).
 *
 * It takes only the unambiguous shape: global flags before the command, no
 * global flag or --help after it. Anything else goes through the full command
 * tree, which gives the same result or the usual usage error.
 */
import { DEFAULT_DIR, parseInsecureOptions, type GlobalOptions, type InsecureOption } from './global-options.js';
import { UsageError } from '../errors.js';
import { DEFAULT_LOCAL_CONFIG, LOCAL_CONFIG_ENV } from '../local-config.js';

export const FAST_COMMANDS = ['run', 'prepare', 'run-prepared'] as const;
export type FastCommand = (typeof FAST_COMMANDS)[number];

const GLOBAL_WITH_VALUE = ['--dir', '--local-config', '--insecure-options', '--format'];
const GLOBAL_FLAGS = [...GLOBAL_WITH_VALUE, '--debug'];

export interface FastPath {
  command: FastCommand;
  global: GlobalOptions;
  args: string[];
}

/** The global flags before the command, read as the full parser would; undefined for any other shape. */
export function leadingGlobals(argv: string[], env: NodeJS.ProcessEnv = process.env): { global: GlobalOptions; rest: string[] } | undefined {
  const values = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i] as string;
    if (!token.startsWith('--')) break;
    const eq = token.indexOf('=');
    const name = eq < 0 ? token : token.slice(0, eq);
    if (!GLOBAL_FLAGS.includes(name)) return undefined;
    if (name === '--debug') {
      if (eq >= 0) return undefined;
      values.set(name, 'true');
    } else if (eq >= 0) values.set(name, token.slice(eq + 1));
    else {
      const value = argv[++i];
      if (value === undefined) return undefined;
      values.set(name, value);
    }
  }
  const format = values.get('--format') ?? 'text';
  if (format !== 'text' && format !== 'json') return undefined;
  let insecureOptions: ReadonlySet<InsecureOption>;
  try {
    insecureOptions = parseInsecureOptions(values.get('--insecure-options') ?? 'none');
  } catch (err) {
    if (err instanceof UsageError) return undefined;
    throw err;
  }
  return {
    rest: argv.slice(i),
    global: {
      dir: values.get('--dir') ?? env['SKIFF_DIR'] ?? DEFAULT_DIR,
      localConfig: values.get('--local-config') ?? env[LOCAL_CONFIG_ENV] ?? DEFAULT_LOCAL_CONFIG,
      debug: values.has('--debug'),
      insecureOptions,
      format,
    },
  };
}

/** true when a token (before any `--`) is a global flag or asks for help: such shapes go to the full parser. */
export function namesGlobalOrHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  const flagged = end < 0 ? args : args.slice(0, end);
  return flagged.some((a) => a === '--help' || a === '-h' || GLOBAL_FLAGS.includes(a.split('=')[0] as string));
}

export function matchFastPath(argv: string[], env: NodeJS.ProcessEnv = process.env): FastPath | undefined {
  const lead = leadingGlobals(argv, env);
  if (lead === undefined) return undefined;
  const [command, ...args] = lead.rest as [FastCommand | undefined, ...string[]];
  if (command === undefined || !FAST_COMMANDS.includes(command)) return undefined;
  if (namesGlobalOrHelp(args)) return undefined;
  return { command, args, global: lead.global };
}

/**
 * rkt's command line for pods, which commander cannot express:
 *
 *   skiff run [pod flags] IMAGE [app flags] [-- ARGS...] [--- IMAGE2 [app flags] [-- ARGS...]]...
 *
 * Pod flags come before the first image; app flags follow the image they
 * apply to; `--` starts that app's arguments, which run until `---` (the next
 * app) or the end. Flags are `--name=value` or `--name value`; booleans may be
 * given bare or as `--name=true|false`.
 */
import { UsageError } from '../errors.js';

export interface FlagSpec {
  /** Takes a value (else boolean). */
  value: boolean;
  /** May be given more than once (values accumulate). */
  repeat?: boolean;
}

export const POD_FLAGS: Record<string, FlagSpec> = {
  net: { value: true },
  hostname: { value: true },
  dns: { value: true, repeat: true },
  'hosts-entry': { value: true, repeat: true },
  volume: { value: true, repeat: true },
  interactive: { value: false },
  'set-env': { value: true, repeat: true },
  'set-env-file': { value: true, repeat: true },
  'inherit-env': { value: false },
  'pull-policy': { value: true },
  'no-overlay': { value: false },
  platform: { value: true },
  quiet: { value: false },
  'uuid-file-save': { value: true },
};

export const APP_FLAGS: Record<string, FlagSpec> = {
  exec: { value: true },
  name: { value: true },
  user: { value: true },
  group: { value: true },
  'supplementary-gids': { value: true },
  'working-dir': { value: true },
  environment: { value: true, repeat: true },
  mount: { value: true, repeat: true },
  'readonly-rootfs': { value: false },
  memory: { value: true },
  cpu: { value: true },
  'cpu-shares': { value: true },
  'pids-limit': { value: true },
  'caps-retain': { value: true },
  'caps-remove': { value: true },
};

export type FlagValues = Map<string, string[]>;

export interface AppArgs {
  image: string;
  flags: FlagValues;
  args: string[] | undefined;
}

export interface PodArgs {
  pod: FlagValues;
  apps: AppArgs[];
}

function takeFlag(argv: string[], i: number, specs: Record<string, FlagSpec>, into: FlagValues, where: string): number {
  const token = argv[i] as string;
  const eq = token.indexOf('=');
  const name = token.slice(2, eq < 0 ? undefined : eq);
  const spec = specs[name];
  if (spec === undefined) {
    throw new UsageError(`unknown ${where} flag '--${name}'`, {
      input: token,
      hint: `${where} flags are: ${Object.keys(specs).map((f) => `--${f}`).join(' ')}`,
    });
  }
  let value: string;
  let used = 1;
  if (eq >= 0) value = token.slice(eq + 1);
  else if (!spec.value) value = 'true';
  else {
    const next = argv[i + 1];
    if (next === undefined || next === '--' || next === '---') {
      throw new UsageError(`flag '--${name}' needs a value`, { input: token });
    }
    value = next;
    used = 2;
  }
  if (!spec.value && value !== 'true' && value !== 'false') {
    throw new UsageError(`flag '--${name}' is true or false, not "${value}"`, { input: token });
  }
  if (!spec.repeat && into.has(name)) throw new UsageError(`flag '--${name}' is given twice`, { input: token });
  into.set(name, [...(into.get(name) ?? []), value]);
  return used;
}

export function parsePodArgs(argv: string[], podFlags: Record<string, FlagSpec> = POD_FLAGS): PodArgs {
  const pod: FlagValues = new Map();
  const apps: AppArgs[] = [];
  let i = 0;
  while (i < argv.length && (argv[i] as string).startsWith('--') && argv[i] !== '--' && argv[i] !== '---') {
    i += takeFlag(argv, i, podFlags, pod, 'pod');
  }
  while (i < argv.length) {
    const image = argv[i] as string;
    if (image.startsWith('-')) throw new UsageError(`expected an image, got '${image}'`, { input: image });
    i++;
    const app: AppArgs = { image, flags: new Map(), args: undefined };
    while (i < argv.length && argv[i] !== '---') {
      const token = argv[i] as string;
      if (token === '--') {
        const end = argv.indexOf('---', i + 1);
        app.args = argv.slice(i + 1, end < 0 ? undefined : end);
        i = end < 0 ? argv.length : end;
        break;
      }
      if (!token.startsWith('--')) {
        throw new UsageError(`unexpected '${token}' after image ${image}`, {
          input: token,
          hint: "put the app's arguments after --, and start another app with ---",
        });
      }
      i += takeFlag(argv, i, APP_FLAGS, app.flags, 'app');
    }
    if (argv[i] === '---') i++;
    apps.push(app);
  }
  if (apps.length === 0) throw new UsageError('no image given', { hint: 'skiff run [pod flags] IMAGE [app flags] [-- ARGS]' });
  return { pod, apps };
}

/** Flags anywhere, the rest as operands (for commands like run-prepared UUID). */
export function parseFlagsAndOperands(argv: string[], specs: Record<string, FlagSpec>): { flags: FlagValues; operands: string[] } {
  const flags: FlagValues = new Map();
  const operands: string[] = [];
  for (let i = 0; i < argv.length; ) {
    const token = argv[i] as string;
    if (token.startsWith('--') && token !== '--') i += takeFlag(argv, i, specs, flags, 'pod');
    else {
      if (token !== '--') operands.push(token);
      i++;
    }
  }
  return { flags, operands };
}

export function single(flags: FlagValues, name: string): string | undefined {
  return flags.get(name)?.at(-1);
}

export function bool(flags: FlagValues, name: string): boolean {
  return single(flags, name) === 'true';
}

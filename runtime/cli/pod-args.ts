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
  /** A boolean that may also take `=VALUE` (bare: 'true'), as `--private-users[=SHIFT:COUNT]`. */
  optionalValue?: boolean;
  /** For `skiff help run`: the value's form and what it does. */
  help?: string;
}

export const POD_FLAGS: Record<string, FlagSpec> = {
  net: { value: true, help: 'default (the default, or $SKIFF_NET), none (loopback only), host, or NAME[:IP=ADDR],...: networks of net.d/ under --local-config' },
  hostname: { value: true, help: 'NAME: the pod hostname, RFC 1123, at most 64 characters (default skiff-<uuid8>)' },
  dns: { value: true, repeat: true, help: "IP (a nameserver for a generated /etc/resolv.conf; repeatable), host (the host's file) or none (the image's own, the default)" },
  'dns-search': { value: true, repeat: true, help: 'DOMAIN: a search domain for the generated /etc/resolv.conf (repeatable)' },
  'dns-opt': { value: true, repeat: true, help: 'OPT: a resolv.conf option, e.g. ndots:2 (repeatable)' },
  'dns-domain': { value: true, help: 'DOMAIN: the local domain for the generated /etc/resolv.conf' },
  'hosts-entry': { value: true, repeat: true, help: 'IP=HOSTNAME: a line for /etc/hosts, one RFC 1123 name (repeatable)' },
  volume: { value: true, repeat: true, help: 'NAME,kind=host|empty,source=PATH,readOnly=true|false (repeatable)' },
  port: { value: true, repeat: true, help: 'NAME:[HOSTIP:]HOSTPORT (an image port, named PORT-PROTO: 8080-tcp) or HOSTPORT:PODPORT[/tcp|udp]: forward a host port to the pod (repeatable)' },
  interactive: { value: false, help: 'keep stdin and the terminal (one app only)' },
  'set-env': { value: true, repeat: true, help: 'K=V for every app (repeatable)' },
  'set-env-file': { value: true, repeat: true, help: 'FILE of K=V lines for every app (repeatable)' },
  'inherit-env': { value: false, help: 'pass skiff\'s own environment to the apps' },
  'pull-policy': { value: true, help: 'new (default)|update|never' },
  'no-overlay': { value: false, help: 'run on a rendered copy of the image instead of an overlay' },
  'private-users': { value: false, optionalValue: true, help: '[=SHIFT:COUNT]: pod ids 0.. are host ids SHIFT.. (bare: a free range of 65536, picked per pod)' },
  platform: { value: true, help: 'OS/ARCH[/VARIANT] to pick from a multi-platform image' },
  quiet: { value: false, help: 'no fetch progress' },
  'uuid-file-save': { value: true, help: 'FILE: write the pod\'s UUID there' },
  'sd-notify': { value: true, help: 'pod (default: Skiff tells a Type=notify unit READY=1 once every app started) or app (the apps get NOTIFY_SOCKET and say READY=1, STATUS=, WATCHDOG=1 themselves)' },
  'cgroup-parent': { value: true, help: 'PATH: the pod\'s cgroup is PATH/<uuid> in each hierarchy (from its root; default: the systemd unit that started skiff, else /skiff)' },
};

/** The pod flags `run-prepared` takes (rkt: the runtime-only ones). */
export const RUN_PREPARED_FLAGS: Record<string, FlagSpec> = Object.fromEntries(
  ['net', 'hostname', 'dns', 'dns-search', 'dns-opt', 'dns-domain', 'hosts-entry', 'interactive'].map((f) => [f, POD_FLAGS[f] as FlagSpec]),
);

export const APP_FLAGS: Record<string, FlagSpec> = {
  exec: { value: true, help: 'PATH: the program to run instead of the image entrypoint and cmd' },
  name: { value: true, help: 'NAME: the app name (default from the image name)' },
  user: { value: true, help: 'NAME|UID[:GROUP]: from the image\'s /etc/passwd' },
  group: { value: true, help: 'NAME|GID: from the image\'s /etc/group' },
  'supplementary-gids': { value: true, help: 'GID,GID,...: more groups' },
  'working-dir': { value: true, help: 'PATH: the working directory' },
  environment: { value: true, repeat: true, help: 'K=V for this app (repeatable)' },
  mount: { value: true, repeat: true, help: 'volume=NAME,target=PATH (repeatable; not /, /sys, /dev or in /proc)' },
  'readonly-rootfs': { value: false, help: 'make this app\'s root read-only' },
  memory: { value: true, help: 'SIZE: memory limit, e.g. 64M or 512Mi (at least 4Mi)' },
  cpu: { value: true, help: 'AMOUNT: CPU quota, e.g. 500m or 1.5 (at least 10m)' },
  'cpu-shares': { value: true, help: 'N: relative CPU weight (2-262144)' },
  'pids-limit': { value: true, help: 'N: most processes and threads, the pod\'s init included (at least 2)' },
  'caps-retain': { value: true, help: 'CAP,CAP,...: exactly these capabilities' },
  'caps-remove': { value: true, help: 'CAP,CAP,...: Docker\'s default 14 less these' },
  seccomp: { value: true, help: 'mode=retain|remove[,errno=ENAME],SYSCALL,...: this app\'s filter instead of the default' },
};

export type FlagValues = Map<string, string[]>;

/** The flag table as help text. */
export function describeFlags(specs: Record<string, FlagSpec>): string {
  return Object.entries(specs)
    .map(([name, spec]) => `  --${name.padEnd(20)} ${spec.help ?? ''}`)
    .join('\n');
}

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
  if (!spec.value && spec.optionalValue !== true && value !== 'true' && value !== 'false') {
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

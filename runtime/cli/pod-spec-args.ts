/**
 * The pod command line (pod-args.ts) as the pods library's PodSpec: the one
 * place where flag values are converted and checked. Every bad value is a
 * UsageError naming the flag and the value (exit 2), thrown before anything
 * is fetched or created; checkPodSpec adds the checks that span flags (a
 * volume given twice, a mount of no volume, --interactive with two apps).
 * What only the image can tell is checked by the library (build-apps.ts).
 */
import { parsePlatform } from '../../image/platform.js';
import type { PullPolicy } from '../../image/pull.js';
import { UsageError } from '../errors.js';
import { checkUserFlag, MAX_ID } from '../pods/app-user.js';
import { absoluteWorkingDir, mergeEnv } from '../pods/build-apps.js';
import { parseCapList } from '../pods/capabilities.js';
import { checkDnsDomain, checkDnsOption, checkHostname, DNS_MODES, parseDnsServers, parseHostsEntry } from '../pods/host-names.js';
import type { AppLimits } from '../pods/pod-manifest.js';
import { checkCgroupParent } from '../pods/pod-cgroup.js';
import { checkPodSpec, defaultRuntime, type AppSpec, type PodRuntime, type PodSpec } from '../pods/pod-spec.js';
import { parseCpuMillis, parseMemory, parsePidsLimit, parsePositiveInt } from '../pods/quantities.js';
import { MAX_CPU_SHARES, MIN_CPU_SHARES } from '../cgroups/index.js';
import { seccompSetting } from '../pods/seccomp-option.js';
import { parsePrivateUsers } from '../pods/private-users.js';
import { NAME, parseMount, parseVolume } from '../pods/volumes.js';
import { bool, single, type AppArgs, type FlagValues, type PodArgs } from './pod-args.js';
import { parseNetArg } from '../../network/pod-networks.js';
import { parsePortArg } from '../../network/port-forward.js';

/** A `run` or `prepare` command line: the pod's spec, and what only the command uses. */
export interface PodCommandLine {
  spec: PodSpec;
  /** --quiet: no fetch progress. */
  quiet: boolean;
  /** --uuid-file-save FILE: where to write the pod's UUID. */
  uuidFileSave: string | undefined;
}

/** `--net`, `--hostname`, `--dns*`, `--hosts-entry`, `--interactive`: only those given (run-prepared overrides the manifest with them). */
export function runtimeFromFlags(flags: FlagValues): Partial<PodRuntime> {
  const out: Partial<PodRuntime> = {};
  const net = single(flags, 'net');
  if (net !== undefined) out.net = checkNet(net);
  const hostname = single(flags, 'hostname');
  if (hostname !== undefined) out.hostname = checkHostname(hostname);
  if (DNS_FLAGS.some((f) => flags.has(f))) Object.assign(out, dnsFromFlags(flags));
  if (flags.has('hosts-entry')) out.hostsEntries = (flags.get('hosts-entry') ?? []).map((e) => parseHostsEntry(e));
  if (flags.has('interactive')) out.interactive = bool(flags, 'interactive');
  return out;
}

const DNS_FLAGS = ['dns', 'dns-search', 'dns-opt', 'dns-domain'] as const;

/**
 * The `--dns*` flags as one setting: given together they replace the pod's whole resolver setting
 * (run-prepared too), so a prepared pod's search domains never meet a later `--dns=host`.
 */
function dnsFromFlags(flags: FlagValues): Pick<PodRuntime, 'dns' | 'dnsSearch' | 'dnsOpts' | 'dnsDomain'> {
  const dns = parseDnsServers(flags.get('dns') ?? []);
  const dnsSearch = (flags.get('dns-search') ?? []).map((d) => checkDnsDomain(d, '--dns-search'));
  const dnsOpts = (flags.get('dns-opt') ?? []).map((o) => checkDnsOption(o));
  const domain = single(flags, 'dns-domain');
  const dnsDomain = domain === undefined ? undefined : checkDnsDomain(domain, '--dns-domain');
  const mode = (DNS_MODES as readonly string[]).find((m) => dns.includes(m));
  const written = [...(dnsSearch.length > 0 ? ['--dns-search'] : []), ...(dnsOpts.length > 0 ? ['--dns-opt'] : []), ...(dnsDomain !== undefined ? ['--dns-domain'] : [])];
  if (mode !== undefined && written.length > 0) {
    throw new UsageError(`--dns=${mode} keeps a resolv.conf Skiff does not write: ${written.join(', ')} cannot go with it`, {
      input: `--dns=${mode}`,
      hint: 'give nameserver addresses with --dns=IP instead, or drop the other --dns-* flags',
    });
  }
  return { dns, dnsSearch, dnsOpts, dnsDomain };
}

function limitsFromFlags(flags: FlagValues): AppLimits {
  // In the manifest's key order (memory, cpu, shares, pids): the manifest text is what run plans record.
  const limits: AppLimits = {};
  const memory = single(flags, 'memory');
  if (memory !== undefined) limits.memoryBytes = parseMemory(memory);
  const cpu = single(flags, 'cpu');
  if (cpu !== undefined) limits.cpuMillis = parseCpuMillis(cpu);
  const shares = single(flags, 'cpu-shares');
  if (shares !== undefined) limits.cpuShares = parsePositiveInt(shares, '--cpu-shares', [MIN_CPU_SHARES, MAX_CPU_SHARES]);
  const pids = single(flags, 'pids-limit');
  if (pids !== undefined) limits.pidsMax = parsePidsLimit(pids);
  return limits;
}

function workingDirFlag(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  if (!dir.startsWith('/')) {
    throw new UsageError(`--working-dir "${dir}" is not an absolute path`, { input: dir, hint: 'write e.g. --working-dir /srv' });
  }
  return absoluteWorkingDir(dir);
}

/** What the command line's global options add to a pod's spec. */
export interface PodGlobals {
  /** `--insecure-options=seccomp`: no filter for any app. */
  insecureSeccomp?: boolean;
  /** `--insecure-options=paths`: no masked or read-only /proc and /sys paths. */
  insecurePaths?: boolean;
  /** The --net of a pod that gives none: $SKIFF_NET, else `default` (rkt's). */
  defaultNet?: string;
}

/** `--sd-notify`: who tells systemd the pod is ready (native/stage1/sd-notify.c). */
function sdNotifyFlag(value: string | undefined): 'pod' | 'app' {
  if (value === undefined || value === 'pod' || value === 'app') return value ?? 'pod';
  throw new UsageError(`--sd-notify "${value}" is not pod or app`, { input: value, hint: 'write --sd-notify=app to let the apps say READY=1 themselves' });
}

/** --net in rkt's syntax, checked here (names against the definitions when the pod starts). */
function checkNet(value: string): string {
  parseNetArg(value);
  return value;
}

export function appSpecFromArgs(app: AppArgs, globals: PodGlobals = {}): AppSpec {
  const flags = app.flags;
  const name = single(flags, 'name');
  if (name !== undefined && !NAME.test(name)) {
    throw new UsageError(`app name "${name}" must be lowercase letters, digits, '-' and '.', at most 255 of them`, { input: name });
  }
  const exec = single(flags, 'exec');
  if (exec === '') throw new UsageError('--exec "" names no program', { input: exec, hint: 'give the path of the program to run' });
  const user = single(flags, 'user');
  const group = single(flags, 'group');
  const environment = flags.get('environment') ?? [];
  mergeEnv(environment);
  const retain = single(flags, 'caps-retain');
  const remove = single(flags, 'caps-remove');
  return {
    image: app.image,
    name,
    exec,
    args: app.args,
    user: user === undefined ? undefined : checkUserFlag(user, '--user'),
    group: group === undefined ? undefined : checkUserFlag(group, '--group'),
    supplementaryGids: (single(flags, 'supplementary-gids') ?? '')
      .split(',')
      .filter(Boolean)
      .map((g) => parsePositiveInt(g, '--supplementary-gids', [0, MAX_ID])),
    workingDir: workingDirFlag(single(flags, 'working-dir')),
    environment,
    mounts: (flags.get('mount') ?? []).map(parseMount),
    readonlyRootfs: bool(flags, 'readonly-rootfs'),
    limits: limitsFromFlags(flags),
    capsRetain: retain === undefined ? undefined : parseCapList(retain),
    capsRemove: remove === undefined ? undefined : parseCapList(remove),
    seccomp: seccompSetting(single(flags, 'seccomp'), globals.insecureSeccomp === true),
  };
}

/** `--private-users[=SHIFT:COUNT]`; =false, or no flag: nothing in the spec. */
function privateUsersFromFlags(flags: FlagValues): Pick<PodSpec, 'privateUsers'> {
  const users = parsePrivateUsers(single(flags, 'private-users'));
  return users === undefined ? {} : { privateUsers: users };
}

export function podCommandLine(args: PodArgs, globals: PodGlobals = {}): PodCommandLine {
  const pod = args.pod;
  const policy = (single(pod, 'pull-policy') ?? 'new') as PullPolicy;
  if (!['new', 'update', 'never'].includes(policy)) {
    throw new UsageError(`--pull-policy "${policy}" is not new, update or never`, { input: policy });
  }
  const platform = single(pod, 'platform');
  const cgroupParent = single(pod, 'cgroup-parent');
  const set = pod.get('set-env') ?? [];
  mergeEnv(set);
  const spec: PodSpec = {
    apps: args.apps.map((app) => appSpecFromArgs(app, globals)),
    volumes: (pod.get('volume') ?? []).map(parseVolume),
    runtime: {
      ...defaultRuntime(),
      ...(globals.defaultNet === undefined ? {} : { net: checkNet(globals.defaultNet) }),
      ...runtimeFromFlags(pod),
      ...(globals.insecurePaths === true ? { insecurePaths: true } : {}),
      ...(cgroupParent === undefined ? {} : { cgroupParent: checkCgroupParent(cgroupParent) }),
      ...(sdNotifyFlag(single(pod, 'sd-notify')) === 'app' ? { sdNotify: 'app' as const } : {}),
    },
    env: { files: pod.get('set-env-file') ?? [], set, inherit: bool(pod, 'inherit-env') },
    noOverlay: bool(pod, 'no-overlay'),
    pull: { policy, ...(platform === undefined ? {} : { platform: parsePlatform(platform) }) },
    ...(pod.has('port') ? { ports: (pod.get('port') ?? []).map(parsePortArg) } : {}),
    ...privateUsersFromFlags(pod),
  };
  checkPodSpec(spec);
  return { spec, quiet: bool(pod, 'quiet'), uuidFileSave: single(pod, 'uuid-file-save') };
}

/**
 * From the command line and the images to the apps of a pod: what each runs
 * (exec and args), as whom, with which environment, capabilities, mounts and
 * limits. Docker's and rkt's rules, in one place:
 *   argv   = --exec + args, else image Entrypoint + (args or image Cmd)
 *   env    = image Env < host env (--inherit-env) < --set-env(-file) < --environment
 *   user   = --user/--group, else the image's User, names from the image's files
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { StoredImage } from '../../image/store/stored-image.js';
import { MAX_CPU_SHARES, MIN_CPU_SHARES } from '../cgroups/index.js';
import { UsageError } from '../errors.js';
import { bool, single, type AppArgs, type FlagValues } from '../cli/pod-args.js';
import { resolveAppUser } from './app-user.js';
import { ambientCapsFor, resolveCaps } from './capabilities.js';
import { readImageFile } from './image-files.js';
import type { AppManifest, VolumeManifest } from './pod-manifest.js';
import { parseCpuMillis, parseMemory, parsePositiveInt } from './quantities.js';
import { seccompSetting } from './seccomp-option.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const APP_NAME = /^[a-z0-9]+(?:[-.][a-z0-9]+)*$/;

/** `KEY=VALUE` entries merged in order: a later key replaces an earlier one. */
export function mergeEnv(...layers: string[][]): string[] {
  const map = new Map<string, string>();
  for (const layer of layers) {
    for (const entry of layer) {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new UsageError(`environment entry "${entry}" is not KEY=VALUE`, { input: entry });
      map.set(entry.slice(0, eq), entry);
    }
  }
  return [...map.values()];
}

export function readEnvFile(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function parseKeyValues(text: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} part "${part}" is not key=value`, { input: text });
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** `--volume NAME,kind=host|empty,source=PATH,readOnly=true|false` */
export function parseVolume(text: string): VolumeManifest {
  const [name, ...rest] = text.split(',');
  if (name === undefined || !APP_NAME.test(name)) {
    throw new UsageError(`--volume "${text}" does not start with a volume name`, { input: text, hint: 'write NAME,kind=host,source=/path' });
  }
  const kv = rest.length === 0 ? new Map<string, string>() : parseKeyValues(rest.join(','), '--volume');
  const kind = kv.get('kind') ?? 'host';
  if (kind !== 'host' && kind !== 'empty') throw new UsageError(`--volume kind "${kind}" is not host or empty`, { input: text });
  const source = kv.get('source') ?? '';
  if (kind === 'host' && !source.startsWith('/')) {
    throw new UsageError(`--volume ${name} of kind host needs an absolute source=`, { input: text });
  }
  const ro = kv.get('readOnly') ?? kv.get('readonly') ?? 'false';
  if (ro !== 'true' && ro !== 'false') throw new UsageError(`--volume readOnly must be true or false`, { input: text });
  return { name, kind, source, readOnly: ro === 'true' };
}

function parseMount(text: string, volumes: VolumeManifest[]): { volume: string; target: string } {
  const kv = parseKeyValues(text, '--mount');
  const volume = kv.get('volume');
  const target = kv.get('target');
  if (volume === undefined || target === undefined || !target.startsWith('/')) {
    throw new UsageError(`--mount "${text}" needs volume=NAME,target=/absolute/path`, { input: text });
  }
  if (!volumes.some((v) => v.name === volume)) {
    throw new UsageError(`--mount names volume "${volume}", which no --volume defines`, { input: text });
  }
  return { volume, target };
}

export interface BuildAppsInput {
  apps: Array<{ args: AppArgs; image: StoredImage }>;
  pod: FlagValues;
  volumes: VolumeManifest[];
  hostEnv: NodeJS.ProcessEnv;
  /** `--insecure-options=seccomp`: no filter for any app. */
  insecureSeccomp?: boolean;
}

export function buildApps(input: BuildAppsInput): AppManifest[] {
  const podEnv = [
    ...(input.pod.get('set-env-file') ?? []).flatMap(readEnvFile),
    ...(input.pod.get('set-env') ?? []),
  ];
  const inherited = bool(input.pod, 'inherit-env')
    ? Object.entries(input.hostEnv).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`)
    : [];
  const names = new Set<string>();
  return input.apps.map(({ args, image }, index) => {
    const flags = args.flags;
    const run = image.config.config;
    const where = image.record.names[0] ?? image.record.id;
    const name = single(flags, 'name') ?? defaultAppName(where, index);
    if (!APP_NAME.test(name)) throw new UsageError(`app name "${name}" must be lowercase letters, digits, '-' and '.'`, { input: name });
    if (names.has(name)) throw new UsageError(`two apps are named "${name}"`, { input: name, hint: 'give one of them --name' });
    names.add(name);

    const exec = single(flags, 'exec');
    const argv = exec !== undefined ? [exec, ...(args.args ?? [])] : [...(run.entrypoint ?? []), ...(args.args ?? run.cmd ?? [])];
    if (argv.length === 0) {
      throw new UsageError(`image ${where} names no command to run`, { input: where, hint: 'give one with --exec' });
    }
    const user = resolveAppUser(
      {
        user: single(flags, 'user') ?? run.user,
        group: single(flags, 'group'),
        supplementaryGids: (single(flags, 'supplementary-gids') ?? '')
          .split(',')
          .filter(Boolean)
          .map((g) => parsePositiveInt(g, '--supplementary-gids', [0, 4294967294])),
      },
      { passwd: readImageFile(image.layerDirs, 'etc/passwd'), group: readImageFile(image.layerDirs, 'etc/group') },
      where,
    );
    const env = mergeEnv([DEFAULT_PATH], run.env, inherited, podEnv, flags.get('environment') ?? []);
    const withHome = env.some((e) => e.startsWith('HOME=')) ? env : [...env, `HOME=${user.home}`];
    const caps = resolveCaps(single(flags, 'caps-retain'), single(flags, 'caps-remove'));
    const limits: AppManifest['limits'] = {};
    const memory = single(flags, 'memory');
    if (memory !== undefined) limits.memoryBytes = parseMemory(memory);
    const cpu = single(flags, 'cpu');
    if (cpu !== undefined) limits.cpuMillis = parseCpuMillis(cpu);
    const shares = single(flags, 'cpu-shares');
    if (shares !== undefined) limits.cpuShares = parsePositiveInt(shares, '--cpu-shares', [MIN_CPU_SHARES, MAX_CPU_SHARES]);
    const seccomp = seccompSetting(single(flags, 'seccomp'), input.insecureSeccomp === true);
    const pids = single(flags, 'pids-limit');
    if (pids !== undefined) limits.pidsMax = parsePositiveInt(pids, '--pids-limit');
    return {
      name,
      image: { id: image.record.id, name: where },
      layers: image.layerDirs,
      exec: argv,
      env: withHome,
      workingDir: single(flags, 'working-dir') ?? run.workingDir ?? '/',
      uid: user.uid,
      gid: user.gid,
      supplementaryGids: user.supplementaryGids,
      caps,
      ambientCaps: ambientCapsFor(user.uid, single(flags, 'caps-retain'), caps),
      noNewPrivs: true,
      ...(seccomp === undefined ? {} : { seccomp }),
      readonlyRootfs: bool(flags, 'readonly-rootfs'),
      mounts: (flags.get('mount') ?? []).map((m) => parseMount(m, input.volumes)),
      limits,
    };
  });
}

/** rkt names an app after its image: `127.0.0.1:5000/skiff/probe:oci` → `probe`. */
export function defaultAppName(image: string, index: number): string {
  const repo = basename(image.replace(/[:@][^/]*$/, '')).toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return repo === '' ? `app${index}` : repo;
}

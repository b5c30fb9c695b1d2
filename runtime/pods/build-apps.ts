/**
 * From the spec and the images to the apps of a pod: what each runs
 * (exec and args), as whom, with which environment, capabilities, mounts and
 * limits. Docker's and rkt's rules, in one place:
 *   argv   = exec + args, else image Entrypoint + (args or image Cmd);
 *            an Entrypoint of [""] is none (Docker)
 *   env    = image Env < host env (inherit) < pod env (files, set) < app environment
 *   user   = user/group, else the image's User, names from the image's files
 *   cwd    = workingDir, else the image's WorkingDir, taken from `/` when relative (Docker)
 * What the image brings is checked here, before the pod's cgroup exists (an
 * image without layers, ids out of range): stage1's config check stays the
 * last guard, not the first.
 */
import { readFileSync } from 'node:fs';
import { basename, posix } from 'node:path';
import type { StoredImage } from '../../image/store/stored-image.js';
import { ImageError, UsageError } from '../errors.js';
import { resolveAppUser } from './app-user.js';
import { ambientCapsFor, resolveCaps } from './capabilities.js';
import { readImageFile } from './image-files.js';
import type { AppManifest } from './pod-manifest.js';
import type { AppSpec, PodSpec } from './pod-spec.js';
import { NAME as APP_NAME } from './volumes.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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

export interface BuildAppsInput {
  apps: Array<{ spec: AppSpec; image: StoredImage }>;
  env: PodSpec['env'];
  hostEnv: NodeJS.ProcessEnv;
  /** `--insecure-options=seccomp`: no filter for any app. */
  insecureSeccomp?: boolean;
}

/** A working dir as stage1 takes it: absolute (Docker takes an image's relative WorkingDir from `/`), normalised; none: `/`. */
export function absoluteWorkingDir(dir: string | undefined): string {
  if (dir === undefined || dir === '') return '/';
  return posix.normalize(`/${dir}`).replace(/(.)\/+$/, '$1');
}

/** The image's Entrypoint; `[""]` is none, as Docker has it (a base image's entrypoint reset). */
function imageEntrypoint(entrypoint: string[] | undefined): string[] {
  return entrypoint === undefined || (entrypoint.length === 1 && entrypoint[0] === '') ? [] : entrypoint;
}

export function buildApps(input: BuildAppsInput): AppManifest[] {
  const podEnv = [...input.env.files.flatMap(readEnvFile), ...input.env.set];
  const inherited = input.env.inherit
    ? Object.entries(input.hostEnv).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`)
    : [];
  const names = new Set<string>();
  return input.apps.map(({ spec, image }, index) => {
    const run = image.config.config;
    const where = image.record.names[0] ?? image.record.id;
    if (image.layerDirs.length === 0) {
      throw new ImageError(`image ${where} has no layers: it holds no root filesystem to run`, {
        input: where,
        hint: 'run an image with at least one layer',
      });
    }
    const name = spec.name ?? defaultAppName(where, index);
    if (!APP_NAME.test(name)) throw new UsageError(`app name "${name}" must be lowercase letters, digits, '-' and '.', at most 255 of them`, { input: name });
    if (names.has(name)) throw new UsageError(`two apps are named "${name}"`, { input: name, hint: 'give one of them --name' });
    names.add(name);

    const argv = spec.exec !== undefined
      ? [spec.exec, ...(spec.args ?? [])]
      : [...imageEntrypoint(run.entrypoint), ...(spec.args ?? run.cmd ?? [])];
    if (argv.length === 0 || argv[0] === '') {
      throw new UsageError(`image ${where} names no command to run`, { input: where, hint: 'give one with --exec' });
    }
    const user = resolveAppUser(
      { user: spec.user ?? run.user, group: spec.group, supplementaryGids: spec.supplementaryGids },
      { passwd: readImageFile(image.layerDirs, 'etc/passwd'), group: readImageFile(image.layerDirs, 'etc/group') },
      where,
    );
    const env = mergeEnv([DEFAULT_PATH], run.env, inherited, podEnv, spec.environment);
    const withHome = env.some((e) => e.startsWith('HOME=')) ? env : [...env, `HOME=${user.home}`];
    const caps = resolveCaps(spec.capsRetain, spec.capsRemove);
    return {
      name,
      image: { id: image.record.id, name: where },
      layers: image.layerDirs,
      exec: argv,
      env: withHome,
      workingDir: spec.workingDir ?? absoluteWorkingDir(run.workingDir),
      uid: user.uid,
      gid: user.gid,
      supplementaryGids: user.supplementaryGids,
      caps,
      ambientCaps: ambientCapsFor(user.uid, spec.capsRetain, caps),
      noNewPrivs: true,
      ...(spec.seccomp === undefined ? {} : { seccomp: spec.seccomp }),
      readonlyRootfs: spec.readonlyRootfs,
      mounts: spec.mounts.map((m) => ({ ...m })),
      limits: { ...spec.limits },
    };
  });
}

/** rkt names an app after its image: `127.0.0.1:5000/skiff/probe:oci` → `probe`. */
export function defaultAppName(image: string, index: number): string {
  const repo = basename(image.replace(/[:@][^/]*$/, '')).toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return repo === '' ? `app${index}` : repo;
}

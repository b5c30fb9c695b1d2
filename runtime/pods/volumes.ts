/**
 * Volumes and where apps mount them: `--volume NAME,kind=host|empty,...` and
 * `--mount volume=NAME,target=PATH`.
 *
 * A target is resolved lexically here (`.`, `..`, `//`, a trailing `/`), so
 * what is checked is what stage1 mounts on: `target=/..` had put a volume
 * over the pod's root and `target=/proc` over procfs (and with it the masked
 * and read-only /proc paths). Refused: `/` itself, `/sys` and `/dev`
 * themselves, and `/proc` and everything under it except the files runc lets
 * a bind replace (lxcfs's: cpuinfo, meminfo, uptime, ...). Symlinks in the
 * image are not followed here: stage1 mounts after its pivot, so they resolve
 * inside the pod's root.
 */
import { posix } from 'node:path';
import { UsageError } from '../errors.js';
import type { VolumeManifest } from './pod-manifest.js';

/** Names of volumes (and apps): what stage1 and the pod dir can use as a file name (NAME_MAX: 255). */
export const NAME = /^(?=.{1,255}$)[a-z0-9]+(?:[-.][a-z0-9]+)*$/;

/** runc's validProcMounts (libcontainer/rootfs_linux.go checkProcMount): /proc files a bind may replace. */
const PROC_FILES_REPLACEABLE = new Set([
  '/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime',
  '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev', '/proc/sys/kernel/ns_last_pid',
]);

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
  if (name === undefined || !NAME.test(name)) {
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

/** A mount target, normalised and confined (see above); throws a UsageError saying why not. */
export function normalizeMountTarget(target: string, input: string = target): string {
  if (!target.startsWith('/') || /[\t\n]/.test(target)) {
    throw new UsageError(`--mount "${input}" needs volume=NAME,target=/absolute/path`, { input });
  }
  const path = posix.normalize(target).replace(/(.)\/+$/, '$1');
  const refuse = (why: string) =>
    new UsageError(`--mount "${input}": target ${path} ${why}`, { input, hint: 'mount the volume on a path of its own, e.g. target=/data' });
  if (path === '/') throw refuse("is the pod's root: the volume would replace the whole image");
  if (path === '/sys' || path === '/dev') throw refuse(`would replace the pod's ${path}`);
  if ((path === '/proc' || path.startsWith('/proc/')) && !PROC_FILES_REPLACEABLE.has(path)) {
    throw refuse('is in /proc, which the pod\'s procfs (and its masked and read-only paths) must keep');
  }
  return path;
}

/** `--mount volume=NAME,target=PATH`; that NAME is a volume of the pod is checked with the whole spec (checkPodSpec). */
export function parseMount(text: string): { volume: string; target: string } {
  const kv = parseKeyValues(text, '--mount');
  const volume = kv.get('volume');
  const target = kv.get('target');
  if (volume === undefined || target === undefined) {
    throw new UsageError(`--mount "${text}" needs volume=NAME,target=/absolute/path`, { input: text });
  }
  return { volume, target: normalizeMountTarget(target, text) };
}

/**
 * Steps both drivers share, each turning an errno into a CgroupError that
 * names the operation, the file and the errno, and says what to do:
 * `write 33554432 to /sys/fs/cgroup/memory/skiff/<uuid>/memory.limit_in_bytes: EINVAL`.
 */
import { CgroupError } from '../errors.js';
import { errnoCode, type CgroupFs } from './cgroup-fs.js';

const HINTS: Record<string, string> = {
  EINVAL: 'the kernel refused the value; check the limit against the parent cgroup\'s and the kernel\'s range',
  ERANGE: 'the value is outside what the parent cgroup allows',
  ENOENT: 'the file or cgroup is missing: is the controller mounted (v1) or enabled in the parent\'s cgroup.subtree_control (v2)?',
  EACCES: 'run as root with a writable cgroupfs',
  EPERM: 'run as root with a writable cgroupfs',
  EROFS: 'cgroupfs is mounted read-only here (inside a container?); run on the host or mount it read-write',
  EBUSY: 'the cgroup still has processes or child cgroups; stop the pod first (skiff stop --force), then skiff gc',
  EEXIST: 'a pod with this UUID exists or was not cleaned up; run skiff gc',
  ENOSPC: 'set cpuset.cpus and cpuset.mems first',
};

export function cgroupError(what: string, path: string, err: unknown): CgroupError {
  const code = errnoCode(err) ?? (err instanceof Error ? err.message : String(err));
  const hint = HINTS[code];
  return new CgroupError(`${what}: ${code}`, { input: path, cause: err, ...(hint === undefined ? {} : { hint }) });
}

export function writeControl(fs: CgroupFs, path: string, value: string): void {
  try {
    fs.writeFile(path, value);
  } catch (err) {
    throw cgroupError(`write ${value} to ${path}`, path, err);
  }
}

export function readControl(fs: CgroupFs, path: string): string {
  try {
    return fs.readFile(path);
  } catch (err) {
    throw cgroupError(`read ${path}`, path, err);
  }
}

/** Creates a shared parent dir unless present; a concurrent creator winning the race is fine. */
export function ensureDir(fs: CgroupFs, dir: string): void {
  if (fs.exists(dir)) return;
  try {
    fs.mkdir(dir);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw cgroupError(`mkdir ${dir}`, dir, err);
  }
}

/** Creates the pod's own dir: one that already exists is another pod's, or a leftover, never adopted. */
export function makePodDir(fs: CgroupFs, dir: string): void {
  try {
    fs.mkdir(dir);
  } catch (err) {
    throw cgroupError(`mkdir ${dir}`, dir, err);
  }
}

/**
 * Copies a v1 cpuset file (cpuset.cpus, cpuset.mems) from the parent when
 * dir's is empty: a new cpuset cgroup starts empty and refuses tasks (ENOSPC)
 * until both are set, and a shared parent may have been left empty by a
 * crashed run. A filled one is left alone.
 */
export function fillFromParent(fs: CgroupFs, dir: string, parent: string, file: string): void {
  if (readControl(fs, `${dir}/${file}`).trim() !== '') return;
  writeControl(fs, `${dir}/${file}`, readControl(fs, `${parent}/${file}`).trim());
}

/** The dirs from the hierarchy root down to `path` (relative), root excluded: `/a/b` → [root/a, root/a/b]. */
export function dirsDown(root: string, path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  return parts.map((_, i) => `${root}/${parts.slice(0, i + 1).join('/')}`);
}

/** Joins a hierarchy mount point and a cgroup path, without doubling slashes. */
export function cgroupDir(root: string, path: string): string {
  return `${root.replace(/\/+$/, '')}${path}`;
}

/** How long `remove` waits for a dying cgroup to empty: 50 × 20 ms. */
export const DEFAULT_RETRY = { attempts: 50, delayMs: 20 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Pids listed in `dir/cgroup.procs`; a dir that is gone has none. */
export function procsOf(fs: CgroupFs, dir: string): number[] {
  let text: string;
  try {
    text = fs.readFile(`${dir}/cgroup.procs`);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw cgroupError(`read ${dir}/cgroup.procs`, dir, err);
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => Number.parseInt(l, 10));
}

export function pidsIn(fs: CgroupFs, dirs: string[]): number[] {
  const all = new Set<number>();
  for (const dir of dirs) for (const pid of procsOf(fs, dir)) all.add(pid);
  return [...all].sort((a, b) => a - b);
}

/**
 * rmdirs each dir in order (deepest first). ENOENT is success. EBUSY is
 * retried, all busy dirs together within one budget (attempts × delayMs in
 * all, not per dir): the last task of a killed pod leaves its cgroups a moment
 * after it was reaped. Every dir is tried even if one fails; the failures are
 * thrown together, naming the pids still inside.
 */
export async function removeDirs(
  fs: CgroupFs,
  dirs: string[],
  retry: { attempts: number; delayMs: number },
): Promise<void> {
  let pending = dirs;
  let failures: { dir: string; err: unknown }[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    const busy: string[] = [];
    failures = [];
    for (const dir of pending) {
      try {
        fs.rmdir(dir);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') continue;
        if (code === 'EBUSY') busy.push(dir);
        failures.push({ dir, err });
      }
    }
    if (busy.length === 0 || attempt >= retry.attempts) break;
    pending = busy;
    await sleep(retry.delayMs);
  }
  const first = failures[0];
  if (first === undefined) return;
  // Group dirs failing the same way: "rmdir A, B: EBUSY (pids still inside: 42)".
  const groups = new Map<string, string[]>();
  for (const { dir, err } of failures) {
    const pids = errnoCode(err) === 'EBUSY' ? procsOf(fs, dir) : [];
    const why = `${errnoCode(err) ?? String(err)}${pids.length > 0 ? ` (pids still inside: ${pids.join(' ')})` : ''}`;
    groups.set(why, [...(groups.get(why) ?? []), dir]);
  }
  const what = [...groups].map(([why, ds]) => `${ds.join(', ')}: ${why}`).join('; ');
  const hint = HINTS[errnoCode(first.err) ?? ''];
  throw new CgroupError(`rmdir ${what}`, {
    input: first.dir,
    cause: first.err,
    ...(hint === undefined ? {} : { hint }),
  });
}

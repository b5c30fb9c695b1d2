/**
 * What the host kernel offers Skiff: overlayfs, the cgroup layout (v1, v2,
 * hybrid) and user namespaces. Read from /proc and /sys only, so `skiff
 * version` stays cheap and works without root. `root` lets unit tests point
 * it at a fake tree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';

export interface HostFeatures {
  /** overlayfs is registered with the kernel (or its module is on disk). */
  overlayfs: 'available' | 'module' | 'missing';
  cgroup: {
    mode: CgroupMode;
    /** v1 controllers with their mount points, e.g. { memory: '/sys/fs/cgroup/memory' }. */
    v1: Record<string, string>;
    /** The cgroup2 mount and the controllers enabled at its root. */
    v2: { mount: string; controllers: string[] } | null;
  };
  userNamespaces: boolean;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as octal. */
export function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function detectOverlayfs(root = '/', kernelRelease?: string): HostFeatures['overlayfs'] {
  const filesystems = readText(join(root, 'proc/filesystems')) ?? '';
  if (/\toverlay$/m.test(filesystems)) return 'available';
  if (existsSync(join(root, 'sys/module/overlay'))) return 'available';
  if (kernelRelease !== undefined) {
    const moduleDir = join(root, 'lib/modules', kernelRelease, 'kernel/fs/overlayfs');
    if (existsSync(moduleDir)) return 'module';
  }
  return 'missing';
}

/** Used when /proc/cgroups cannot be read. */
const V1_CONTROLLERS = [
  'cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'net_cls', 'perf_event',
  'net_prio', 'hugetlb', 'pids', 'rdma', 'misc',
];

/** The controllers this kernel has: the first column of /proc/cgroups. */
function knownControllers(root: string): Set<string> {
  const table = readText(join(root, 'proc/cgroups'));
  if (table === null) return new Set(V1_CONTROLLERS);
  return new Set(
    table
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split('\t')[0] ?? ''),
  );
}

export function detectCgroups(root = '/'): HostFeatures['cgroup'] {
  const known = knownControllers(root);
  const mountinfo = readText(join(root, 'proc/self/mountinfo')) ?? '';
  const v1: Record<string, string> = {};
  let v2: HostFeatures['cgroup']['v2'] = null;
  for (const line of mountinfo.split('\n')) {
    // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = fields[4];
    if (mountPoint === undefined) continue;
    if (fstype === 'cgroup') {
      // Super options mix controllers with mount options (xattr, noprefix…): keep the controllers.
      for (const opt of superOptions.split(',')) {
        if (!known.has(opt) && !opt.startsWith('name=')) continue;
        v1[opt] ??= unescapeMountPath(mountPoint);
      }
    } else if (fstype === 'cgroup2' && v2 === null) {
      const mount = unescapeMountPath(mountPoint);
      const controllers = (readText(join(root, mount, 'cgroup.controllers')) ?? '').trim();
      v2 = { mount, controllers: controllers === '' ? [] : controllers.split(/\s+/) };
    }
  }
  const realV1 = Object.keys(v1).filter((c) => !c.startsWith('name='));
  let mode: CgroupMode;
  if (realV1.length > 0 && v2 !== null) mode = 'hybrid';
  else if (realV1.length > 0) mode = 'v1';
  else if (v2 !== null) mode = 'v2';
  else mode = 'none';
  return { mode, v1, v2 };
}

export function detectUserNamespaces(root = '/'): boolean {
  if (!existsSync(join(root, 'proc/self/ns/user'))) return false;
  const max = readText(join(root, 'proc/sys/user/max_user_namespaces'));
  return max === null || Number.parseInt(max, 10) > 0;
}

export function detectHostFeatures(root = '/', kernelRelease?: string): HostFeatures {
  return {
    overlayfs: detectOverlayfs(root, kernelRelease),
    cgroup: detectCgroups(root),
    userNamespaces: detectUserNamespaces(root),
  };
}

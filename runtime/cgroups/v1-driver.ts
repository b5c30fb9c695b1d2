/**
 * The cgroup v1 driver: one dir per hierarchy (this host: cpu and cpuacct on
 * separate mounts, cpuset, memory, devices, freezer, blkio, pids).
 *
 * Which hierarchies: every mounted v1 hierarchy with a real controller, so in
 * its cgroup namespace the pod sees its own cgroup as the root everywhere.
 * Co-mounted controllers (`cpu,cpuacct`) share one dir. Named hierarchies
 * (`name=systemd`) are left alone: that one is systemd's process tracking,
 * and the pod staying in its caller's unit there is what keeps it accounted
 * to the unit.
 *
 * Order of work, and why (`plan` lists it as operations, cgroup-plan.ts;
 * stage0's applyCgroupPlan or the native launcher runs them):
 * 1. Validate the limits and check their controllers are mounted: a bad
 *    request fails before anything exists.
 * 2. The cpuset hierarchy first, and in it every level top-down: a new cpuset
 *    cgroup starts with empty cpuset.cpus/mems and refuses tasks (ENOSPC)
 *    until both are set, and a child may only hold a subset of its parent's
 *    (EACCES), so each level is filled from its parent right after its
 *    mkdir (a `fill` op, which copies only into an empty file). Shared
 *    parents (`/skiff`) left empty by a crashed run are filled too. Doing
 *    it first means the pod's first hierarchy is usable before any other
 *    is made.
 * 3. mkdir the pod's dir in every other hierarchy (parents as needed; they
 *    stay, shared by pods). An existing pod dir is an error, not adopted.
 * 4. Write the limits, all before stage1's PID 1 joins, so nothing ever runs
 *    unlimited: memory.limit_in_bytes; cpu.cfs_period_us before
 *    cpu.cfs_quota_us (the kernel checks the quota/period pair against the
 *    parent's bandwidth on every write, so the period must already be ours);
 *    cpu.shares; pids.max.
 * Any failure rmdirs the pod dirs made so far (newest first) and rethrows
 * (applyCgroupPlan).
 *
 * 5. The device allow-list (devices.ts), when a devices hierarchy is
 *    mounted: `devices.deny a` first (a new devices cgroup inherits its
 *    parent's list, allow-all at the root), then one `devices.allow` per
 *    rule (the kernel takes one rule per write).
 * Not written: memory.memsw.* (swap accounting is often off, swapaccount=0,
 * and this host has no swap: a limit is RAM only), freezer/blkio (joined, no
 * limits yet).
 */
import { CgroupError } from '../errors.js';
import type { CgroupFs } from './cgroup-fs.js';
import { BaseCgroupDriver } from './base-driver.js';
import { cgroupDir, dirsDown } from './cgroup-ops.js';
import type { CgroupOp, CgroupPlan } from './cgroup-plan.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import { CPU_PERIOD_US, controllersFor, cpuQuotaUs, validateLimits } from './limits.js';
import { placePod, type SelfCgroups } from './placement.js';
import type { CgroupDriverOptions, PodLimits } from './types.js';
import { compareStrings } from '../compare-strings.js';

interface Hierarchy {
  mount: string;
  controllers: string[];
}

/** Real-controller hierarchies, deduplicated by mount point, the cpuset one first. */
export function v1Hierarchies(v1: Record<string, string>): Hierarchy[] {
  const byMount = new Map<string, string[]>();
  for (const [controller, mount] of Object.entries(v1)) {
    if (controller.startsWith('name=')) continue;
    byMount.set(mount, [...(byMount.get(mount) ?? []), controller]);
  }
  const rank = (h: Hierarchy) => (h.controllers.includes('cpuset') ? 0 : 1);
  return [...byMount]
    .map(([mount, controllers]) => ({ mount, controllers }))
    .sort((a, b) => rank(a) - rank(b) || compareStrings(a.mount, b.mount));
}

export class V1Driver extends BaseCgroupDriver {
  readonly kind = 'v1' as const;
  private readonly hierarchies: Hierarchy[];

  constructor(
    private readonly v1: Record<string, string>,
    fs: CgroupFs,
    private readonly self: () => SelfCgroups,
    options: CgroupDriverOptions = {},
  ) {
    super(fs, options);
    this.hierarchies = v1Hierarchies(v1);
  }

  plan(uuid: string, limits: PodLimits): CgroupPlan {
    validateLimits(limits);
    const missing = controllersFor(limits).filter((c) => this.v1[c] === undefined);
    if (missing.length > 0) {
      throw new CgroupError(`no cgroup v1 ${missing.join(', ')} hierarchy is mounted for the requested limits`, {
        input: uuid,
        hint: `mount the ${missing.join(', ')} controller(s) under /sys/fs/cgroup, or drop those limits`,
      });
    }
    const place = placePod(uuid, 'v1', this.self(), this.options.parent);
    const ops: CgroupOp[] = [];
    const podDirs: string[] = [];
    for (const h of this.hierarchies) {
      const cpuset = h.controllers.includes('cpuset');
      const dirs = [h.mount, ...dirsDown(h.mount, place.path)];
      for (let i = 1; i < dirs.length; i++) {
        const dir = dirs[i]!;
        const parent = dirs[i - 1]!;
        if (i === dirs.length - 1) {
          ops.push({ op: 'make', dir });
          podDirs.push(dir);
        } else {
          ops.push({ op: 'ensure', dir });
        }
        if (cpuset) {
          ops.push({ op: 'fill', dir, parent, file: 'cpuset.cpus' });
          ops.push({ op: 'fill', dir, parent, file: 'cpuset.mems' });
        }
      }
    }
    ops.push(...this.limitWrites(place.path, limits), ...this.deviceWrites(place.path));
    return { ops, cgroup: { join: podDirs, cleanup: [...podDirs].reverse(), path: place.path } };
  }

  private deviceWrites(path: string): CgroupOp[] {
    const mount = this.v1['devices'];
    if (mount === undefined) return [];
    const dir = cgroupDir(mount, path);
    return [
      { op: 'write', path: `${dir}/devices.deny`, value: 'a' },
      ...DEFAULT_DEVICE_RULES.map((rule): CgroupOp => ({ op: 'write', path: `${dir}/devices.allow`, value: rule })),
    ];
  }

  private limitWrites(path: string, limits: PodLimits): CgroupOp[] {
    const dir = (controller: string) => cgroupDir(this.v1[controller]!, path);
    const ops: CgroupOp[] = [];
    const write = (file: string, value: string) => ops.push({ op: 'write', path: file, value });
    if (limits.memoryBytes !== undefined) {
      write(`${dir('memory')}/memory.limit_in_bytes`, String(limits.memoryBytes));
    }
    if (limits.cpuMillis !== undefined) {
      write(`${dir('cpu')}/cpu.cfs_period_us`, String(CPU_PERIOD_US));
      write(`${dir('cpu')}/cpu.cfs_quota_us`, String(cpuQuotaUs(limits.cpuMillis)));
    }
    if (limits.cpuShares !== undefined) {
      write(`${dir('cpu')}/cpu.shares`, String(limits.cpuShares));
    }
    if (limits.pidsMax !== undefined) {
      write(`${dir('pids')}/pids.max`, String(limits.pidsMax));
    }
    return ops;
  }
}

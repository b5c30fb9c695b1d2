/**
 * The cgroup v2 driver: one dir in the unified hierarchy.
 *
 * Order of work, and why (`plan` lists it as operations, cgroup-plan.ts;
 * stage0's applyCgroupPlan or the native launcher runs them):
 * 1. Validate the limits and check the root offers their controllers.
 * 2. Walk from the root down to the pod's parent; at each level make the dir
 *    if needed (shared parents stay) and enable +cpu +memory +pids (those the
 *    root offers) in its cgroup.subtree_control, so the pod's dir gets the
 *    controllers' files. Top-down, because a cgroup can only enable what its
 *    parent enabled for it (ENOENT otherwise). Only missing controllers are
 *    written, so ancestors already set up (by systemd, say) are not touched.
 * 3. mkdir the pod's dir and write memory.max, cpu.max "QUOTA 100000",
 *    cpu.weight, pids.max: all before stage1's PID 1 joins. The pod's own
 *    subtree_control stays empty, or its PID 1 could not join.
 * Any failure rmdirs the pod dir and rethrows (applyCgroupPlan).
 *
 * Under the caller's own systemd unit (default placement) the unit's level is
 * marked `ownUnit`: if it holds processes, enabling moves them into a leaf
 * `<unit>/skiff-supervisor` first (the no-internal-processes rule,
 * subtree-control.ts). Never for an explicit `parent`: there an EBUSY is
 * reported with what to do.
 */
import { CgroupError } from '../errors.js';
import type { CgroupFs } from './cgroup-fs.js';
import { BaseCgroupDriver } from './base-driver.js';
import { cgroupDir, dirsDown } from './cgroup-ops.js';
import type { CgroupOp, CgroupPlan } from './cgroup-plan.js';
import { CPU_PERIOD_US, controllersFor, cpuQuotaUs, sharesToWeight, validateLimits } from './limits.js';
import { placePod, type SelfCgroups } from './placement.js';
import type { CgroupDriverOptions, PodLimits } from './types.js';

/** The controllers Skiff enables for pods, when the root offers them. */
export const V2_CONTROLLERS = ['cpu', 'memory', 'pids'];

export class V2Driver extends BaseCgroupDriver {
  readonly kind = 'v2' as const;

  constructor(
    private readonly v2: { mount: string; controllers: string[] },
    fs: CgroupFs,
    private readonly self: () => SelfCgroups,
    options: CgroupDriverOptions = {},
  ) {
    super(fs, options);
  }

  plan(uuid: string, limits: PodLimits): CgroupPlan {
    validateLimits(limits);
    const missing = controllersFor(limits).filter((c) => !this.v2.controllers.includes(c));
    if (missing.length > 0) {
      throw new CgroupError(`cgroup2 at ${this.v2.mount} does not offer ${missing.join(', ')} for the requested limits`, {
        input: uuid,
        hint: `enable ${missing.map((c) => `+${c}`).join(' ')} in the kernel (cgroup_enable=) or drop those limits`,
      });
    }
    const place = placePod(uuid, 'v2', this.self(), this.options.parent);
    const wanted = V2_CONTROLLERS.filter((c) => this.v2.controllers.includes(c));
    const unitDir = place.unit === undefined ? undefined : cgroupDir(this.v2.mount, place.unit);
    const podDir = cgroupDir(this.v2.mount, place.path);
    const ops: CgroupOp[] = [];
    for (const dir of [this.v2.mount, ...dirsDown(this.v2.mount, place.parent)]) {
      ops.push({ op: 'ensure', dir });
      ops.push({ op: 'enable', dir, controllers: wanted, ownUnit: dir === unitDir });
    }
    ops.push({ op: 'make', dir: podDir });
    ops.push(...limitWrites(podDir, limits));
    return { ops, cgroup: { join: [podDir], cleanup: [podDir], path: place.path } };
  }
}

function limitWrites(dir: string, limits: PodLimits): CgroupOp[] {
  const ops: CgroupOp[] = [];
  const write = (file: string, value: string) => ops.push({ op: 'write', path: `${dir}/${file}`, value });
  if (limits.memoryBytes !== undefined) write('memory.max', String(limits.memoryBytes));
  if (limits.cpuMillis !== undefined) write('cpu.max', `${cpuQuotaUs(limits.cpuMillis)} ${CPU_PERIOD_US}`);
  if (limits.cpuShares !== undefined) write('cpu.weight', String(sharesToWeight(limits.cpuShares)));
  if (limits.pidsMax !== undefined) write('pids.max', String(limits.pidsMax));
  return ops;
}

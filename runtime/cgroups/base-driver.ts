/**
 * What the v1 and v2 drivers share: each decides only its `plan`; creating
 * runs that plan (cgroup-plan.ts), and removing and listing pids work on the
 * dirs the plan named, the same on both versions.
 */
import type { CgroupFs } from './cgroup-fs.js';
import { DEFAULT_RETRY, pidsIn, removeDirs } from './cgroup-ops.js';
import { applyCgroupPlan, type CgroupPlan } from './cgroup-plan.js';
import type { CgroupDriver, CgroupDriverOptions, PodCgroup, PodLimits } from './types.js';

export abstract class BaseCgroupDriver implements CgroupDriver {
  abstract readonly kind: 'v1' | 'v2';

  protected constructor(
    protected readonly fs: CgroupFs,
    protected readonly options: CgroupDriverOptions,
  ) {}

  abstract plan(uuid: string, limits: PodLimits): CgroupPlan;

  async create(uuid: string, limits: PodLimits): Promise<PodCgroup> {
    const plan = this.plan(uuid, limits);
    applyCgroupPlan(this.fs, plan);
    return plan.cgroup;
  }

  async remove(cg: PodCgroup): Promise<void> {
    await removeDirs(this.fs, cg.cleanup, this.options.removeRetry ?? DEFAULT_RETRY);
  }

  async pids(cg: PodCgroup): Promise<number[]> {
    return pidsIn(this.fs, cg.join);
  }
}

/**
 * A pod's cgroup, from stage0's side: created with its limits before the
 * handoff (stage1's PID 1 joins it), removed by stage1 at teardown, or by
 * rm/gc from the dirs recorded in the stage1 config when stage1 could not.
 * `SKIFF_CGROUP_PARENT` places pods under another parent (tests use their
 * own, and remove it afterwards). Created from an explicit plan (a list of
 * operations) so that a run plan can carry it to the native launcher.
 */
import { applyCgroupPlan, type CgroupPlan } from '../cgroups/cgroup-plan.js';
import { cgroupDriverFor, realCgroupFs, type CgroupDriver, type PodCgroup, type PodLimits } from '../cgroups/index.js';
import { detectCgroups } from '../host-features.js';

/** The cgroup dirs a pod's stage1 joins and removes (native/stage1-protocol.md: `cgroup`, `cgroup-cleanup`). */
export type PodCgroupDirs = Pick<PodCgroup, 'join' | 'cleanup'>;

function driver(env: NodeJS.ProcessEnv = process.env): CgroupDriver {
  const parent = env['SKIFF_CGROUP_PARENT'];
  return cgroupDriverFor(detectCgroups(), realCgroupFs, parent === undefined ? {} : { parent });
}

export function planPodCgroup(uuid: string, limits: PodLimits): CgroupPlan {
  return driver().plan(uuid, limits);
}

export function applyPodCgroup(plan: CgroupPlan): PodCgroup {
  applyCgroupPlan(realCgroupFs, plan);
  return plan.cgroup;
}

export function removePodCgroup(cg: PodCgroup): Promise<void> {
  return driver().remove(cg);
}

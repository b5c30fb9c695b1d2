/**
 * A pod's cgroup, from stage0's side: created with its limits before the
 * handoff (stage1's PID 1 joins it), removed by stage1 at teardown, or by
 * rm/gc from the `cgroup-cleanup` dirs recorded in the stage1 config when
 * stage1 could not. `SKIFF_CGROUP_PARENT` places pods under another parent
 * (tests use their own, and remove it afterwards). Created from an explicit
 * plan (a list of operations) so that a run plan can carry it to the native
 * launcher. Removing needs no driver: both drivers rmdir the recorded dirs,
 * so rm of a pod that never ran works on a host without cgroups too.
 */
import {
  applyCgroupPlan,
  cgroupDriverFor,
  DEFAULT_RETRY,
  realCgroupFs,
  removeDirs,
  type CgroupPlan,
  type PodCgroup,
  type PodLimits,
} from '../cgroups/index.js';
import { detectCgroups } from '../host-features.js';

/** The cgroup dirs a pod's stage1 joins and removes (native/stage1-protocol.md: `cgroup`, `cgroup-cleanup`). */
export type PodCgroupDirs = Pick<PodCgroup, 'join' | 'cleanup'>;

export function planPodCgroup(uuid: string, limits: PodLimits, env: NodeJS.ProcessEnv = process.env): CgroupPlan {
  const parent = env['SKIFF_CGROUP_PARENT'];
  return cgroupDriverFor(detectCgroups(), realCgroupFs, parent === undefined ? {} : { parent }).plan(uuid, limits);
}

export function applyPodCgroup(plan: CgroupPlan): PodCgroup {
  applyCgroupPlan(realCgroupFs, plan);
  return plan.cgroup;
}

/** rmdirs a pod's `cleanup` dirs (deepest first); idempotent, and nothing to do for none. */
export function removePodCgroup(cleanup: string[]): Promise<void> {
  return removeDirs(realCgroupFs, cleanup, DEFAULT_RETRY);
}

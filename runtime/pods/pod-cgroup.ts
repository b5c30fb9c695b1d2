/**
 * A pod's cgroup, from stage0's side: created with its limits before the
 * handoff (stage1's PID 1 joins it), removed by stage1 at teardown, or by
 * rm/gc from the `cgroup-cleanup` dirs recorded in the stage1 config when
 * stage1 could not. `--cgroup-parent` (recorded in the manifest, so a replay
 * and a run-prepared use it too) places the pod under another parent, then
 * `SKIFF_CGROUP_PARENT` (tests use their own, and remove it afterwards); without
 * either a pod started by systemd nests under the unit's own cgroup, else
 * /skiff (cgroups/placement.ts). Created from an explicit
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
import { UsageError } from '../errors.js';

/** The cgroup dirs a pod's stage1 joins and removes (native/stage1-protocol.md: `cgroup`, `cgroup-cleanup`). */
export type PodCgroupDirs = Pick<PodCgroup, 'join' | 'cleanup'>;

/**
 * `--cgroup-parent PATH`: a cgroup path from the hierarchy's root (`/machine.slice/web`, or the same
 * without the leading `/`), returned normalised (`/a/b`: one `/` between names, none at the end).
 * No `.` or `..` (a pod must stay below the parent it names), not the root itself, and no
 * control characters (run plans and stage1 configs are tab- and NUL-separated).
 */
export function checkCgroupParent(value: string): string {
  const parts = value.split('/').filter((p) => p !== '');
  const bad = parts.find((p) => p === '.' || p === '..' || /[\x00-\x1f\x7f]/.test(p));
  if (parts.length === 0 || bad !== undefined) {
    throw new UsageError(`--cgroup-parent "${value}" ${parts.length === 0 ? 'names no cgroup below the root' : `has a bad component "${bad}"`}`, {
      input: value,
      hint: 'give a path from the hierarchy\'s root without . or .., e.g. --cgroup-parent=/machine.slice/skiff',
    });
  }
  return `/${parts.join('/')}`;
}

/** `parent`: the manifest's cgroupParent (--cgroup-parent), over SKIFF_CGROUP_PARENT. */
export function planPodCgroup(uuid: string, limits: PodLimits, parent?: string, env: NodeJS.ProcessEnv = process.env): CgroupPlan {
  parent ??= env['SKIFF_CGROUP_PARENT'];
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

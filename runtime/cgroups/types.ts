/**
 * The cgroup seam between stage0 and stage1: what a pod asks for (PodLimits),
 * what stage0 hands to stage1 (PodCgroup: the dirs to join and to remove), and
 * the driver that turns one into the other on this host's cgroup layout.
 *
 * stage0 asks the driver for a `plan` and applies it (applyCgroupPlan; a
 * replayed run plan has the native launcher apply the recorded one) before it
 * execs stage1, so every limit is in place before the pod's PID 1 joins (it
 * writes its pid to each `join` dir's cgroup.procs): there is no window in
 * which the pod runs unlimited. stage1 rmdirs the `cleanup` dirs at teardown;
 * `skiff rm` and `gc` rmdir the same dirs, read back from the pod's stage1
 * config, for what a killed stage1 left behind (no driver needed).
 */
import type { CgroupPlan } from './cgroup-plan.js';

export interface PodLimits {
  /** Hard memory limit in bytes (v1 memory.limit_in_bytes, v2 memory.max). */
  memoryBytes?: number;
  /** CPU quota in thousandths of a CPU: 750 = 0.75 CPU = 75000 µs per 100000 µs period. */
  cpuMillis?: number;
  /** Relative CPU weight in v1 shares, 2..262144 (v2 cpu.weight is converted as crun does). */
  cpuShares?: number;
  /** Maximum number of tasks (processes and threads) in the pod. */
  pidsMax?: number;
}

export interface PodCgroup {
  /** Absolute dirs the pod's PID 1 joins (stage1 `cgroup` keys): one per v1 hierarchy, or the one v2 dir. */
  join: string[];
  /** Absolute dirs to rmdir at teardown, deepest first (stage1 `cgroup-cleanup` keys). */
  cleanup: string[];
  /** The pod's cgroup path relative to each hierarchy's root, e.g. `/skiff/<uuid>`. */
  path: string;
}

export interface CgroupDriver {
  readonly kind: 'v1' | 'v2';
  /**
   * The pod's cgroup setup as data (cgroup-plan.ts): validates the limits,
   * places the pod and lists the operations, touching no cgroupfs. Throws a
   * CgroupError for bad limits, a bad UUID or a missing controller. The
   * caller's own cgroups (/proc/self/cgroup) are read for placement.
   */
  plan(uuid: string, limits: PodLimits): CgroupPlan;
  /**
   * `plan`, then applyCgroupPlan: creates the pod's cgroup(s) and writes its
   * limits. On failure removes what it made (shared parents such as `/skiff`
   * stay) and throws a CgroupError. A pod cgroup that already exists is an
   * error, never adopted.
   */
  create(uuid: string, limits: PodLimits): Promise<PodCgroup>;
  /**
   * Removes the pod's cgroup(s), its `cleanup` dirs (removeDirs). Idempotent:
   * "already gone" is success. Retries EBUSY briefly while a dying cgroup
   * empties; kills nothing: if processes are still inside, throws a
   * CgroupError naming them.
   */
  remove(cg: PodCgroup): Promise<void>;
  /** Pids currently in the pod's cgroup(s), sorted, without duplicates. */
  pids(cg: PodCgroup): Promise<number[]>;
}

export interface CgroupDriverOptions {
  /**
   * The cgroup (relative to each hierarchy root) to create pods under, e.g.
   * `/skiff-test-1234`: pods go to `<parent>/<uuid>`. Default: the caller's
   * systemd unit (`<unit>/skiff-<uuid>`) or `/skiff` (`/skiff/<uuid>`).
   */
  parent?: string;
  /** How long `remove` waits for a busy cgroup to empty (default 50 × 20 ms). */
  removeRetry?: { attempts: number; delayMs: number };
}

/**
 * Pod cgroups: one interface, a v1 and a v2 driver, chosen once per host,
 * each planning a pod's cgroups as a list of operations (cgroup-plan.ts).
 * What the rest of Skiff uses goes through here; the fake cgroupfs, the
 * contract checks and the drivers' parts are imported from their own modules
 * by tests only.
 */
export type { CgroupDriver, PodCgroup, PodLimits } from './types.js';
export { realCgroupFs } from './cgroup-fs.js';
export { DEFAULT_RETRY, removeDirs } from './cgroup-ops.js';
export { cgroupDriverFor } from './select-driver.js';
export { DEFAULT_DEVICE_RULES } from './devices.js';
export { MAX_CPU_MILLIS, MAX_CPU_SHARES, MIN_CPU_MILLIS, MIN_CPU_SHARES } from './limits.js';
export { applyCgroupPlan, encodeCgroupOp, type CgroupOp, type CgroupPlan } from './cgroup-plan.js';

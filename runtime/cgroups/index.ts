/**
 * Pod cgroups: one interface, a v1 and a v2 driver, chosen once per host,
 * each planning a pod's cgroups as a list of operations (cgroup-plan.ts).
 * The fake cgroupfs and the contract checks are imported from their own
 * modules by tests only.
 */
export type { CgroupDriver, CgroupDriverOptions, PodCgroup, PodLimits } from './types.js';
export type { CgroupFs } from './cgroup-fs.js';
export { realCgroupFs } from './cgroup-fs.js';
export { cgroupDriverFor } from './select-driver.js';
export { CPU_PERIOD_US, cpuQuotaUs, sharesToWeight, validateLimits } from './limits.js';
export { SUPERVISOR_LEAF } from './subtree-control.js';
export { applyCgroupPlan, encodeCgroupOp, type CgroupOp, type CgroupPlan } from './cgroup-plan.js';

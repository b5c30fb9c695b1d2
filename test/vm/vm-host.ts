/**
 * What the VM tier's tests need of their host: root, a pure cgroup v2
 * hierarchy offering the pod controllers, and (for the systemd tests)
 * systemd as PID 1. On these machines (hybrid, no systemd) the tests are
 * skipped, visibly; `npm run test:vm` runs them in a Debian 12 VM.
 */
import { existsSync } from 'node:fs';
import { detectCgroups } from '../../runtime/host-features.js';
import { V2_CONTROLLERS } from '../../runtime/cgroups/v2-driver.js';

const cgroups = detectCgroups();

/** The cgroup2 mount point (`/sys/fs/cgroup` on a v2 host). */
export const cgroup2Mount = cgroups.v2?.mount ?? '/sys/fs/cgroup';

export const isRoot = process.getuid?.() === 0;

/** Root on a pure cgroup v2 host whose root offers cpu, memory and pids. */
export const pureV2 = isRoot && cgroups.mode === 'v2' && V2_CONTROLLERS.every((c) => cgroups.v2?.controllers.includes(c));

/** ...and systemd runs the machine (sd_booted()'s test). */
export const systemdV2 = pureV2 && existsSync('/run/systemd/system');

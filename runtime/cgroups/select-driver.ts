/**
 * Picks the cgroup driver once, from the layout detectCgroups() found (like
 * crun's cgroup manager table): v2 when the unified hierarchy offers memory,
 * pids and cpu; otherwise v1 when any v1 controller is mounted (hybrid hosts
 * such as this one, whose cgroup2 mount is empty or holds only hugetlb); a v2
 * host short of some controller still gets v2 (a limit needing a missing one
 * fails at plan, naming it); no cgroup mount at all is an error.
 *
 * The caller's own cgroups (/proc/self/cgroup, for nesting under its systemd
 * unit) are read lazily, at the first plan without an explicit `parent`.
 */
import { CgroupError } from '../errors.js';
import { detectCgroups, type HostFeatures } from '../host-features.js';
import { errnoCode, realCgroupFs, type CgroupFs } from './cgroup-fs.js';
import { parseSelfCgroups, type SelfCgroups } from './placement.js';
import type { CgroupDriver, CgroupDriverOptions } from './types.js';
import { V1Driver } from './v1-driver.js';
import { V2_CONTROLLERS, V2Driver } from './v2-driver.js';

export function cgroupDriverFor(
  features: HostFeatures['cgroup'] = detectCgroups(),
  fs: CgroupFs = realCgroupFs,
  options: CgroupDriverOptions = {},
): CgroupDriver {
  let self: SelfCgroups | undefined;
  const readSelf = (): SelfCgroups => {
    if (self !== undefined) return self;
    let text = '';
    try {
      text = fs.readFile('/proc/self/cgroup');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    return (self = parseSelfCgroups(text));
  };
  const v2 = features.v2;
  if (v2 !== null && V2_CONTROLLERS.every((c) => v2.controllers.includes(c))) {
    return new V2Driver(v2, fs, readSelf, options);
  }
  if (Object.keys(features.v1).some((c) => !c.startsWith('name='))) {
    return new V1Driver(features.v1, fs, readSelf, options);
  }
  if (v2 !== null) return new V2Driver(v2, fs, readSelf, options);
  throw new CgroupError('no cgroup hierarchy is mounted, so pods cannot get limits or be tracked', {
    hint: 'mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup) or the v1 controllers',
  });
}

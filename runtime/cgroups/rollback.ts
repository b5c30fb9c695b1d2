/**
 * Setup rolls back (STYLE.md point 5): a cgroup plan that fails
 * (applyCgroupPlan) rmdirs the pod dirs it made, newest first, and throws
 * the original failure. A dir that cannot be removed (nothing should be
 * inside yet) is named in the error so `skiff gc` or a human can finish the
 * job.
 */
import { CgroupError } from '../errors.js';
import { errnoCode, type CgroupFs } from './cgroup-fs.js';
import { cgroupError } from './cgroup-ops.js';

export function rollback(fs: CgroupFs, made: string[], err: unknown): CgroupError {
  const primary = err instanceof CgroupError ? err : cgroupError('create cgroup', made.at(-1) ?? '', err);
  const left: string[] = [];
  for (const dir of [...made].reverse()) {
    try {
      fs.rmdir(dir);
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') left.push(`${dir} (${errnoCode(e) ?? String(e)})`);
    }
  }
  if (left.length === 0) return primary;
  return new CgroupError(`${primary.message}; rollback left ${left.join(', ')}`, {
    ...(primary.input === undefined ? {} : { input: primary.input }),
    hint: 'remove the leftover cgroups with skiff gc or rmdir',
    cause: primary,
  });
}

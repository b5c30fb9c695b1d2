/**
 * The `enable` step of a cgroup plan (v2): turning controllers on in a
 * cgroup's cgroup.subtree_control, so its children get the controllers' files.
 *
 * Only missing controllers are written, all in one write ("+a +b"), so
 * ancestors already set up (by systemd, say) are not touched.
 *
 * The no-internal-processes rule: a non-root cgroup with processes cannot
 * enable controllers for its children (EBUSY). Under a systemd unit the
 * unit's cgroup holds the caller itself (stage0, which execs stage1 in place,
 * and whoever started it), so nesting `<unit>/skiff-<uuid>` needs the unit
 * to be a pure inner node. Skiff does what systemd asks of delegated units:
 * when enabling the unit's subtree_control says EBUSY, it moves the unit's
 * processes into a leaf `<unit>/skiff-supervisor` (made once, kept, shared
 * by later pods) and retries; children forked later by stage0/stage1 are
 * born in the leaf. The pod is then a sibling of the leaf. This is done only
 * for the caller's own unit (`ownUnit`: default placement), never for an
 * explicit `parent`: there an EBUSY is reported with what to do. The unit
 * must delegate the controllers (Delegate=yes), or enabling says ENOENT.
 */
import { CgroupError } from '../errors.js';
import { errnoCode, type CgroupFs } from './cgroup-fs.js';
import { cgroupError, ensureDir, procsOf, readControl } from './cgroup-ops.js';

/** The leaf a unit's own processes move to, so the unit can delegate controllers to pods. */
export const SUPERVISOR_LEAF = 'skiff-supervisor';

/** Racing forks can refill the unit between the move and the write: a few tries. */
const LEAF_MOVE_TRIES = 5;

/** Enables the controllers missing from dir's subtree_control. */
export function enableControllers(fs: CgroupFs, dir: string, controllers: string[], ownUnit: boolean): void {
  const file = `${dir}/cgroup.subtree_control`;
  const present = new Set(readControl(fs, file).split(/\s+/));
  const value = controllers.filter((c) => !present.has(c)).map((c) => `+${c}`).join(' ');
  if (value === '') return;
  for (let attempt = 1; ; attempt++) {
    try {
      fs.writeFile(file, value);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EBUSY' && ownUnit && attempt < LEAF_MOVE_TRIES) {
        moveToLeaf(fs, dir);
        continue;
      }
      if (code === 'EBUSY') {
        throw new CgroupError(`write ${value} to ${file}: EBUSY (cgroup v2 lets no cgroup with processes enable controllers for its children)`, {
          input: file,
          cause: err,
          hint: `pick a cgroup parent without processes, or move the processes of ${dir} into a leaf child`,
        });
      }
      if (code === 'ENOENT') {
        throw new CgroupError(`write ${value} to ${file}: ENOENT (not offered by ${dir}/cgroup.controllers)`, {
          input: file,
          cause: err,
          hint: 'enable the controllers in the parent cgroup\'s subtree_control; under systemd set Delegate=yes on the unit',
        });
      }
      throw cgroupError(`write ${value} to ${file}`, file, err);
    }
  }
}

/** Moves every process of the unit's cgroup into its supervisor leaf. */
function moveToLeaf(fs: CgroupFs, unitDir: string): void {
  const leaf = `${unitDir}/${SUPERVISOR_LEAF}`;
  ensureDir(fs, leaf);
  for (const pid of procsOf(fs, unitDir)) {
    try {
      fs.writeFile(`${leaf}/cgroup.procs`, String(pid));
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw cgroupError(`write ${pid} to ${leaf}/cgroup.procs`, leaf, err);
    }
  }
}

/**
 * A pod's cgroup setup as data: the drivers' `plan` decides everything that
 * does not need cgroupfs (validation, placement, which dirs, which values, in
 * which order) and lists it as operations; `applyCgroupPlan` runs them. Why
 * the split: the native launcher (native/launcher/cgroup-ops.c) replays the
 * very same list for a cached `skiff run`, so the list must be plain data
 * that a TypeScript and a C executor both run, one line each (encodeCgroupOp).
 *
 * What depends on the host's current state is decided when an op runs, never
 * when the plan is made, so a replayed plan behaves as a fresh one would:
 * - ensure: a shared parent (`/skiff`, a unit's path). mkdir unless present;
 *   EEXIST (a concurrent creator won the race) is fine. Shared parents stay.
 * - make: the pod's own dir. mkdir; EEXIST is an error, since an existing
 *   pod dir is another pod's or a leftover, never adopted. Dirs made so far
 *   are removed if a later op fails.
 * - fill (v1 cpuset): when dir/file is empty, copy parent/file's trimmed
 *   value (fillFromParent in cgroup-ops.ts says why).
 * - enable (v2): the controllers dir's cgroup.subtree_control lacks, in one
 *   write; `ownUnit` allows moving the unit's processes into a leaf on EBUSY
 *   (subtree-control.ts).
 * - write: a value to a control file, in one write(2).
 * Any failure rmdirs the `make` dirs made so far (newest first, rollback.ts)
 * and throws a CgroupError naming the operation, the file and the errno.
 */
import type { CgroupFs } from './cgroup-fs.js';
import { ensureDir, fillFromParent, makePodDir, writeControl } from './cgroup-ops.js';
import { rollback } from './rollback.js';
import { enableControllers } from './subtree-control.js';
import type { PodCgroup } from './types.js';

export type CgroupOp =
  | { op: 'ensure'; dir: string }
  | { op: 'make'; dir: string }
  | { op: 'fill'; dir: string; parent: string; file: string }
  | { op: 'enable'; dir: string; controllers: string[]; ownUnit: boolean }
  | { op: 'write'; path: string; value: string };

export interface CgroupPlan {
  /** What to do, in order. */
  ops: CgroupOp[];
  /** What the pod gets once every op has succeeded. */
  cgroup: PodCgroup;
}

/** Runs the plan's ops in order; on failure removes the pod dirs it made and throws a CgroupError. */
export function applyCgroupPlan(fs: CgroupFs, plan: CgroupPlan): void {
  const made: string[] = [];
  try {
    for (const op of plan.ops) {
      switch (op.op) {
        case 'ensure':
          ensureDir(fs, op.dir);
          break;
        case 'make':
          makePodDir(fs, op.dir);
          made.push(op.dir);
          break;
        case 'fill':
          fillFromParent(fs, op.dir, op.parent, op.file);
          break;
        case 'enable':
          enableControllers(fs, op.dir, op.controllers, op.ownUnit);
          break;
        case 'write':
          writeControl(fs, op.path, op.value);
          break;
      }
    }
  } catch (err) {
    throw rollback(fs, made, err);
  }
}

/**
 * One op as one line for the native launcher: tab-separated fields,
 * `ensure DIR`, `make DIR`, `fill DIR PARENT FILE`, `enable DIR 0|1 C1,C2`,
 * `write PATH VALUE`. Throws when a field cannot be carried that way (a tab,
 * newline or NUL inside; an empty field, which the launcher's tokenizer
 * would drop; a comma or empty name in a controller): the caller then does
 * not cache the run.
 */
export function encodeCgroupOp(op: CgroupOp): string {
  let fields: string[];
  switch (op.op) {
    case 'ensure':
    case 'make':
      fields = [op.op, op.dir];
      break;
    case 'fill':
      fields = [op.op, op.dir, op.parent, op.file];
      break;
    case 'enable':
      for (const c of op.controllers) {
        if (c === '' || c.includes(',')) throw new Error(`cgroup controller ${JSON.stringify(c)} cannot be encoded`);
      }
      fields = [op.op, op.dir, op.ownUnit ? '1' : '0', op.controllers.join(',')];
      break;
    case 'write':
      fields = [op.op, op.path, op.value];
      break;
  }
  for (const f of fields) {
    if (f === '' || /[\t\n\0]/.test(f)) throw new Error(`cgroup ${op.op} field ${JSON.stringify(f)} cannot be encoded`);
  }
  return fields.join('\t');
}

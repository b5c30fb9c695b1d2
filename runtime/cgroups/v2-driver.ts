/**
 * The cgroup v2 driver: one dir in the unified hierarchy.
 *
 * Order of work, and why:
 * 1. Validate the limits and check the root offers their controllers.
 * 2. Walk from the root down to the pod's parent; at each level make the dir
 *    if needed (shared parents stay) and enable +cpu +memory +pids (those the
 *    root offers) in its cgroup.subtree_control, so the pod's dir gets the
 *    controllers' files. Top-down, because a cgroup can only enable what its
 *    parent enabled for it (ENOENT otherwise). Only missing controllers are
 *    written, so ancestors already set up (by systemd, say) are not touched.
 * 3. mkdir the pod's dir and write memory.max, cpu.max "QUOTA 100000",
 *    cpu.weight, pids.max: all before stage1's PID 1 joins. The pod's own
 *    subtree_control stays empty, or its PID 1 could not join.
 * Any failure rmdirs the pod dir and rethrows.
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
 * for the caller's own unit (default placement), never for an explicit
 * `parent`: there an EBUSY is reported with what to do. The unit must
 * delegate the controllers (Delegate=yes), or enabling says ENOENT.
 */
import { CgroupError } from '../errors.js';
import { errnoCode, type CgroupFs } from './cgroup-fs.js';
import { DEFAULT_RETRY, cgroupDir, cgroupError, dirsDown, ensureDir, makePodDir, pidsIn, procsOf, readControl, removeDirs, writeControl } from './cgroup-ops.js';
import { CPU_PERIOD_US, controllersFor, cpuQuotaUs, sharesToWeight, validateLimits } from './limits.js';
import { placePod, type SelfCgroups } from './placement.js';
import { rollback } from './rollback.js';
import type { CgroupDriver, CgroupDriverOptions, PodCgroup, PodLimits } from './types.js';

/** The controllers Skiff enables for pods, when the root offers them. */
export const V2_CONTROLLERS = ['cpu', 'memory', 'pids'];

/** The leaf a unit's own processes move to, so the unit can delegate controllers to pods. */
export const SUPERVISOR_LEAF = 'skiff-supervisor';

/** Racing forks can refill the unit between the move and the write: a few tries. */
const LEAF_MOVE_TRIES = 5;

export class V2Driver implements CgroupDriver {
  readonly kind = 'v2' as const;

  constructor(
    private readonly v2: { mount: string; controllers: string[] },
    private readonly fs: CgroupFs,
    private readonly self: () => SelfCgroups,
    private readonly options: CgroupDriverOptions = {},
  ) {}

  async create(uuid: string, limits: PodLimits): Promise<PodCgroup> {
    validateLimits(limits);
    const missing = controllersFor(limits).filter((c) => !this.v2.controllers.includes(c));
    if (missing.length > 0) {
      throw new CgroupError(`cgroup2 at ${this.v2.mount} does not offer ${missing.join(', ')} for the requested limits`, {
        input: uuid,
        hint: `enable ${missing.map((c) => `+${c}`).join(' ')} in the kernel (cgroup_enable=) or drop those limits`,
      });
    }
    const place = placePod(uuid, 'v2', this.self(), this.options.parent);
    const wanted = V2_CONTROLLERS.filter((c) => this.v2.controllers.includes(c));
    const unitDir = place.unit === undefined ? undefined : cgroupDir(this.v2.mount, place.unit);
    const made: string[] = [];
    const podDir = cgroupDir(this.v2.mount, place.path);
    try {
      for (const dir of [this.v2.mount, ...dirsDown(this.v2.mount, place.parent)]) {
        ensureDir(this.fs, dir);
        this.enable(dir, wanted, dir === unitDir);
      }
      makePodDir(this.fs, podDir);
      made.push(podDir);
      this.writeLimits(podDir, limits);
    } catch (err) {
      throw rollback(this.fs, made, err);
    }
    return { join: [podDir], cleanup: [podDir], path: place.path };
  }

  /** Enables the missing `wanted` controllers in dir's subtree_control. */
  private enable(dir: string, wanted: string[], isOwnUnit: boolean): void {
    const file = `${dir}/cgroup.subtree_control`;
    const present = new Set(readControl(this.fs, file).split(/\s+/));
    const value = wanted.filter((c) => !present.has(c)).map((c) => `+${c}`).join(' ');
    if (value === '') return;
    for (let attempt = 1; ; attempt++) {
      try {
        this.fs.writeFile(file, value);
        return;
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EBUSY' && isOwnUnit && attempt < LEAF_MOVE_TRIES) {
          this.moveToLeaf(dir);
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
  private moveToLeaf(unitDir: string): void {
    const leaf = `${unitDir}/${SUPERVISOR_LEAF}`;
    ensureDir(this.fs, leaf);
    for (const pid of procsOf(this.fs, unitDir)) {
      try {
        this.fs.writeFile(`${leaf}/cgroup.procs`, String(pid));
      } catch (err) {
        if (errnoCode(err) !== 'ESRCH') throw cgroupError(`write ${pid} to ${leaf}/cgroup.procs`, leaf, err);
      }
    }
  }

  private writeLimits(dir: string, limits: PodLimits): void {
    if (limits.memoryBytes !== undefined) writeControl(this.fs, `${dir}/memory.max`, String(limits.memoryBytes));
    if (limits.cpuMillis !== undefined) {
      writeControl(this.fs, `${dir}/cpu.max`, `${cpuQuotaUs(limits.cpuMillis)} ${CPU_PERIOD_US}`);
    }
    if (limits.cpuShares !== undefined) writeControl(this.fs, `${dir}/cpu.weight`, String(sharesToWeight(limits.cpuShares)));
    if (limits.pidsMax !== undefined) writeControl(this.fs, `${dir}/pids.max`, String(limits.pidsMax));
  }

  async remove(cg: PodCgroup): Promise<void> {
    await removeDirs(this.fs, cg.cleanup, this.options.removeRetry ?? DEFAULT_RETRY);
  }

  async pids(cg: PodCgroup): Promise<number[]> {
    return pidsIn(this.fs, cg.join);
  }
}

/**
 * FakeCgroupFs: an in-memory cgroupfs for unit tests, mimicking exactly the
 * kernel behaviour the drivers rely on (each rule below was measured on this
 * host's 6.18 kernel; cgroup-fs-contract.ts runs the same checks against the
 * fake and the real thing so the two cannot drift):
 *
 * - mkdir: EEXIST, ENOENT for a missing parent; a new cgroup comes with its
 *   controllers' files at their defaults (v1 cpuset.cpus/mems empty).
 * - rmdir: ENOENT when gone, EBUSY with child cgroups or processes, EBUSY on
 *   a hierarchy root.
 * - writes go to existing control files only (ENOENT otherwise) and are
 *   validated: EINVAL for garbage, a CFS quota under 1 ms or above a limited
 *   ancestor's ratio; cpu.shares clamped to 2..262144; memory limits rounded
 *   down to pages; cpuset values must lie within the parent's (EACCES).
 * - cgroup.procs: a pid is in exactly one cgroup per hierarchy; ESRCH for an
 *   unknown pid; ENOSPC joining a v1 cpuset with empty cpus or mems; v2's
 *   no-internal-processes rule (EBUSY joining a non-root cgroup that has
 *   controllers in its subtree_control, EBUSY enabling controllers in a
 *   non-root cgroup that has processes).
 * - v2: a controller's files exist only where the parent enabled it;
 *   `+ctrl` in subtree_control needs ctrl in the cgroup's cgroup.controllers
 *   (ENOENT otherwise).
 *
 * Test controls: spawn/exit processes, failNext (inject an errno on the next
 * operation on a path), busyFor (a dying cgroup: rmdir EBUSY n times).
 */
import type { CgroupFs } from './cgroup-fs.js';

export interface FakeCgroupLayout {
  /** v1 controllers → mount points, as detectCgroups() reports them (co-mounts share a mount). */
  v1?: Record<string, string>;
  /** The cgroup2 mount and its root's controllers. */
  v2?: { mount: string; controllers: string[] } | null;
  /** The v1 cpuset root's cpus and mems (default `0-1`, `0`). */
  cpus?: string;
  mems?: string;
  /** Plain files outside cgroupfs, e.g. `/proc/self/cgroup`. */
  files?: Record<string, string>;
}

interface Hierarchy {
  mount: string;
  kind: 'v1' | 'v2';
  controllers: string[];
}

interface Node {
  h: Hierarchy;
  parent: string | undefined;
  values: Map<string, string>;
  /** v2 only: cgroup.subtree_control. */
  subtree: Set<string>;
}

const UNLIMITED_BYTES = '9223372036854771712';
const PAGE = 4096;

export class FakeCgroupError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly path: string;
  constructor(code: string, syscall: string, path: string) {
    super(`${code}: fake cgroupfs, ${syscall} '${path}'`);
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }
}

const fail = (code: string, syscall: string, path: string): never => {
  throw new FakeCgroupError(code, syscall, path);
};

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `0-2,5` → {0,1,2,5}; undefined for garbage. */
function parseList(text: string): Set<number> | undefined {
  const out = new Set<number>();
  const t = text.trim();
  if (t === '') return out;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** `32M`, `1024`, `-1`/`max` → bytes (pages, rounded down) or the unlimited value. */
function parseBytes(text: string, unlimited: string): string | undefined {
  const t = text.trim();
  if (t === '-1' || t === 'max') return unlimited;
  const m = /^(\d+)([KMG]?)$/i.exec(t);
  if (m === null) return undefined;
  const scale = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase()] ?? 1;
  return String(Math.floor((Number(m[1]) * scale) / PAGE) * PAGE);
}

const isUint = (t: string) => /^\d+$/.test(t.trim());

export class FakeCgroupFs implements CgroupFs {
  private readonly hierarchies: Hierarchy[] = [];
  private readonly nodes = new Map<string, Node>();
  private readonly plain = new Map<string, string>();
  /** pid → (mount → cgroup dir). */
  private readonly procs = new Map<number, Map<string, string>>();
  private readonly failures = new Map<string, { op: string; code: string }>();
  private readonly busy = new Map<string, number>();
  private nextPid = 1000;
  /** Every successful write, in order: what the drivers did, for assertions on order and values. */
  readonly writes: { path: string; value: string }[] = [];

  constructor(layout: FakeCgroupLayout) {
    const byMount = new Map<string, string[]>();
    for (const [controller, mount] of Object.entries(layout.v1 ?? {})) {
      byMount.set(mount, [...(byMount.get(mount) ?? []), controller]);
    }
    for (const [mount, controllers] of byMount) this.hierarchies.push({ mount, kind: 'v1', controllers });
    if (layout.v2) this.hierarchies.push({ mount: layout.v2.mount, kind: 'v2', controllers: [...layout.v2.controllers] });
    for (const h of this.hierarchies) {
      const root: Node = { h, parent: undefined, values: this.defaults(h, true), subtree: new Set() };
      if (h.controllers.includes('cpuset')) {
        root.values.set('cpuset.cpus', layout.cpus ?? '0-1');
        root.values.set('cpuset.mems', layout.mems ?? '0');
      }
      this.nodes.set(h.mount, root);
    }
    for (const [path, text] of Object.entries(layout.files ?? {})) this.plain.set(path, text);
  }

  // ---- test controls -------------------------------------------------------

  /** A live process, in each hierarchy's root unless `where` (mount → dir) says otherwise. */
  spawn(where: Record<string, string> = {}): number {
    const pid = this.nextPid++;
    this.procs.set(pid, new Map(this.hierarchies.map((h) => [h.mount, where[h.mount] ?? h.mount])));
    return pid;
  }

  /** The process exits and is reaped: it leaves every cgroup. */
  exit(pid: number): void {
    this.procs.delete(pid);
  }

  /** The next `op` on `path` fails with `code`. */
  failNext(path: string, code: string, op: 'write' | 'mkdir' | 'rmdir' | 'read' = 'write'): void {
    this.failures.set(path, { op, code });
  }

  /** rmdir of `path` fails EBUSY `times` times even when empty: a cgroup still dying. */
  busyFor(path: string, times: number): void {
    this.busy.set(path, times);
  }

  /** Every non-root cgroup dir, sorted. */
  cgroups(): string[] {
    return [...this.nodes].filter(([, n]) => n.parent !== undefined).map(([p]) => p).sort();
  }

  /** Sets a plain file (e.g. /proc/self/cgroup). */
  setFile(path: string, text: string): void {
    this.plain.set(path, text);
  }

  // ---- CgroupFs ------------------------------------------------------------

  mkdir(path: string): void {
    this.injected(path, 'mkdir');
    if (this.nodes.has(path) || this.fileOf(path) !== undefined) fail('EEXIST', 'mkdir', path);
    const parent = this.nodes.get(dirname(path));
    if (parent === undefined) return fail('ENOENT', 'mkdir', path);
    this.nodes.set(path, { h: parent.h, parent: dirname(path), values: this.defaults(parent.h, false), subtree: new Set() });
  }

  rmdir(path: string): void {
    this.injected(path, 'rmdir');
    const node = this.nodes.get(path);
    if (node === undefined) return fail('ENOENT', 'rmdir', path);
    if (node.parent === undefined) fail('EBUSY', 'rmdir', path);
    const busy = this.busy.get(path) ?? 0;
    if (busy > 0) {
      this.busy.set(path, busy - 1);
      fail('EBUSY', 'rmdir', path);
    }
    if (this.children(path).length > 0 || this.pidsOf(node.h, path).length > 0) fail('EBUSY', 'rmdir', path);
    this.nodes.delete(path);
  }

  readFile(path: string): string {
    this.injected(path, 'read');
    const plain = this.plain.get(path);
    if (plain !== undefined) return plain;
    if (this.nodes.has(path)) fail('EISDIR', 'read', path);
    const f = this.fileOf(path);
    if (f === undefined) return fail('ENOENT', 'open', path);
    const { node, name } = f;
    if (name === 'cgroup.procs' || name === 'tasks') return this.pidsOf(node.h, dirname(path)).map((p) => `${p}\n`).join('');
    if (name === 'cgroup.controllers') return `${this.offered(dirname(path)).join(' ')}\n`;
    if (name === 'cgroup.subtree_control') return `${[...node.subtree].sort().join(' ')}\n`;
    return `${node.values.get(name) ?? ''}\n`;
  }

  writeFile(path: string, value: string): void {
    this.injected(path, 'write');
    const f = this.fileOf(path);
    if (f === undefined) return fail('ENOENT', 'open', path);
    this.write(dirname(path), f.node, f.name, value);
    this.writes.push({ path, value });
  }

  exists(path: string): boolean {
    return this.plain.has(path) || this.nodes.has(path) || this.fileOf(path) !== undefined;
  }

  // ---- the model -----------------------------------------------------------

  private injected(path: string, op: string): void {
    const f = this.failures.get(path);
    if (f === undefined || f.op !== op) return;
    this.failures.delete(path);
    fail(f.code, op, path);
  }

  private defaults(h: Hierarchy, root: boolean): Map<string, string> {
    const v = new Map<string, string>();
    if (h.kind === 'v2') {
      v.set('memory.max', 'max').set('cpu.max', 'max 100000').set('cpu.weight', '100').set('pids.max', 'max');
      return v;
    }
    v.set('cgroup.clone_children', '0').set('notify_on_release', '0');
    for (const c of h.controllers) {
      if (c === 'memory') v.set('memory.limit_in_bytes', UNLIMITED_BYTES).set('memory.usage_in_bytes', '0');
      if (c === 'cpu') v.set('cpu.cfs_period_us', '100000').set('cpu.cfs_quota_us', '-1').set('cpu.shares', '1024');
      if (c === 'cpuacct') v.set('cpuacct.usage', '0');
      if (c === 'cpuset') v.set('cpuset.cpus', '').set('cpuset.mems', '');
      if (c === 'pids' && !root) v.set('pids.max', 'max');
      if (c === 'freezer' && !root) v.set('freezer.state', 'THAWED');
      if (c === 'devices') v.set('devices.list', 'a *:* rwm').set('devices.allow', '').set('devices.deny', '');
    }
    return v;
  }

  /** The cgroup node and control file name a path names, if it exists. */
  private fileOf(path: string): { node: Node; name: string } | undefined {
    const node = this.nodes.get(dirname(path));
    if (node === undefined) return undefined;
    const name = basename(path);
    const always = node.h.kind === 'v1'
      ? ['cgroup.procs', 'tasks']
      : ['cgroup.procs', 'cgroup.controllers', 'cgroup.subtree_control', 'cgroup.type', 'cgroup.events'];
    if (always.includes(name)) return { node, name };
    if (!node.values.has(name)) return undefined;
    if (node.h.kind === 'v2') {
      // A controller's interface files appear where the parent enabled the controller.
      if (node.parent === undefined) return undefined;
      if (!this.offered(dirname(path)).includes(name.split('.')[0] ?? '')) return undefined;
    }
    return { node, name };
  }

  private children(dir: string): string[] {
    return [...this.nodes].filter(([, n]) => n.parent === dir).map(([p]) => p);
  }

  private pidsOf(h: Hierarchy, dir: string): number[] {
    return [...this.procs].filter(([, m]) => m.get(h.mount) === dir).map(([pid]) => pid).sort((a, b) => a - b);
  }

  /** v2 cgroup.controllers: the root's own, else what the parent enabled. */
  private offered(dir: string): string[] {
    const node = this.nodes.get(dir);
    if (node === undefined) return [];
    if (node.parent === undefined) return node.h.kind === 'v2' ? node.h.controllers : [];
    return [...(this.nodes.get(node.parent)?.subtree ?? [])].sort();
  }

  private write(dir: string, node: Node, name: string, raw: string): void {
    const value = raw.trim();
    const path = `${dir}/${name}`;
    const einval = () => fail('EINVAL', 'write', path);
    switch (name) {
      case 'cgroup.procs':
      case 'tasks': return this.join(dir, node, value, path);
      case 'cgroup.subtree_control': return this.subtreeControl(dir, node, value, path);
      case 'cgroup.controllers':
      case 'cgroup.events':
      case 'memory.usage_in_bytes':
      case 'cpuacct.usage':
      case 'devices.list': return fail('EACCES', 'open', path);
      case 'memory.limit_in_bytes':
      case 'memory.max': {
        const bytes = parseBytes(value, name === 'memory.max' ? 'max' : UNLIMITED_BYTES);
        if (bytes === undefined) einval();
        node.values.set(name, bytes!);
        return;
      }
      case 'cpu.cfs_period_us': {
        if (!isUint(value) || Number(value) < 1000 || Number(value) > 1_000_000) einval();
        return this.setBandwidth(dir, node, node.values.get('cpu.cfs_quota_us') ?? '-1', value, path);
      }
      case 'cpu.cfs_quota_us': {
        if (value !== '-1' && (!isUint(value) || Number(value) < 1000)) einval();
        return this.setBandwidth(dir, node, value, node.values.get('cpu.cfs_period_us') ?? '100000', path);
      }
      case 'cpu.shares': {
        if (!isUint(value)) einval();
        node.values.set(name, String(Math.min(262_144, Math.max(2, Number(value)))));
        return;
      }
      case 'cpu.max': {
        const m = /^(max|\d+)(?: (\d+))?$/.exec(value);
        if (m === null || (m[1] !== 'max' && Number(m[1]) < 1000)) return einval();
        const period = m[2] ?? (node.values.get('cpu.max') ?? 'max 100000').split(' ')[1] ?? '100000';
        if (Number(period) < 1000 || Number(period) > 1_000_000) einval();
        node.values.set(name, `${m[1]} ${period}`);
        return;
      }
      case 'cpu.weight': {
        if (!isUint(value)) einval();
        if (Number(value) < 1 || Number(value) > 10_000) fail('ERANGE', 'write', path);
        node.values.set(name, value);
        return;
      }
      case 'pids.max': {
        if (value !== 'max' && !isUint(value)) einval();
        node.values.set(name, value);
        return;
      }
      case 'cpuset.cpus':
      case 'cpuset.mems': {
        const want = parseList(value);
        if (want === undefined) return einval();
        const parent = node.parent === undefined ? undefined : this.nodes.get(node.parent);
        const allowed = parseList(parent?.values.get(name) ?? '') ?? new Set<number>();
        if ([...want].some((c) => !allowed.has(c))) fail('EACCES', 'write', path);
        node.values.set(name, value);
        return;
      }
      case 'devices.deny':
      case 'devices.allow': {
        // The kernel's list, simplified: `deny a` empties it, an allow adds its line unless all is allowed.
        const list = node.values.get('devices.list') ?? '';
        if (name === 'devices.deny') node.values.set('devices.list', value === 'a' ? '' : list.split('\n').filter((l) => l !== value).join('\n'));
        else if (list !== 'a *:* rwm') node.values.set('devices.list', list === '' ? value : `${list}\n${value}`);
        return;
      }
      default:
        node.values.set(name, value);
    }
  }

  private join(dir: string, node: Node, value: string, path: string): void {
    if (!isUint(value)) fail('EINVAL', 'write', path);
    const where = this.procs.get(Number(value));
    if (where === undefined) return fail('ESRCH', 'write', path);
    if (node.h.controllers.includes('cpuset') && node.h.kind === 'v1'
      && ((node.values.get('cpuset.cpus') ?? '') === '' || (node.values.get('cpuset.mems') ?? '') === '')) {
      fail('ENOSPC', 'write', path);
    }
    if (node.h.kind === 'v2' && node.parent !== undefined && node.subtree.size > 0) fail('EBUSY', 'write', path);
    where.set(node.h.mount, dir);
  }

  private subtreeControl(dir: string, node: Node, value: string, path: string): void {
    for (const token of value.split(/\s+/).filter((t) => t !== '')) {
      const op = token[0];
      const controller = token.slice(1);
      if ((op !== '+' && op !== '-') || controller === '') fail('EINVAL', 'write', path);
      if (op === '+') {
        if (!this.offered(dir).includes(controller)) fail('ENOENT', 'write', path);
        if (node.parent !== undefined && this.pidsOf(node.h, dir).length > 0) fail('EBUSY', 'write', path);
        node.subtree.add(controller);
      } else {
        if (this.children(dir).some((c) => this.nodes.get(c)?.subtree.has(controller))) fail('EBUSY', 'write', path);
        node.subtree.delete(controller);
      }
    }
  }

  /** v1 CFS: a quota/period ratio above the nearest limited ancestor's, or below a limited descendant's, is EINVAL. */
  private setBandwidth(dir: string, node: Node, quota: string, period: string, path: string): void {
    const ratio = (q: string, p: string) => (q === '-1' ? Infinity : Number(q) / Number(p));
    const mine = ratio(quota, period);
    for (let up = mine === Infinity ? undefined : node.parent; up !== undefined; up = this.nodes.get(up)?.parent) {
      const a = this.nodes.get(up);
      const theirs = ratio(a?.values.get('cpu.cfs_quota_us') ?? '-1', a?.values.get('cpu.cfs_period_us') ?? '100000');
      if (theirs !== Infinity) {
        if (mine > theirs) fail('EINVAL', 'write', path);
        break;
      }
    }
    const below = [...this.nodes].filter(([p]) => p.startsWith(`${dir}/`)).map(([, n]) => n);
    const limited = below.map((n) => ratio(n.values.get('cpu.cfs_quota_us') ?? '-1', n.values.get('cpu.cfs_period_us') ?? '100000'));
    if (limited.some((r) => r !== Infinity && r > mine)) {
      fail('EINVAL', 'write', path);
    }
    node.values.set('cpu.cfs_quota_us', quota).set('cpu.cfs_period_us', period);
  }
}

/**
 * The behaviour of cgroupfs the drivers rely on, as checks that run against
 * any CgroupFs: the fake in unit tests, the real cgroupfs (as root) in
 * integration tests, so the fake cannot drift from the kernel (STYLE.md
 * point 2). Framework-free: a check throws on a mismatch; test files wrap
 * each in a test. Each works in cgroups under `base`, a cgroup the test owns,
 * and removes them again.
 *
 * The v2 checks that need controllers (the no-internal-processes rule, the
 * limit files) run against the real kernel only on a pure cgroup v2 host:
 * test/integration/cgroups-v2.test.ts, run by the VM tier (test/vm/); on a
 * hybrid host (no controllers in cgroup2) they are skipped there, visibly.
 */
import { errnoCode, type CgroupFs } from './cgroup-fs.js';

export interface ContractHierarchy {
  fs: CgroupFs;
  kind: 'v1' | 'v2';
  /** The hierarchy's controllers (v1), or the controllers offered to `base` (v2). */
  controllers: string[];
  /** An existing cgroup the test owns (v1 cpuset: cpus and mems set). */
  base: string;
  /** A live process the test owns; checks may move it, and leave it in `base`. */
  pid: number;
}

export interface ContractCheck {
  name: string;
  applies(h: ContractHierarchy): boolean;
  run(h: ContractHierarchy): void;
}

function expectCode(what: string, code: string, fn: () => unknown): void {
  let got: string | undefined;
  try {
    fn();
    got = 'success';
  } catch (err) {
    got = errnoCode(err) ?? String(err);
  }
  if (got !== code) throw new Error(`${what}: expected ${code}, got ${got}`);
}

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Makes `base/name`, runs fn, and removes it (and a `child` below it) whatever happens. */
function withChild(h: ContractHierarchy, name: string, fn: (dir: string) => void): void {
  const dir = `${h.base}/${name}`;
  h.fs.mkdir(dir);
  try {
    if (h.kind === 'v1' && h.controllers.includes('cpuset')) {
      h.fs.writeFile(`${dir}/cpuset.cpus`, h.fs.readFile(`${h.base}/cpuset.cpus`).trim());
      h.fs.writeFile(`${dir}/cpuset.mems`, h.fs.readFile(`${h.base}/cpuset.mems`).trim());
    }
    fn(dir);
  } finally {
    try {
      h.fs.writeFile(`${h.base}/cgroup.procs`, String(h.pid));
    } catch { /* the pid was never moved, or has exited */ }
    for (const d of [`${dir}/child`, dir]) {
      try {
        h.fs.rmdir(d);
      } catch { /* already gone */ }
    }
  }
}

/**
 * v2: makes `base/name` with `controllers` enabled for it. base holds h.pid, and a
 * non-root cgroup with processes cannot enable controllers, so the pid waits in a
 * leaf `base/name-pid` meanwhile; afterwards the controllers are disabled again and
 * the pid is back in base, whatever happened.
 */
function withV2Controllers(h: ContractHierarchy, name: string, controllers: string[], fn: (dir: string, leaf: string) => void): void {
  const leaf = `${h.base}/${name}-pid`;
  h.fs.mkdir(leaf);
  let enabled = false;
  try {
    withChild(h, name, (dir) => {
      h.fs.writeFile(`${leaf}/cgroup.procs`, String(h.pid));
      h.fs.writeFile(`${h.base}/cgroup.subtree_control`, controllers.map((c) => `+${c}`).join(' '));
      enabled = true;
      fn(dir, leaf);
    });
  } finally {
    // withChild removed dir; the leaf holds the pid unless fn moved it.
    if (enabled) h.fs.writeFile(`${h.base}/cgroup.subtree_control`, controllers.map((c) => `-${c}`).join(' '));
    try {
      h.fs.writeFile(`${h.base}/cgroup.procs`, String(h.pid));
    } catch { /* the pid has exited */ }
    h.fs.rmdir(leaf);
  }
}

const procs = (fs: CgroupFs, dir: string) => fs.readFile(`${dir}/cgroup.procs`).split('\n').filter((l) => l !== '').map(Number);

export const cgroupFsContract: ContractCheck[] = [
  {
    name: 'mkdir makes a cgroup with cgroup.procs; EEXIST when present, ENOENT under a missing parent',
    applies: () => true,
    run(h) {
      withChild(h, 'contract-mkdir', (dir) => {
        if (!h.fs.exists(`${dir}/cgroup.procs`)) throw new Error(`${dir}/cgroup.procs missing`);
        expectEqual('a new cgroup has no processes', procs(h.fs, dir), []);
        expectCode('mkdir again', 'EEXIST', () => h.fs.mkdir(dir));
        expectCode('mkdir under a missing parent', 'ENOENT', () => h.fs.mkdir(`${dir}/missing/child`));
      });
    },
  },
  {
    name: 'rmdir: EBUSY with a child cgroup, success once empty, ENOENT when gone',
    applies: () => true,
    run(h) {
      withChild(h, 'contract-rmdir', (dir) => {
        h.fs.mkdir(`${dir}/child`);
        expectCode('rmdir with a child', 'EBUSY', () => h.fs.rmdir(dir));
        h.fs.rmdir(`${dir}/child`);
        h.fs.rmdir(dir);
        expectCode('rmdir again', 'ENOENT', () => h.fs.rmdir(dir));
        if (h.fs.exists(dir)) throw new Error(`${dir} still exists`);
      });
    },
  },
  {
    name: 'a missing control file is ENOENT to write and to read',
    applies: () => true,
    run(h) {
      withChild(h, 'contract-nofile', (dir) => {
        expectCode('write', 'ENOENT', () => h.fs.writeFile(`${dir}/no.such_file`, '1'));
        expectCode('read', 'ENOENT', () => h.fs.readFile(`${dir}/no.such_file`));
        if (h.fs.exists(`${dir}/no.such_file`)) throw new Error('exists() says a missing file exists');
      });
    },
  },
  {
    name: 'cgroup.procs: a joined pid is listed and keeps rmdir EBUSY until it leaves; ESRCH, EINVAL',
    applies: () => true,
    run(h) {
      withChild(h, 'contract-procs', (dir) => {
        h.fs.writeFile(`${dir}/cgroup.procs`, String(h.pid));
        expectEqual('procs after joining', procs(h.fs, dir), [h.pid]);
        if (procs(h.fs, h.base).includes(h.pid)) throw new Error('a pid is in two cgroups of one hierarchy');
        expectCode('rmdir with a process', 'EBUSY', () => h.fs.rmdir(dir));
        h.fs.writeFile(`${h.base}/cgroup.procs`, String(h.pid));
        expectEqual('procs after leaving', procs(h.fs, dir), []);
        expectCode('join an unknown pid', 'ESRCH', () => h.fs.writeFile(`${dir}/cgroup.procs`, '999999999'));
        expectCode('join garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/cgroup.procs`, 'x'));
      });
    },
  },
  {
    name: 'v1 cpuset: a new cgroup has empty cpus and mems and refuses tasks (ENOSPC) until both are set',
    applies: (h) => h.kind === 'v1' && h.controllers.includes('cpuset'),
    run(h) {
      withChild(h, 'contract-cpuset', (dir) => {
        const child = `${dir}/child`;
        h.fs.mkdir(child);
        expectEqual('new cpus', h.fs.readFile(`${child}/cpuset.cpus`).trim(), '');
        expectEqual('new mems', h.fs.readFile(`${child}/cpuset.mems`).trim(), '');
        expectCode('join with empty cpus and mems', 'ENOSPC', () => h.fs.writeFile(`${child}/cgroup.procs`, String(h.pid)));
        h.fs.writeFile(`${child}/cpuset.mems`, h.fs.readFile(`${dir}/cpuset.mems`).trim());
        expectCode('join with empty cpus', 'ENOSPC', () => h.fs.writeFile(`${child}/cgroup.procs`, String(h.pid)));
        h.fs.writeFile(`${child}/cpuset.cpus`, h.fs.readFile(`${dir}/cpuset.cpus`).trim());
        expectCode('write garbage cpus', 'EINVAL', () => h.fs.writeFile(`${child}/cpuset.cpus`, 'x'));
        h.fs.writeFile(`${child}/cgroup.procs`, String(h.pid));
        expectEqual('procs', procs(h.fs, child), [h.pid]);
      });
    },
  },
  {
    name: 'v1 memory: a limit reads back in bytes; garbage is EINVAL',
    applies: (h) => h.kind === 'v1' && h.controllers.includes('memory'),
    run(h) {
      withChild(h, 'contract-memory', (dir) => {
        h.fs.writeFile(`${dir}/memory.limit_in_bytes`, String(32 << 20));
        expectEqual('limit', h.fs.readFile(`${dir}/memory.limit_in_bytes`).trim(), String(32 << 20));
        h.fs.writeFile(`${dir}/memory.limit_in_bytes`, '32M');
        expectEqual('limit with suffix', h.fs.readFile(`${dir}/memory.limit_in_bytes`).trim(), String(32 << 20));
        expectCode('garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/memory.limit_in_bytes`, 'lots'));
      });
    },
  },
  {
    name: 'v1 cpu: quota under 1 ms and above the parent\'s ratio are EINVAL; shares are clamped to 2..262144',
    applies: (h) => h.kind === 'v1' && h.controllers.includes('cpu'),
    run(h) {
      withChild(h, 'contract-cpu', (dir) => {
        const child = `${dir}/child`;
        expectEqual('default quota', h.fs.readFile(`${dir}/cpu.cfs_quota_us`).trim(), '-1');
        expectEqual('default period', h.fs.readFile(`${dir}/cpu.cfs_period_us`).trim(), '100000');
        expectCode('quota 999', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.cfs_quota_us`, '999'));
        expectCode('period 999', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.cfs_period_us`, '999'));
        h.fs.writeFile(`${dir}/cpu.cfs_quota_us`, '20000');
        h.fs.mkdir(child);
        h.fs.writeFile(`${child}/cpu.cfs_period_us`, '100000');
        expectCode('child quota above the parent\'s', 'EINVAL', () => h.fs.writeFile(`${child}/cpu.cfs_quota_us`, '100000'));
        h.fs.writeFile(`${child}/cpu.cfs_quota_us`, '10000');
        expectCode('parent quota below the child\'s', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.cfs_quota_us`, '5000'));
        h.fs.writeFile(`${dir}/cpu.cfs_quota_us`, '-1');
        h.fs.writeFile(`${child}/cpu.shares`, '1');
        expectEqual('shares 1', h.fs.readFile(`${child}/cpu.shares`).trim(), '2');
        h.fs.writeFile(`${child}/cpu.shares`, '999999');
        expectEqual('shares 999999', h.fs.readFile(`${child}/cpu.shares`).trim(), '262144');
        expectCode('shares garbage', 'EINVAL', () => h.fs.writeFile(`${child}/cpu.shares`, 'abc'));
      });
    },
  },
  {
    name: 'v1 pids: pids.max takes a number or max; garbage is EINVAL',
    applies: (h) => h.kind === 'v1' && h.controllers.includes('pids'),
    run(h) {
      withChild(h, 'contract-pids', (dir) => {
        expectEqual('default', h.fs.readFile(`${dir}/pids.max`).trim(), 'max');
        h.fs.writeFile(`${dir}/pids.max`, '8');
        expectEqual('limit', h.fs.readFile(`${dir}/pids.max`).trim(), '8');
        h.fs.writeFile(`${dir}/pids.max`, 'max');
        expectCode('garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/pids.max`, 'abc'));
      });
    },
  },
  {
    name: 'v2: enabling a controller the cgroup is not offered is ENOENT',
    applies: (h) => h.kind === 'v2',
    run(h) {
      withChild(h, 'contract-subtree', (dir) => {
        const offered = h.fs.readFile(`${dir}/cgroup.controllers`).split(/\s+/);
        const absent = ['memory', 'pids', 'cpu', 'io', 'hugetlb', 'rdma', 'misc'].find((c) => !offered.includes(c));
        // A fresh child is offered only what its base enabled (nothing, unless the test did): never a silent pass.
        if (absent === undefined) throw new Error(`${dir} is offered every controller: nothing left to check ENOENT with`);
        expectCode(`+${absent}`, 'ENOENT', () => h.fs.writeFile(`${dir}/cgroup.subtree_control`, `+${absent}`));
        expectEqual('subtree_control unchanged', h.fs.readFile(`${dir}/cgroup.subtree_control`).trim(), '');
      });
    },
  },
  {
    name: 'v2 no internal processes: a cgroup holding processes cannot enable controllers, one that enabled them cannot take processes (EBUSY); controller files appear only below an enabling parent',
    applies: (h) => h.kind === 'v2' && ['memory', 'pids'].every((c) => h.controllers.includes(c)),
    run(h) {
      expectCode('enable in a cgroup holding a process', 'EBUSY', () => h.fs.writeFile(`${h.base}/cgroup.subtree_control`, '+memory'));
      expectEqual('base subtree_control unchanged', h.fs.readFile(`${h.base}/cgroup.subtree_control`).trim(), '');
      withV2Controllers(h, 'contract-nip', ['memory', 'pids'], (dir, leaf) => {
        expectEqual('offered below base', h.fs.readFile(`${dir}/cgroup.controllers`).trim(), 'memory pids');
        if (!h.fs.exists(`${dir}/memory.max`)) throw new Error(`${dir}/memory.max missing though base enabled memory`);
        expectCode('join a cgroup with controllers enabled', 'EBUSY', () => h.fs.writeFile(`${h.base}/cgroup.procs`, String(h.pid)));
        h.fs.mkdir(`${dir}/child`);
        if (h.fs.exists(`${dir}/child/memory.max`)) throw new Error('memory.max below a parent that did not enable memory');
        h.fs.writeFile(`${dir}/cgroup.subtree_control`, '+memory');
        expectEqual('subtree_control', h.fs.readFile(`${dir}/cgroup.subtree_control`).trim(), 'memory');
        if (!h.fs.exists(`${dir}/child/memory.max`)) throw new Error('memory.max missing once the parent enabled memory');
        if (h.fs.exists(`${dir}/child/pids.max`)) throw new Error('pids.max below a parent that enabled only memory');
        expectCode('disable in base while a child enables it', 'EBUSY', () => h.fs.writeFile(`${h.base}/cgroup.subtree_control`, '-memory'));
        h.fs.writeFile(`${dir}/child/cgroup.procs`, String(h.pid));
        expectCode('enable in the child holding the process', 'EBUSY', () => h.fs.writeFile(`${dir}/child/cgroup.subtree_control`, '+memory'));
        h.fs.writeFile(`${leaf}/cgroup.procs`, String(h.pid));
        h.fs.rmdir(`${dir}/child`);
        h.fs.writeFile(`${dir}/cgroup.subtree_control`, '-memory');
      });
    },
  },
  {
    name: 'v2 limits: memory.max, cpu.max, cpu.weight, pids.max start unlimited and read back; garbage is EINVAL, a weight out of 1..10000 ERANGE',
    applies: (h) => h.kind === 'v2' && ['cpu', 'memory', 'pids'].every((c) => h.controllers.includes(c)),
    run(h) {
      withV2Controllers(h, 'contract-v2-limits', ['cpu', 'memory', 'pids'], (dir) => {
        const read = (file: string) => h.fs.readFile(`${dir}/${file}`).trim();
        expectEqual('default memory.max', read('memory.max'), 'max');
        expectEqual('default cpu.max', read('cpu.max'), 'max 100000');
        expectEqual('default cpu.weight', read('cpu.weight'), '100');
        expectEqual('default pids.max', read('pids.max'), 'max');
        h.fs.writeFile(`${dir}/memory.max`, String(32 << 20));
        expectEqual('memory.max', read('memory.max'), String(32 << 20));
        h.fs.writeFile(`${dir}/memory.max`, '48M');
        expectEqual('memory.max with suffix', read('memory.max'), String(48 << 20));
        expectCode('memory.max garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/memory.max`, 'lots'));
        h.fs.writeFile(`${dir}/cpu.max`, '50000 100000');
        expectEqual('cpu.max', read('cpu.max'), '50000 100000');
        h.fs.writeFile(`${dir}/cpu.max`, '20000');
        expectEqual('cpu.max quota alone keeps the period', read('cpu.max'), '20000 100000');
        expectCode('cpu.max quota under 1 ms', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.max`, '999 100000'));
        expectCode('cpu.max garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.max`, 'fast'));
        h.fs.writeFile(`${dir}/cpu.max`, 'max');
        expectEqual('cpu.max back to max', read('cpu.max'), 'max 100000');
        h.fs.writeFile(`${dir}/cpu.weight`, '39');
        expectEqual('cpu.weight', read('cpu.weight'), '39');
        expectCode('cpu.weight 0', 'ERANGE', () => h.fs.writeFile(`${dir}/cpu.weight`, '0'));
        expectCode('cpu.weight 10001', 'ERANGE', () => h.fs.writeFile(`${dir}/cpu.weight`, '10001'));
        expectCode('cpu.weight garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/cpu.weight`, 'abc'));
        h.fs.writeFile(`${dir}/pids.max`, '8');
        expectEqual('pids.max', read('pids.max'), '8');
        expectCode('pids.max garbage', 'EINVAL', () => h.fs.writeFile(`${dir}/pids.max`, 'abc'));
      });
    },
  },
];

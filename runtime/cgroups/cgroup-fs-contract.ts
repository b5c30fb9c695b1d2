/**
 * The behaviour of cgroupfs the drivers rely on, as checks that run against
 * any CgroupFs: the fake in unit tests, the real cgroupfs (as root) in
 * integration tests, so the fake cannot drift from the kernel (STYLE.md
 * point 2). Framework-free: a check throws on a mismatch; test files wrap
 * each in a test. Each works in cgroups under `base`, a cgroup the test owns,
 * and removes them again.
 *
 * Not covered on the real side here: v2's no-internal-processes rule needs a
 * cgroup2 hierarchy with controllers (this host's has none below the root,
 * and the root's subtree_control is not ours to change); the fake models it
 * from the kernel's documented rules and test/unit/cgroups-fake-fs.test.ts
 * pins it.
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
];

/**
 * The fake cgroupfs: the shared contract (the same checks run against the
 * real cgroupfs in test/integration/cgroups-v1.test.ts), then the rules only
 * the fake can show here (v2's no-internal-processes rule, dying cgroups,
 * injected failures).
 */
import test from 'ava';
import { cgroupFsContract, type ContractHierarchy } from '../../runtime/cgroups/cgroup-fs-contract.js';
import { FakeCgroupFs } from '../../runtime/cgroups/fake-cgroup-fs.js';
import { fakeLayouts } from '../../runtime/cgroups/fake-layouts.js';
import { v1Hierarchies } from '../../runtime/cgroups/v1-driver.js';

function v1Contexts(): ContractHierarchy[] {
  const fs = new FakeCgroupFs(fakeLayouts.hybrid);
  return v1Hierarchies(fakeLayouts.hybrid.v1).map(({ mount, controllers }) => {
    const base = `${mount}/skiff-test-contract`;
    fs.mkdir(base);
    if (controllers.includes('cpuset')) {
      fs.writeFile(`${base}/cpuset.cpus`, '0-1');
      fs.writeFile(`${base}/cpuset.mems`, '0');
    }
    const pid = fs.spawn();
    fs.writeFile(`${base}/cgroup.procs`, String(pid));
    return { fs, kind: 'v1' as const, controllers, base, pid };
  });
}

function v2Context(): ContractHierarchy {
  const fs = new FakeCgroupFs(fakeLayouts.v2);
  const base = '/sys/fs/cgroup/skiff-test-contract';
  // As the v2 driver does (and test/integration/cgroups-v2.test.ts): the root enables them for its children.
  fs.writeFile('/sys/fs/cgroup/cgroup.subtree_control', '+cpu +memory +pids');
  fs.mkdir(base);
  const pid = fs.spawn();
  fs.writeFile(`${base}/cgroup.procs`, String(pid));
  return { fs, kind: 'v2', controllers: fs.readFile(`${base}/cgroup.controllers`).trim().split(/\s+/), base, pid };
}

for (const check of cgroupFsContract) {
  test(`contract (fake): ${check.name}`, (t) => {
    const contexts = [...v1Contexts(), v2Context()].filter((h) => check.applies(h));
    t.true(contexts.length > 0);
    for (const h of contexts) t.notThrows(() => check.run(h), h.base);
    // Every check cleans up after itself.
    for (const h of contexts) t.deepEqual(h.fs.readFile(`${h.base}/cgroup.procs`), `${h.pid}\n`);
  });
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
};

test('v2: controller files appear in a child once the parent enables them', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.v2);
  fs.mkdir('/sys/fs/cgroup/a');
  t.false(fs.exists('/sys/fs/cgroup/a/memory.max'));
  t.is(fs.readFile('/sys/fs/cgroup/a/cgroup.controllers'), '\n');
  fs.writeFile('/sys/fs/cgroup/cgroup.subtree_control', '+memory +pids');
  t.true(fs.exists('/sys/fs/cgroup/a/memory.max'));
  t.false(fs.exists('/sys/fs/cgroup/a/cpu.max'));
  t.is(fs.readFile('/sys/fs/cgroup/a/cgroup.controllers'), 'memory pids\n');
  t.false(fs.exists('/sys/fs/cgroup/memory.max'), 'the root has no limit files');
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/a/cgroup.subtree_control', '+cpu')), 'ENOENT');
});

test('v2 no-internal-processes: no enabling with processes inside, no joining with controllers enabled', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.v2);
  fs.writeFile('/sys/fs/cgroup/cgroup.subtree_control', '+memory');
  fs.mkdir('/sys/fs/cgroup/a');
  const pid = fs.spawn();
  fs.writeFile('/sys/fs/cgroup/a/cgroup.procs', String(pid));
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/a/cgroup.subtree_control', '+memory')), 'EBUSY');
  fs.writeFile('/sys/fs/cgroup/cgroup.procs', String(pid));
  fs.writeFile('/sys/fs/cgroup/a/cgroup.subtree_control', '+memory');
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/a/cgroup.procs', String(pid))), 'EBUSY');
  t.is(fs.readFile('/sys/fs/cgroup/a/cgroup.subtree_control'), 'memory\n');
  // The root is exempt.
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/cgroup.subtree_control', '+pids')), undefined);
});

test('v1 cpuset: values outside the parent\'s are EACCES', (t) => {
  const fs = new FakeCgroupFs({ ...fakeLayouts.hybrid, cpus: '0-3', mems: '0' });
  fs.mkdir('/sys/fs/cgroup/cpuset/a');
  fs.writeFile('/sys/fs/cgroup/cpuset/a/cpuset.cpus', '1-2');
  fs.mkdir('/sys/fs/cgroup/cpuset/a/b');
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/cpuset/a/b/cpuset.cpus', '0')), 'EACCES');
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/cpuset/a/b/cpuset.mems', '0')), 'EACCES', 'the parent\'s mems are empty');
  fs.writeFile('/sys/fs/cgroup/cpuset/a/b/cpuset.cpus', '2');
});

test('a dying cgroup: rmdir is EBUSY the given number of times', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.hybrid);
  fs.mkdir('/sys/fs/cgroup/pids/a');
  fs.busyFor('/sys/fs/cgroup/pids/a', 2);
  t.is(code(() => fs.rmdir('/sys/fs/cgroup/pids/a')), 'EBUSY');
  t.is(code(() => fs.rmdir('/sys/fs/cgroup/pids/a')), 'EBUSY');
  t.is(code(() => fs.rmdir('/sys/fs/cgroup/pids/a')), undefined);
  t.is(code(() => fs.rmdir('/sys/fs/cgroup/pids')), 'EBUSY', 'a hierarchy root');
});

test('failNext fails one operation on one path, then behaves', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.hybrid);
  fs.mkdir('/sys/fs/cgroup/pids/a');
  fs.failNext('/sys/fs/cgroup/pids/a/pids.max', 'EIO');
  t.is(code(() => fs.writeFile('/sys/fs/cgroup/pids/a/pids.max', '5')), 'EIO');
  fs.writeFile('/sys/fs/cgroup/pids/a/pids.max', '5');
  t.is(fs.readFile('/sys/fs/cgroup/pids/a/pids.max'), '5\n');
  t.deepEqual(fs.cgroups(), ['/sys/fs/cgroup/pids/a']);
});

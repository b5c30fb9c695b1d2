/**
 * Cgroup plans: the drivers' `plan` touches no cgroupfs and lists the ops in
 * the order the design notes give (v1: cpuset first, each level filled after
 * its mkdir, CFS period before quota; v2: enable top-down, then the pod dir,
 * then limits); applyCgroupPlan runs them and rolls back the dirs it made;
 * encodeCgroupOp writes the launcher's lines and refuses what they cannot carry.
 */
import test from 'ava';
import { CgroupError } from '../../runtime/errors.js';
import type { CgroupFs } from '../../runtime/cgroups/cgroup-fs.js';
import { applyCgroupPlan, encodeCgroupOp, type CgroupOp } from '../../runtime/cgroups/cgroup-plan.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/cgroups/devices.js';
import { FakeCgroupFs } from '../../runtime/cgroups/fake-cgroup-fs.js';
import { fakeLayouts } from '../../runtime/cgroups/fake-layouts.js';
import { parseSelfCgroups } from '../../runtime/cgroups/placement.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import type { CgroupDriverOptions } from '../../runtime/cgroups/types.js';
import { V1Driver } from '../../runtime/cgroups/v1-driver.js';
import { V2Driver } from '../../runtime/cgroups/v2-driver.js';

const UUID = '6f1c2b9e-3d4a-4b5c-9e8f-0a1b2c3d4e5f';
const C = '/sys/fs/cgroup';
const UNIT = '/system.slice/skiff-run.service';
const NO_SYSTEMD = '9:name=systemd:/\n8:pids:/\n0::/\n';
const IN_UNIT = `9:name=systemd:${UNIT}\n0::${UNIT}\n`;
const ALL_LIMITS = { memoryBytes: 32 << 20, cpuMillis: 750, cpuShares: 1024, pidsMax: 64 };

/** A cgroupfs that fails the test on any call: plan() must not need one. */
const untouchable: CgroupFs = {
  mkdir: (p) => { throw new Error(`plan touched cgroupfs: mkdir ${p}`); },
  rmdir: (p) => { throw new Error(`plan touched cgroupfs: rmdir ${p}`); },
  readFile: (p) => { throw new Error(`plan touched cgroupfs: read ${p}`); },
  writeFile: (p) => { throw new Error(`plan touched cgroupfs: write ${p}`); },
  exists: (p) => { throw new Error(`plan touched cgroupfs: exists ${p}`); },
};

const v1 = (self: string, options: CgroupDriverOptions = {}) =>
  new V1Driver(fakeLayouts.hybrid.v1, untouchable, () => parseSelfCgroups(self), options);
const v2 = (self: string, options: CgroupDriverOptions = {}) =>
  new V2Driver(fakeLayouts.v2.v2, untouchable, () => parseSelfCgroups(self), options);

test('plan touches no cgroupfs: either driver, any placement, with limits; bad requests throw as create does', (t) => {
  for (const driver of [v1(NO_SYSTEMD), v1(IN_UNIT), v1(IN_UNIT, { parent: '/t' }), v2('0::/\n'), v2(IN_UNIT), v2(IN_UNIT, { parent: '/' })]) {
    t.notThrows(() => driver.plan(UUID, ALL_LIMITS), `${driver.kind}`);
    t.notThrows(() => driver.plan(UUID, {}), `${driver.kind}`);
    t.throws(() => driver.plan(UUID, { memoryBytes: -1 }), { instanceOf: CgroupError, message: /memoryBytes -1/ });
    t.throws(() => driver.plan('../x', {}), { instanceOf: CgroupError, message: /invalid pod UUID/ });
  }
  const noPids = new V1Driver({ memory: `${C}/memory` }, untouchable, () => parseSelfCgroups(''), { parent: '/t' });
  t.throws(() => noPids.plan(UUID, { pidsMax: 5 }), { instanceOf: CgroupError, message: /no cgroup v1 pids hierarchy/ });
  const noCpu = new V2Driver({ mount: C, controllers: ['memory', 'pids'] }, untouchable, () => parseSelfCgroups(''));
  t.throws(() => noCpu.plan(UUID, { cpuMillis: 500 }), { instanceOf: CgroupError, message: /does not offer cpu/ });
});

test('v1 plan (this host\'s layout): cpuset levels top-down each filled after its mkdir, other hierarchies, then limits, period before quota, then the device list (deny all first)', (t) => {
  const plan = v1(NO_SYSTEMD).plan(UUID, ALL_LIMITS);
  const fills = (dir: string, parent: string): CgroupOp[] => [
    { op: 'fill', dir, parent, file: 'cpuset.cpus' },
    { op: 'fill', dir, parent, file: 'cpuset.mems' },
  ];
  const others = ['blkio', 'cpu', 'cpuacct', 'devices', 'freezer', 'memory', 'pids'];
  t.deepEqual(plan.ops, [
    { op: 'ensure', dir: `${C}/cpuset/skiff` },
    ...fills(`${C}/cpuset/skiff`, `${C}/cpuset`),
    { op: 'make', dir: `${C}/cpuset/skiff/${UUID}` },
    ...fills(`${C}/cpuset/skiff/${UUID}`, `${C}/cpuset/skiff`),
    ...others.flatMap((h): CgroupOp[] => [
      { op: 'ensure', dir: `${C}/${h}/skiff` },
      { op: 'make', dir: `${C}/${h}/skiff/${UUID}` },
    ]),
    { op: 'write', path: `${C}/memory/skiff/${UUID}/memory.limit_in_bytes`, value: String(32 << 20) },
    { op: 'write', path: `${C}/cpu/skiff/${UUID}/cpu.cfs_period_us`, value: '100000' },
    { op: 'write', path: `${C}/cpu/skiff/${UUID}/cpu.cfs_quota_us`, value: '75000' },
    { op: 'write', path: `${C}/cpu/skiff/${UUID}/cpu.shares`, value: '1024' },
    { op: 'write', path: `${C}/pids/skiff/${UUID}/pids.max`, value: '64' },
    { op: 'write', path: `${C}/devices/skiff/${UUID}/devices.deny`, value: 'a' },
    ...DEFAULT_DEVICE_RULES.map((value): CgroupOp => ({ op: 'write', path: `${C}/devices/skiff/${UUID}/devices.allow`, value })),
  ]);
  const podDirs = ['cpuset', ...others].map((h) => `${C}/${h}/skiff/${UUID}`);
  t.deepEqual(plan.cgroup, { join: podDirs, cleanup: [...podDirs].reverse(), path: `/skiff/${UUID}` });
});

test('v2 plan under a systemd unit: ensure + enable from the root down (only the unit is ownUnit), the pod dir, then limits', (t) => {
  const wanted = ['cpu', 'memory', 'pids'];
  const pod = `${C}${UNIT}/skiff-${UUID}`;
  const plan = v2(IN_UNIT).plan(UUID, ALL_LIMITS);
  t.deepEqual(plan.ops, [
    { op: 'ensure', dir: C },
    { op: 'enable', dir: C, controllers: wanted, ownUnit: false },
    { op: 'ensure', dir: `${C}/system.slice` },
    { op: 'enable', dir: `${C}/system.slice`, controllers: wanted, ownUnit: false },
    { op: 'ensure', dir: `${C}${UNIT}` },
    { op: 'enable', dir: `${C}${UNIT}`, controllers: wanted, ownUnit: true },
    { op: 'make', dir: pod },
    { op: 'write', path: `${pod}/memory.max`, value: String(32 << 20) },
    { op: 'write', path: `${pod}/cpu.max`, value: '75000 100000' },
    { op: 'write', path: `${pod}/cpu.weight`, value: '39' },
    { op: 'write', path: `${pod}/pids.max`, value: '64' },
  ]);
  t.deepEqual(plan.cgroup, { join: [pod], cleanup: [pod], path: `${UNIT}/skiff-${UUID}` });
  const explicit = v2(IN_UNIT, { parent: UNIT }).plan(UUID, {});
  t.false(explicit.ops.some((op) => op.op === 'enable' && op.ownUnit), 'an explicit parent is never treated as the own unit');
});

test('applying a plan does what create does', async (t) => {
  const run = (self: string, layout: typeof fakeLayouts.hybrid | typeof fakeLayouts.v2) => {
    const fs = new FakeCgroupFs({ ...layout, files: { '/proc/self/cgroup': self } });
    return { fs, driver: cgroupDriverFor({ mode: layout === fakeLayouts.v2 ? 'v2' : 'hybrid', ...layout }, fs) };
  };
  for (const layout of [fakeLayouts.hybrid, fakeLayouts.v2]) {
    const viaCreate = run(NO_SYSTEMD, layout);
    const cg = await viaCreate.driver.create(UUID, ALL_LIMITS);
    const viaPlan = run(NO_SYSTEMD, layout);
    const plan = viaPlan.driver.plan(UUID, ALL_LIMITS);
    applyCgroupPlan(viaPlan.fs, plan);
    t.deepEqual(plan.cgroup, cg);
    t.deepEqual(viaPlan.fs.writes, viaCreate.fs.writes);
    t.deepEqual(viaPlan.fs.cgroups(), viaCreate.fs.cgroups());
  }
});

test('applyCgroupPlan: a failing write rolls back the dirs made, newest first, keeps ensured parents, names file and errno', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.hybrid);
  const plan = {
    ops: [
      { op: 'ensure', dir: `${C}/memory/t` },
      { op: 'make', dir: `${C}/memory/t/a` },
      { op: 'ensure', dir: `${C}/pids/t` },
      { op: 'make', dir: `${C}/pids/t/a` },
      { op: 'write', path: `${C}/memory/t/a/memory.limit_in_bytes`, value: String(1 << 30) },
      { op: 'write', path: `${C}/pids/t/a/pids.max`, value: '8' },
    ] satisfies CgroupOp[],
    cgroup: { join: [`${C}/memory/t/a`, `${C}/pids/t/a`], cleanup: [`${C}/pids/t/a`, `${C}/memory/t/a`], path: '/t/a' },
  };
  fs.failNext(`${C}/pids/t/a/pids.max`, 'EINVAL');
  const err = t.throws(() => applyCgroupPlan(fs, plan), { instanceOf: CgroupError });
  t.is(err?.message, `write 8 to ${C}/pids/t/a/pids.max: EINVAL`);
  t.is(err?.input, `${C}/pids/t/a/pids.max`);
  t.deepEqual(fs.cgroups(), [`${C}/memory/t`, `${C}/pids/t`]);
});

test('applyCgroupPlan: ensure accepts an existing dir; make refuses one (EEXIST) and does not remove it', (t) => {
  const fs = new FakeCgroupFs(fakeLayouts.hybrid);
  fs.mkdir(`${C}/memory/t`);
  fs.mkdir(`${C}/memory/t/a`);
  const cgroup = { join: [], cleanup: [], path: '/t/a' };
  t.notThrows(() => applyCgroupPlan(fs, { ops: [{ op: 'ensure', dir: `${C}/memory/t` }], cgroup }));
  const err = t.throws(() => applyCgroupPlan(fs, {
    ops: [{ op: 'make', dir: `${C}/pids/a` }, { op: 'make', dir: `${C}/memory/t/a` }],
    cgroup,
  }), { instanceOf: CgroupError });
  t.is(err?.message, `mkdir ${C}/memory/t/a: EEXIST`);
  t.deepEqual(fs.cgroups(), [`${C}/memory/t`, `${C}/memory/t/a`], 'the pod dir made before is rolled back, the existing one stays');
});

test('encodeCgroupOp: one tab-separated line per op', (t) => {
  t.is(encodeCgroupOp({ op: 'ensure', dir: `${C}/skiff` }), `ensure\t${C}/skiff`);
  t.is(encodeCgroupOp({ op: 'make', dir: `${C}/skiff/u` }), `make\t${C}/skiff/u`);
  t.is(encodeCgroupOp({ op: 'fill', dir: `${C}/cpuset/s`, parent: `${C}/cpuset`, file: 'cpuset.cpus' }), `fill\t${C}/cpuset/s\t${C}/cpuset\tcpuset.cpus`);
  t.is(encodeCgroupOp({ op: 'enable', dir: C, controllers: ['cpu', 'memory', 'pids'], ownUnit: false }), `enable\t${C}\t0\tcpu,memory,pids`);
  t.is(encodeCgroupOp({ op: 'enable', dir: `${C}${UNIT}`, controllers: ['memory'], ownUnit: true }), `enable\t${C}${UNIT}\t1\tmemory`);
  t.is(encodeCgroupOp({ op: 'write', path: `${C}/u/cpu.max`, value: '75000 100000' }), `write\t${C}/u/cpu.max\t75000 100000`);
});

test('encodeCgroupOp refuses a tab, newline or NUL in any field, an empty field, and a bad controller name', (t) => {
  for (const bad of ['a\tb', 'a\nb', 'a\0b']) {
    const ops: CgroupOp[] = [
      { op: 'ensure', dir: bad },
      { op: 'make', dir: bad },
      { op: 'fill', dir: bad, parent: C, file: 'cpuset.cpus' },
      { op: 'fill', dir: C, parent: bad, file: 'cpuset.cpus' },
      { op: 'fill', dir: C, parent: C, file: bad },
      { op: 'enable', dir: bad, controllers: ['cpu'], ownUnit: false },
      { op: 'enable', dir: C, controllers: ['cpu', bad], ownUnit: false },
      { op: 'write', path: bad, value: '1' },
      { op: 'write', path: `${C}/pids.max`, value: bad },
    ];
    for (const op of ops) t.throws(() => encodeCgroupOp(op), { instanceOf: Error }, JSON.stringify(op));
  }
  for (const op of [
    { op: 'write', path: `${C}/pids.max`, value: '' },
    { op: 'enable', dir: C, controllers: [], ownUnit: false },
    { op: 'enable', dir: C, controllers: ['cpu,memory'], ownUnit: false },
    { op: 'enable', dir: C, controllers: [''], ownUnit: false },
  ] satisfies CgroupOp[]) {
    t.throws(() => encodeCgroupOp(op), { instanceOf: Error }, JSON.stringify(op));
  }
});

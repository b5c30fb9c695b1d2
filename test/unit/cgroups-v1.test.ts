/**
 * The v1 driver against the fake cgroupfs, on this host's layout (hybrid,
 * cpu and cpuacct apart): placement, the values and order of writes, cpuset
 * first, rollback, idempotent remove, pids.
 */
import test from 'ava';
import { CgroupError } from '../../runtime/errors.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/cgroups/devices.js';
import { FakeCgroupFs } from '../../runtime/cgroups/fake-cgroup-fs.js';
import { fakeLayouts } from '../../runtime/cgroups/fake-layouts.js';
import type { CgroupDriverOptions } from '../../runtime/cgroups/types.js';

const UUID = '6f1c2b9e-3d4a-4b5c-9e8f-0a1b2c3d4e5f';
const NO_SYSTEMD = '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n';
const IN_UNIT = '9:name=systemd:/system.slice/skiff-run.service\n4:memory:/system.slice/skiff-run.service\n0::/system.slice/skiff-run.service\n';
const HIERARCHIES = ['cpuset', 'blkio', 'cpu', 'cpuacct', 'devices', 'freezer', 'memory', 'pids'];

function setup(selfCgroup = NO_SYSTEMD, options: CgroupDriverOptions = {}, layout: typeof fakeLayouts.hybrid | typeof fakeLayouts.coMounted = fakeLayouts.hybrid) {
  const fs = new FakeCgroupFs({ ...layout, files: { '/proc/self/cgroup': selfCgroup } });
  const driver = cgroupDriverFor({ mode: layout.v2 === null ? 'v1' : 'hybrid', ...layout }, fs, { removeRetry: { attempts: 5, delayMs: 0 }, ...options });
  return { fs, driver };
}

const podDirs = (path: string) => HIERARCHIES.map((h) => `/sys/fs/cgroup/${h}${path}`);

test('no systemd: one dir per real hierarchy at /skiff/<uuid>, cpuset first; name=systemd and cgroup2 untouched', async (t) => {
  const { fs, driver } = setup();
  t.is(driver.kind, 'v1');
  const cg = await driver.create(UUID, {});
  t.is(cg.path, `/skiff/${UUID}`);
  t.deepEqual(cg.join, podDirs(cg.path));
  t.deepEqual(cg.cleanup, [...podDirs(cg.path)].reverse());
  t.deepEqual(fs.cgroups(), [...podDirs('/skiff'), ...podDirs(cg.path)].sort());
  t.false(fs.exists(`/sys/fs/cgroup/systemd/skiff`));
  t.false(fs.exists(`/sys/fs/cgroup/unified/skiff`));
});

test('under a systemd unit: nested as <unit>/skiff-<uuid> (rkt --keep-unit)', async (t) => {
  const { fs, driver } = setup(IN_UNIT);
  const cg = await driver.create(UUID, {});
  t.is(cg.path, `/system.slice/skiff-run.service/skiff-${UUID}`);
  t.deepEqual(cg.join, podDirs(cg.path));
  t.true(fs.exists('/sys/fs/cgroup/cpu/system.slice/skiff-run.service'), 'the unit path is made where systemd did not');
});

test('a caller in a leaf inside its unit still nests under the unit', async (t) => {
  const { driver } = setup('1:name=systemd:/user.slice/session-4.scope/payload\n');
  t.is((await driver.create(UUID, {})).path, `/user.slice/session-4.scope/skiff-${UUID}`);
});

test('an explicit parent wins: <parent>/<uuid>', async (t) => {
  const { driver } = setup(IN_UNIT, { parent: '/skiff-test-42/' });
  const cg = await driver.create(UUID, {});
  t.is(cg.path, `/skiff-test-42/${UUID}`);
  t.deepEqual(cg.join, podDirs(cg.path));
});

test('limits land in their files with their values: memory, CFS period then quota, shares, pids', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, { memoryBytes: 32 << 20, cpuMillis: 750, cpuShares: 512, pidsMax: 64 });
  const read = (h: string, f: string) => fs.readFile(`/sys/fs/cgroup/${h}${cg.path}/${f}`).trim();
  t.is(read('memory', 'memory.limit_in_bytes'), String(32 << 20));
  t.is(read('cpu', 'cpu.cfs_period_us'), '100000');
  t.is(read('cpu', 'cpu.cfs_quota_us'), '75000');
  t.is(read('cpu', 'cpu.shares'), '512');
  t.is(read('pids', 'pids.max'), '64');
  t.is(read('cpuset', 'cpuset.cpus'), '0-1');
  t.is(read('cpuset', 'cpuset.mems'), '0');
  const names = fs.writes.map((w) => w.path.slice(w.path.lastIndexOf('/') + 1));
  t.true(names.indexOf('cpu.cfs_period_us') < names.indexOf('cpu.cfs_quota_us'), 'period before quota');
  t.deepEqual(names.slice(0, 4), ['cpuset.cpus', 'cpuset.mems', 'cpuset.cpus', 'cpuset.mems'], 'cpuset (/skiff, then the pod) before anything else');
  t.false(names.some((n) => n.startsWith('memory.memsw')), 'no swap limit');
});

test('no limits: nothing but cpuset and the device list is written', async (t) => {
  const { fs, driver } = setup();
  await driver.create(UUID, {});
  t.true(fs.writes.every((w) => /cpuset\.(cpus|mems)$|devices\.(allow|deny)$/.test(w.path)));
});

test('devices: the pod\'s devices cgroup denies all, then allows Docker\'s default list (mknod of any node, the use of a few)', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, {});
  const dir = `/sys/fs/cgroup/devices${cg.path}`;
  t.deepEqual(fs.readFile(`${dir}/devices.list`).trim().split('\n'), [...DEFAULT_DEVICE_RULES]);
  const writes = fs.writes.filter((w) => w.path.startsWith(`${dir}/`));
  t.deepEqual(writes[0], { path: `${dir}/devices.deny`, value: 'a' }, 'deny all first, or the allows add to allow-all');
  t.true(writes.slice(1).every((w) => w.path === `${dir}/devices.allow`), 'one rule per write');
  for (const rule of ['c 1:3 rwm', 'c 1:9 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c *:* m', 'b *:* m']) t.true(DEFAULT_DEVICE_RULES.includes(rule), rule);
  t.false(DEFAULT_DEVICE_RULES.some((r) => /^[abc] \*:\* .*[rw]/.test(r) || r.startsWith('b ') && r.includes('r')), 'no wildcard use of devices, no block device use');
});

test('cpuset: a shared parent left empty by a crashed run is filled; a filled one is left alone', async (t) => {
  const { fs, driver } = setup();
  fs.mkdir('/sys/fs/cgroup/cpuset/skiff');
  await driver.create(UUID, {});
  t.is(fs.readFile('/sys/fs/cgroup/cpuset/skiff/cpuset.cpus'), '0-1\n');
  const before = fs.writes.length;
  await driver.create('second', {});
  t.deepEqual(fs.writes.slice(before).map((w) => w.path).filter((p) => p.includes('cpuset')), [
    '/sys/fs/cgroup/cpuset/skiff/second/cpuset.cpus',
    '/sys/fs/cgroup/cpuset/skiff/second/cpuset.mems',
  ]);
});

test('co-mounted cpu,cpuacct: one dir for both, limits written there', async (t) => {
  const { fs, driver } = setup(NO_SYSTEMD, {}, fakeLayouts.coMounted);
  const cg = await driver.create(UUID, { cpuMillis: 500 });
  t.deepEqual(cg.join, ['cpuset', 'cpu,cpuacct', 'memory', 'pids'].map((h) => `/sys/fs/cgroup/${h}/skiff/${UUID}`));
  t.is(fs.readFile(`/sys/fs/cgroup/cpu,cpuacct/skiff/${UUID}/cpu.cfs_quota_us`), '50000\n');
});

test('a failing write rolls back every pod dir made, keeps the shared parent, and names file and errno', async (t) => {
  const { fs, driver } = setup();
  fs.failNext(`/sys/fs/cgroup/pids/skiff/${UUID}/pids.max`, 'EINVAL');
  const err = await t.throwsAsync(driver.create(UUID, { memoryBytes: 1 << 30, pidsMax: 8 }), { instanceOf: CgroupError });
  t.is(err?.message, `write 8 to /sys/fs/cgroup/pids/skiff/${UUID}/pids.max: EINVAL`);
  t.is(err?.input, `/sys/fs/cgroup/pids/skiff/${UUID}/pids.max`);
  t.truthy(err?.hint);
  t.deepEqual(fs.cgroups(), podDirs('/skiff').sort());
});

test('a failing mkdir half way rolls back the hierarchies already done', async (t) => {
  const { fs, driver } = setup();
  fs.failNext(`/sys/fs/cgroup/freezer/skiff/${UUID}`, 'ENOMEM', 'mkdir');
  const err = await t.throwsAsync(driver.create(UUID, {}), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', /^mkdir \/sys\/fs\/cgroup\/freezer\/skiff\/.*: ENOMEM$/);
  t.false(fs.cgroups().some((c) => c.endsWith(UUID)));
});

test('a rollback that cannot remove a dir says which', async (t) => {
  const { fs, driver } = setup();
  fs.failNext(`/sys/fs/cgroup/pids/skiff/${UUID}/pids.max`, 'EINVAL');
  fs.failNext(`/sys/fs/cgroup/memory/skiff/${UUID}`, 'EBUSY', 'rmdir');
  const err = await t.throwsAsync(driver.create(UUID, { pidsMax: 8 }), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', /pids\.max: EINVAL; rollback left \/sys\/fs\/cgroup\/memory\/skiff\/\S+ \(EBUSY\)$/);
});

test('an existing pod cgroup is refused, not adopted, and not removed', async (t) => {
  const { fs, driver } = setup();
  await driver.create(UUID, {});
  const err = await t.throwsAsync(driver.create(UUID, {}), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', /^mkdir \/sys\/fs\/cgroup\/cpuset\/skiff\/.*: EEXIST$/);
  t.true(podDirs(`/skiff/${UUID}`).every((d) => fs.exists(d)));
});

test('bad limits, a bad UUID or a limit without its hierarchy: refused before anything is made', async (t) => {
  const { fs, driver } = setup();
  await t.throwsAsync(driver.create(UUID, { memoryBytes: -1 }), { instanceOf: CgroupError, message: /memoryBytes -1/ });
  await t.throwsAsync(driver.create(UUID, { cpuShares: 1 }), { instanceOf: CgroupError, message: /cpuShares 1/ });
  await t.throwsAsync(driver.create('../x', {}), { instanceOf: CgroupError, message: /invalid pod UUID/ });
  const layout = { ...fakeLayouts.coMounted, v1: { memory: '/sys/fs/cgroup/memory' } };
  const noPids = cgroupDriverFor({ mode: 'v1', ...layout }, new FakeCgroupFs(layout), { parent: '/t' });
  await t.throwsAsync(noPids.create(UUID, { pidsMax: 5 }), { instanceOf: CgroupError, message: /no cgroup v1 pids hierarchy/ });
  t.deepEqual(fs.cgroups(), []);
});

test('pids: every process in any of the pod\'s hierarchies, once, sorted', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, {});
  t.deepEqual(await driver.pids(cg), []);
  const a = fs.spawn();
  const b = fs.spawn();
  for (const dir of cg.join) fs.writeFile(`${dir}/cgroup.procs`, String(b));
  fs.writeFile(`/sys/fs/cgroup/memory/skiff/${UUID}/cgroup.procs`, String(a));
  t.deepEqual(await driver.pids(cg), [a, b]);
  fs.exit(a);
  fs.exit(b);
  await driver.remove(cg);
  t.deepEqual(await driver.pids(cg), [], 'a removed cgroup has none');
});

test('remove: leaves only the shared parents; a second remove is success', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, { memoryBytes: 1 << 26 });
  await driver.remove(cg);
  t.deepEqual(fs.cgroups(), podDirs('/skiff').sort());
  await t.notThrowsAsync(driver.remove(cg));
});

test('remove retries a dying cgroup until it empties', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, {});
  fs.busyFor(`/sys/fs/cgroup/memory/skiff/${UUID}`, 3);
  await driver.remove(cg);
  t.false(fs.exists(`/sys/fs/cgroup/memory/skiff/${UUID}`));
});

test('remove kills nothing: a live process keeps its cgroup, the error names it, the rest is removed', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, {});
  const pid = fs.spawn();
  fs.writeFile(`/sys/fs/cgroup/pids/skiff/${UUID}/cgroup.procs`, String(pid));
  const err = await t.throwsAsync(driver.remove(cg), { instanceOf: CgroupError });
  t.is(err?.message, `rmdir /sys/fs/cgroup/pids/skiff/${UUID}: EBUSY (pids still inside: ${pid})`);
  t.regex(err?.hint ?? '', /stop the pod/);
  t.deepEqual(fs.cgroups(), [...podDirs('/skiff'), `/sys/fs/cgroup/pids/skiff/${UUID}`].sort());
  t.deepEqual(await driver.pids(cg), [pid]);
  fs.exit(pid);
  await driver.remove(cg);
  t.deepEqual(fs.cgroups(), podDirs('/skiff').sort());
});

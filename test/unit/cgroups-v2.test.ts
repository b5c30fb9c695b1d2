/**
 * The v2 driver against the fake cgroupfs: controllers enabled top-down,
 * limit values (cpu.max, the shares → weight conversion), nesting under a
 * systemd unit despite the no-internal-processes rule, rollback, remove.
 */
import test from 'ava';
import { CgroupError } from '../../runtime/errors.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import { FakeCgroupFs } from '../../runtime/cgroups/fake-cgroup-fs.js';
import { fakeLayouts } from '../../runtime/cgroups/fake-layouts.js';
import type { CgroupDriverOptions } from '../../runtime/cgroups/types.js';

const UUID = '6f1c2b9e-3d4a-4b5c-9e8f-0a1b2c3d4e5f';
const ROOT = '/sys/fs/cgroup';
const UNIT = '/system.slice/skiff-run.service';

function setup(self = '0::/\n', options: CgroupDriverOptions = {}, controllers = fakeLayouts.v2.v2.controllers) {
  const layout = { v1: {}, v2: { mount: ROOT, controllers } };
  const fs = new FakeCgroupFs({ ...layout, files: { '/proc/self/cgroup': self } });
  const driver = cgroupDriverFor({ mode: 'v2', ...layout }, fs, { removeRetry: { attempts: 5, delayMs: 0 }, ...options });
  return { fs, driver };
}

test('no systemd: /skiff/<uuid>, +cpu +memory +pids enabled from the root down, the pod\'s own subtree empty', async (t) => {
  const { fs, driver } = setup();
  t.is(driver.kind, 'v2');
  const cg = await driver.create(UUID, {});
  const dir = `${ROOT}/skiff/${UUID}`;
  t.deepEqual(cg, { join: [dir], cleanup: [dir], path: `/skiff/${UUID}` });
  t.is(fs.readFile(`${ROOT}/cgroup.subtree_control`), 'cpu memory pids\n');
  t.is(fs.readFile(`${ROOT}/skiff/cgroup.subtree_control`), 'cpu memory pids\n');
  t.is(fs.readFile(`${dir}/cgroup.subtree_control`), '\n');
  t.deepEqual(fs.writes.map((w) => w.path), [`${ROOT}/cgroup.subtree_control`, `${ROOT}/skiff/cgroup.subtree_control`]);
  const pid = fs.spawn();
  t.notThrows(() => fs.writeFile(`${dir}/cgroup.procs`, String(pid)), 'the pod\'s PID 1 can join');
  t.deepEqual(await driver.pids(cg), [pid]);
});

test('limits: memory.max, cpu.max "QUOTA 100000", cpu.weight converted from shares, pids.max', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, { memoryBytes: 32 << 20, cpuMillis: 750, cpuShares: 1024, pidsMax: 64 });
  const read = (f: string) => fs.readFile(`${cg.join[0]}/${f}`).trim();
  t.is(read('memory.max'), String(32 << 20));
  t.is(read('cpu.max'), '75000 100000');
  t.is(read('cpu.weight'), '39');
  t.is(read('pids.max'), '64');
});

test('ancestors already enabled are not written again', async (t) => {
  const { fs, driver } = setup();
  await driver.create('first', {});
  const before = fs.writes.length;
  await driver.create(UUID, { pidsMax: 5 });
  t.deepEqual(fs.writes.slice(before).map((w) => w.path), [`${ROOT}/skiff/${UUID}/pids.max`]);
});

test('only the controllers the root offers are enabled; a limit needing a missing one is refused up front', async (t) => {
  const { fs, driver } = setup('0::/\n', {}, ['memory', 'pids']);
  await t.throwsAsync(driver.create(UUID, { cpuMillis: 500 }), { instanceOf: CgroupError, message: /does not offer cpu/ });
  t.deepEqual(fs.cgroups(), []);
  await driver.create(UUID, { memoryBytes: 1 << 26 });
  t.is(fs.readFile(`${ROOT}/skiff/cgroup.subtree_control`), 'memory pids\n');
});

test('under a systemd unit holding processes: they move to a leaf, the pod is its sibling', async (t) => {
  const { fs, driver } = setup(`0::${UNIT}\n`);
  fs.mkdir(`${ROOT}/system.slice`);
  fs.mkdir(`${ROOT}${UNIT}`);
  const stage0 = fs.spawn({ [ROOT]: `${ROOT}${UNIT}` });
  const shell = fs.spawn({ [ROOT]: `${ROOT}${UNIT}` });
  const cg = await driver.create(UUID, { memoryBytes: 1 << 26 });
  t.is(cg.path, `${UNIT}/skiff-${UUID}`);
  t.is(fs.readFile(`${ROOT}${UNIT}/skiff-supervisor/cgroup.procs`), `${stage0}\n${shell}\n`);
  t.is(fs.readFile(`${ROOT}${UNIT}/cgroup.procs`), '');
  t.is(fs.readFile(`${ROOT}${UNIT}/cgroup.subtree_control`), 'cpu memory pids\n');
  t.is(fs.readFile(`${cg.join[0]}/memory.max`), `${1 << 26}\n`);
  // The next pod finds the unit ready; the leaf is not the pod's to remove.
  const second = await driver.create('second', {});
  await driver.remove(cg);
  await driver.remove(second);
  t.deepEqual(fs.cgroups(), [`${ROOT}/system.slice`, `${ROOT}${UNIT}`, `${ROOT}${UNIT}/skiff-supervisor`]);
});

test('a caller already in the leaf still nests under its unit', async (t) => {
  const { driver } = setup(`0::${UNIT}/skiff-supervisor\n`);
  t.is((await driver.create(UUID, {})).path, `${UNIT}/skiff-${UUID}`);
});

test('an explicit parent holding processes: EBUSY explained, nothing moved, nothing left', async (t) => {
  const { fs, driver } = setup('0::/\n', { parent: '/busy' });
  fs.writeFile(`${ROOT}/cgroup.subtree_control`, '+memory +pids +cpu');
  fs.mkdir(`${ROOT}/busy`);
  const pid = fs.spawn({ [ROOT]: `${ROOT}/busy` });
  const err = await t.throwsAsync(driver.create(UUID, {}), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', /^write \+cpu \+memory \+pids to \/sys\/fs\/cgroup\/busy\/cgroup\.subtree_control: EBUSY/);
  t.regex(err?.hint ?? '', /without processes/);
  t.is(fs.readFile(`${ROOT}/busy/cgroup.procs`), `${pid}\n`);
  t.deepEqual(fs.cgroups(), [`${ROOT}/busy`]);
});

test('a unit that does not delegate: ENOENT says Delegate=yes', async (t) => {
  const { fs, driver } = setup(`0::${UNIT}\n`);
  fs.failNext(`${ROOT}${UNIT}/cgroup.subtree_control`, 'ENOENT');
  const err = await t.throwsAsync(driver.create(UUID, {}), { instanceOf: CgroupError });
  t.regex(err?.hint ?? '', /Delegate=yes/);
});

test('a failing limit write removes the pod dir and names file and errno', async (t) => {
  const { fs, driver } = setup();
  fs.failNext(`${ROOT}/skiff/${UUID}/memory.max`, 'EINVAL');
  const err = await t.throwsAsync(driver.create(UUID, { memoryBytes: 4096 }), { instanceOf: CgroupError });
  t.is(err?.message, `write 4096 to ${ROOT}/skiff/${UUID}/memory.max: EINVAL`);
  t.deepEqual(fs.cgroups(), [`${ROOT}/skiff`]);
});

test('remove: idempotent, retries a dying cgroup, kills nothing', async (t) => {
  const { fs, driver } = setup();
  const cg = await driver.create(UUID, {});
  const pid = fs.spawn();
  fs.writeFile(`${cg.join[0]}/cgroup.procs`, String(pid));
  await t.throwsAsync(driver.remove(cg), { instanceOf: CgroupError, message: new RegExp(`pids still inside: ${pid}`) });
  fs.exit(pid);
  fs.busyFor(cg.join[0]!, 2);
  await driver.remove(cg);
  await driver.remove(cg);
  t.deepEqual(fs.cgroups(), [`${ROOT}/skiff`]);
});

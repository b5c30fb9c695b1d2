/**
 * What both drivers share: limit validation and conversions, placement,
 * and the choice of driver from the detected layout.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { CgroupError } from '../../runtime/errors.js';
import { detectCgroups } from '../../runtime/host-features.js';
import { cpuQuotaUs, sharesToWeight, validateLimits } from '../../runtime/cgroups/limits.js';
import { parseSelfCgroups, placePod, systemdUnit } from '../../runtime/cgroups/placement.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import { FakeCgroupFs } from '../../runtime/cgroups/fake-cgroup-fs.js';
import { fakeLayouts } from '../../runtime/cgroups/fake-layouts.js';
import { testWhen } from '../support/host-condition.js';

test('shares → weight as crun converts: 2 → 1, 1024 → 39, 262144 → 10000, monotonic', (t) => {
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(262_144), 10_000);
  t.is(sharesToWeight(512), 1 + Math.floor((510 * 9999) / 262142));
  for (let s = 3; s <= 262_144; s += 997) t.true(sharesToWeight(s) >= sharesToWeight(s - 1));
});

test('cpuMillis → quota per 100 ms period', (t) => {
  t.is(cpuQuotaUs(750), 75_000);
  t.is(cpuQuotaUs(10), 1_000);
  t.is(cpuQuotaUs(2500), 250_000);
});

test('limit validation names the bad one', (t) => {
  t.notThrows(() => validateLimits({}));
  t.notThrows(() => validateLimits({ memoryBytes: 1, cpuMillis: 10, cpuShares: 2, pidsMax: 1 }));
  for (const bad of [
    { memoryBytes: 0 }, { memoryBytes: 1.5 }, { memoryBytes: Number.NaN },
    { cpuMillis: 9 }, { cpuMillis: 100.5 },
    { cpuShares: 1 }, { cpuShares: 262_145 },
    { pidsMax: 0 }, { pidsMax: -3 },
  ]) {
    const [name] = Object.keys(bad);
    t.throws(() => validateLimits(bad), { instanceOf: CgroupError, message: new RegExp(`^invalid ${name} `) }, JSON.stringify(bad));
  }
});

test('/proc/self/cgroup: v1 lines per controller (co-mounts too), the 0:: line as v2', (t) => {
  const self = parseSelfCgroups('12:cpu,cpuacct:/a\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n');
  t.is(self.v1.get('cpu'), '/a');
  t.is(self.v1.get('cpuacct'), '/a');
  t.is(self.v1.get('name=systemd'), '/system.slice/x.service');
  t.is(self.v2, '/system.slice/x.service');
  t.is(parseSelfCgroups('').v2, undefined);
});

test('the systemd unit of a cgroup path: the deepest .service or .scope', (t) => {
  t.is(systemdUnit('/system.slice/foo.service'), '/system.slice/foo.service');
  t.is(systemdUnit('/user.slice/user-0.slice/session-3.scope/leaf'), '/user.slice/user-0.slice/session-3.scope');
  t.is(systemdUnit('/system.slice/a.service/inner.scope/x'), '/system.slice/a.service/inner.scope');
  t.is(systemdUnit('/'), undefined);
  t.is(systemdUnit('/process_api/abc'), undefined);
  t.is(systemdUnit('/docker/0123abcd'), undefined);
  t.is(systemdUnit(undefined), undefined);
});

test('placement: unit from name=systemd on v1, from 0:: on v2; /skiff otherwise; explicit parent checked', (t) => {
  const hybridInUnit = parseSelfCgroups('1:name=systemd:/system.slice/a.service\n0::/\n');
  t.is(placePod('u1', 'v1', hybridInUnit).path, '/system.slice/a.service/skiff-u1');
  t.is(placePod('u1', 'v2', hybridInUnit).path, '/skiff/u1');
  t.is(placePod('u1', 'v1', parseSelfCgroups('4:memory:/process_api/x\n')).path, '/skiff/u1');
  t.is(placePod('u1', 'v1', hybridInUnit, '/').path, '/u1');
  t.is(placePod('u1', 'v1', hybridInUnit, '/a//b/').path, '/a/b/u1');
  t.throws(() => placePod('u1', 'v1', hybridInUnit, 'relative'), { instanceOf: CgroupError });
  t.throws(() => placePod('u1', 'v1', hybridInUnit, '/a/../b'), { instanceOf: CgroupError });
  for (const uuid of ['', '..', 'a/b', '.hidden', 'a b']) {
    t.throws(() => placePod(uuid, 'v1', hybridInUnit), { instanceOf: CgroupError }, uuid);
  }
});

test('driver choice: hybrid (cgroup2 with hugetlb only) → v1; full cgroup2 → v2; v2 short of pids with no v1 → v2; none → error', (t) => {
  const fs = new FakeCgroupFs({});
  t.is(cgroupDriverFor({ mode: 'hybrid', ...fakeLayouts.hybrid }, fs).kind, 'v1');
  t.is(cgroupDriverFor({ mode: 'v1', ...fakeLayouts.coMounted }, fs).kind, 'v1');
  t.is(cgroupDriverFor({ mode: 'v2', ...fakeLayouts.v2 }, fs).kind, 'v2');
  t.is(cgroupDriverFor({ mode: 'v2', v1: {}, v2: { mount: '/sys/fs/cgroup', controllers: ['memory', 'cpu'] } }, fs).kind, 'v2');
  t.is(cgroupDriverFor({ mode: 'hybrid', v1: { 'name=systemd': '/sys/fs/cgroup/systemd' }, v2: { mount: '/sys/fs/cgroup/unified', controllers: ['cpu', 'memory', 'pids'] } }, fs).kind, 'v2');
  const err = t.throws(() => cgroupDriverFor({ mode: 'none', v1: {}, v2: null }, fs), { instanceOf: CgroupError });
  t.is(err?.code, 'E_CGROUP');
  t.regex(err?.hint ?? '', /mount/);
  t.throws(() => cgroupDriverFor({ mode: 'v1', v1: { 'name=systemd': '/sys/fs/cgroup/systemd' }, v2: null }, fs), { instanceOf: CgroupError });
});

/** The driver this host should get, read from its mount table apart from detectCgroups(): v1 while a v1 hierarchy carries memory. */
function expectedDriver(): 'v1' | 'v2' {
  const cgroupMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - ')[1]?.split(' ') ?? []);
  return cgroupMounts.some(([type, , options]) => type === 'cgroup' && (options ?? '').split(',').includes('memory')) ? 'v1' : 'v2';
}

testWhen('no-cgroups')('a host without cgroups gets no driver, and an error saying why', (t) => {
  t.is(detectCgroups().mode, 'none');
  t.throws(() => cgroupDriverFor(), { instanceOf: CgroupError });
});

testWhen('cgroups')('the host\'s own layout picks the driver its mount table calls for', (t) => {
  t.not(detectCgroups().mode, 'none');
  t.is(cgroupDriverFor().kind, expectedDriver());
});

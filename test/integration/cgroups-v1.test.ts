/**
 * The v1 cgroup driver on this host's real hierarchies (hybrid: cpu and
 * cpuacct apart, an empty cgroup2), as root. Each test works under its own
 * parent `/skiff-test-<pid>-<n>` in every hierarchy and, in its teardown,
 * kills the processes it started (by PID) and removes everything below and
 * including that parent. The shared cgroupfs contract runs here against the
 * real kernel, as it runs against the fake in test/unit.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { CgroupError } from '../../runtime/errors.js';
import { detectCgroups } from '../../runtime/host-features.js';
import { DEFAULT_DEVICE_RULES } from '../../runtime/cgroups/devices.js';
import { realCgroupFs } from '../../runtime/cgroups/cgroup-fs.js';
import { cgroupFsContract, type ContractHierarchy } from '../../runtime/cgroups/cgroup-fs-contract.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import type { CgroupDriver } from '../../runtime/cgroups/types.js';
import { v1Hierarchies } from '../../runtime/cgroups/v1-driver.js';
import { removeCgroupTree } from '../support/cgroup-cleanup.js';
import { testWhen } from '../support/host-condition.js';
import { probeBinary } from '../support/probe-binary.js';

const features = detectCgroups();
const hierarchies = v1Hierarchies(features.v1);
const rootTest = testWhen('root', 'cgroup-v1');

let counter = 0;
const mountOf = (controller: string) => features.v1[controller]!;
const read = (path: string) => readFileSync(path, 'utf8').trim();

interface Scope {
  parent: string;
  driver: CgroupDriver;
  /** Starts a process the teardown kills by PID. */
  start(cmd: string, args: string[]): ChildProcess & { exited: Promise<[number | null, NodeJS.Signals | null]> };
}

/** A test parent in every hierarchy (and cgroup2), a driver using it, and the teardown for both. */
function scope(t: ExecutionContext): Scope {
  const parent = `/skiff-test-${process.pid}-${counter++}`;
  const children: (ChildProcess & { exited: Promise<[number | null, NodeJS.Signals | null]> })[] = [];
  t.teardown(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await child.exited;
    }
    const mounts = [...hierarchies.map((h) => h.mount), ...(features.v2 ? [features.v2.mount] : [])];
    const left = [];
    for (const mount of mounts) left.push(...(await removeCgroupTree(`${mount}${parent}`, { timeoutMs: 5_000 })));
    if (left.length > 0) throw new Error(`cgroups left behind: ${left.join(', ')}`);
  });
  return {
    parent,
    driver: cgroupDriverFor(features, realCgroupFs, { parent, removeRetry: { attempts: 10, delayMs: 20 } }),
    start(cmd, args) {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { exited: Promise<[number | null, NodeJS.Signals | null]> };
      child.exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      children.push(child);
      return child;
    },
  };
}

/** Every cgroup under the test parent, in every hierarchy. */
function leftovers(parent: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        found.push(`${dir}/${e.name}`);
        walk(`${dir}/${e.name}`);
      }
    }
  };
  for (const { mount } of hierarchies) if (existsSync(`${mount}${parent}`)) walk(`${mount}${parent}`);
  return found;
}

rootTest('the host is driven by the v1 driver, with cpu and cpuacct as separate hierarchies', (t) => {
  t.is(cgroupDriverFor(features).kind, 'v1');
  t.log(hierarchies.map((h) => `${h.mount} [${h.controllers.join(',')}]`).join('\n'));
  t.true(hierarchies[0]!.controllers.includes('cpuset'), 'cpuset first');
});

// The checks this host's hierarchies can take: those that need controllers its cgroup2 lacks run in the VM tier (cgroups-v2.test.ts).
const hostKinds: ContractHierarchy[] = [
  ...hierarchies.map(({ controllers }): ContractHierarchy => ({ fs: realCgroupFs, kind: 'v1', controllers, base: '', pid: 0 })),
  ...(features.v2 === null ? [] : [{ fs: realCgroupFs, kind: 'v2' as const, controllers: features.v2.controllers, base: '', pid: 0 }]),
];

for (const check of cgroupFsContract.filter((c) => hostKinds.some((h) => c.applies(h)))) {
  rootTest(`contract (real cgroupfs): ${check.name}`, async (t) => {
    const s = scope(t);
    const sleeper = s.start('sleep', ['60']);
    const contexts: ContractHierarchy[] = [];
    for (const { mount, controllers } of hierarchies) {
      const base = `${mount}${s.parent}`;
      realCgroupFs.mkdir(base);
      if (controllers.includes('cpuset')) {
        realCgroupFs.writeFile(`${base}/cpuset.cpus`, read(`${mount}/cpuset.cpus`));
        realCgroupFs.writeFile(`${base}/cpuset.mems`, read(`${mount}/cpuset.mems`));
      }
      realCgroupFs.writeFile(`${base}/cgroup.procs`, String(sleeper.pid));
      contexts.push({ fs: realCgroupFs, kind: 'v1', controllers, base, pid: sleeper.pid! });
    }
    if (features.v2 !== null) {
      const base = `${features.v2.mount}${s.parent}`;
      realCgroupFs.mkdir(base);
      realCgroupFs.writeFile(`${base}/cgroup.procs`, String(sleeper.pid));
      contexts.push({ fs: realCgroupFs, kind: 'v2', controllers: read(`${base}/cgroup.controllers`).split(/\s+/).filter(Boolean), base, pid: sleeper.pid! });
    }
    const applicable = contexts.filter((h) => check.applies(h));
    t.true(applicable.length > 0);
    for (const h of applicable) t.notThrows(() => check.run(h), h.base);
  });
}

rootTest('create: a dir in every hierarchy with every limit readable from the real files', async (t) => {
  const s = scope(t);
  const cg = await s.driver.create('pod-limits', { memoryBytes: 48 << 20, cpuMillis: 750, cpuShares: 512, pidsMax: 64 });
  t.is(cg.path, `${s.parent}/pod-limits`);
  t.deepEqual(cg.join, hierarchies.map((h) => `${h.mount}${cg.path}`));
  t.deepEqual([...cg.cleanup].reverse(), cg.join);
  for (const dir of cg.join) t.true(existsSync(`${dir}/cgroup.procs`), dir);
  const dir = (c: string) => `${mountOf(c)}${cg.path}`;
  t.is(read(`${dir('memory')}/memory.limit_in_bytes`), String(48 << 20));
  t.is(read(`${dir('cpu')}/cpu.cfs_period_us`), '100000');
  t.is(read(`${dir('cpu')}/cpu.cfs_quota_us`), '75000');
  t.is(read(`${dir('cpu')}/cpu.shares`), '512');
  t.is(read(`${dir('pids')}/pids.max`), '64');
  t.is(read(`${dir('cpuset')}/cpuset.cpus`), read(`${mountOf('cpuset')}/cpuset.cpus`));
  t.is(read(`${dir('cpuset')}/cpuset.mems`), read(`${mountOf('cpuset')}/cpuset.mems`));
  t.deepEqual(read(`${dir('devices')}/devices.list`).split('\n'), [...DEFAULT_DEVICE_RULES], 'the kernel holds Docker\'s device list, in order');
  t.false(existsSync(`${mountOf('name=systemd')}${s.parent}`), 'name=systemd untouched');
  t.false(features.v2 !== null && existsSync(`${features.v2.mount}${s.parent}`), 'cgroup2 untouched');
  await s.driver.remove(cg);
  t.deepEqual(leftovers(s.parent), []);
});

rootTest('a real process joins through cgroup.procs, pids() sees it, remove waits, kills nothing, then removes all', async (t) => {
  const s = scope(t);
  const cg = await s.driver.create('pod-pids', { pidsMax: 16 });
  const sleeper = s.start('sleep', ['60']);
  for (const dir of cg.join) realCgroupFs.writeFile(`${dir}/cgroup.procs`, String(sleeper.pid));
  t.deepEqual(await s.driver.pids(cg), [sleeper.pid!]);
  t.true(read(`/proc/${sleeper.pid}/cgroup`).includes(`:memory:${cg.path}`));
  // The real cgroupfs, with its rmdir calls recorded: one retry budget for all the busy dirs means
  // rounds over every busy dir (10 of them, as removeRetry says), not ten tries of one dir, then the next.
  const rmdirs: string[] = [];
  const recording = { ...realCgroupFs, rmdir: (path: string) => (rmdirs.push(path), realCgroupFs.rmdir(path)) };
  const driver = cgroupDriverFor(features, recording, { parent: s.parent, removeRetry: { attempts: 10, delayMs: 20 } });
  const err = await t.throwsAsync(driver.remove(cg), { instanceOf: CgroupError });
  t.deepEqual(rmdirs, Array.from({ length: 10 }, () => cg.cleanup).flat());
  t.regex(err?.message ?? '', new RegExp(`^rmdir ${cg.cleanup.join(', ')}: EBUSY \\(pids still inside: ${sleeper.pid}\\)$`));
  t.is(sleeper.exitCode, null, 'still running');
  t.notThrows(() => process.kill(sleeper.pid!, 0));
  process.kill(sleeper.pid!, 'SIGKILL');
  await sleeper.exited;
  await s.driver.remove(cg);
  t.deepEqual(await s.driver.pids(cg), []);
  for (const dir of cg.join) t.false(existsSync(dir), dir);
  t.deepEqual(leftovers(s.parent), []);
  await t.notThrowsAsync(s.driver.remove(cg), 'already gone is success');
});

rootTest('the memory limit kills a probe allocating past it (SIGKILL); under it the probe succeeds', async (t) => {
  const probe = await probeBinary();
  const s = scope(t);
  const cg = await s.driver.create('pod-memory', { memoryBytes: 32 << 20 });
  const start = (mb: number) => {
    const child = spawnIn(s, cg.join, probe, ['alloc', String(mb)]);
    return child.exited;
  };
  const [okCode, okSignal] = await start(16);
  t.deepEqual([okCode, okSignal], [0, null]);
  const [code, signal] = await start(64);
  t.deepEqual([code, signal], [null, 'SIGKILL']);
  const dir = `${mountOf('memory')}${cg.path}`;
  t.true(Number(read(`${dir}/memory.failcnt`)) > 0);
  t.true(Number(read(`${dir}/memory.max_usage_in_bytes`)) <= 32 << 20);
  await s.driver.remove(cg);
  t.deepEqual(leftovers(s.parent), []);
});

rootTest('the pids limit refuses forks past it with EAGAIN', async (t) => {
  const probe = await probeBinary();
  const s = scope(t);
  const cg = await s.driver.create('pod-fork', { pidsMax: 8 });
  const child = spawnIn(s, cg.join, probe, ['fork', '20']);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await child.exited;
  t.is(code, 1);
  const result = JSON.parse(out) as { forked: number; error: string };
  t.is(result.error, 'EAGAIN');
  t.is(result.forked, 7, 'the probe itself is the 8th');
  await s.driver.remove(cg);
});

rootTest('a limit the kernel refuses rolls back every pod dir and names file and errno', async (t) => {
  const s = scope(t);
  // A parent limited to 0.2 CPU: the kernel refuses a child quota of a whole CPU (EINVAL).
  const cpuParent = `${mountOf('cpu')}${s.parent}`;
  realCgroupFs.mkdir(cpuParent);
  realCgroupFs.writeFile(`${cpuParent}/cpu.cfs_quota_us`, '20000');
  const err = await t.throwsAsync(s.driver.create('pod-refused', { memoryBytes: 64 << 20, cpuMillis: 1000 }), { instanceOf: CgroupError });
  t.is(err?.message, `write 100000 to ${cpuParent}/pod-refused/cpu.cfs_quota_us: EINVAL`);
  t.truthy(err?.hint);
  t.deepEqual(leftovers(s.parent), [], 'no pod dir in any hierarchy');
  for (const { mount } of hierarchies) t.true(existsSync(`${mount}${s.parent}`), 'the shared parent stays');
});

/** Spawns cmd after joining `join` through cgroup.procs, as stage1's PID 1 does. */
function spawnIn(s: Scope, join: string[], cmd: string, args: string[]) {
  const script = 'cmd=$1; shift; n=$1; shift; i=0; while [ $i -lt $n ]; do echo $$ > "$1/cgroup.procs" || exit 99; shift; i=$((i+1)); done; exec "$cmd" "$@"';
  return s.start('/bin/sh', ['-c', script, 'sh', cmd, String(join.length), ...join, ...args]);
}

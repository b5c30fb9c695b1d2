/**
 * The v2 cgroup driver on a real, pure cgroup v2 hierarchy (a default Debian
 * 12 host), as root: the shared cgroupfs contract, including the v2 rules
 * the fake models (no internal processes, the limit files), and the driver's
 * pods with limits the kernel enforces. These machines are hybrid (cgroup2
 * has no controllers), so here every test is SKIPPED, visibly; the VM tier
 * (`npm run test:vm`, test/vm/) boots a Debian 12 VM where they run.
 *
 * Each test works under its own parent `/skiff-test-<pid>-<n>`, kills the
 * processes it started (by PID) and removes the parent in its teardown. Like
 * the v2 driver, a test enables +cpu +memory +pids at the root if systemd
 * has not already.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { CgroupError } from '../../runtime/errors.js';
import { detectCgroups } from '../../runtime/host-features.js';
import { realCgroupFs } from '../../runtime/cgroups/cgroup-fs.js';
import { cgroupFsContract, type ContractHierarchy } from '../../runtime/cgroups/cgroup-fs-contract.js';
import { sharesToWeight } from '../../runtime/cgroups/limits.js';
import { cgroupDriverFor } from '../../runtime/cgroups/select-driver.js';
import type { CgroupDriver } from '../../runtime/cgroups/types.js';
import { V2_CONTROLLERS } from '../../runtime/cgroups/v2-driver.js';
import { removeCgroupTree } from '../support/cgroup-cleanup.js';
import { testWhen } from '../support/host-condition.js';
import { probeBinary } from '../support/probe-binary.js';

const features = detectCgroups();
const mount = features.v2?.mount ?? '/sys/fs/cgroup';
// Skipped visibly where the host is not pure v2 (these machines); the VM tier runs them.
const v2Test = testWhen('root', 'cgroup-v2');

let counter = 0;
const read = (path: string) => readFileSync(path, 'utf8').trim();
type Child = ChildProcess & { exited: Promise<[number | null, NodeJS.Signals | null]> };

interface Scope {
  /** The test's parent, relative to the cgroup2 root. */
  parent: string;
  driver: CgroupDriver;
  /** Starts a process the teardown kills by PID. */
  start(cmd: string, args: string[]): Child;
}

function scope(t: ExecutionContext): Scope {
  const parent = `/skiff-test-${process.pid}-${counter++}`;
  const children: Child[] = [];
  // What the driver does first: the root offers the pod controllers to its children.
  const missing = V2_CONTROLLERS.filter((c) => !read(`${mount}/cgroup.subtree_control`).split(' ').includes(c));
  if (missing.length > 0) realCgroupFs.writeFile(`${mount}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(' '));
  t.teardown(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await child.exited;
    }
    const left = await removeCgroupTree(`${mount}${parent}`, { timeoutMs: 5_000 });
    if (left.length > 0) throw new Error(`cgroups left behind: ${left.join(', ')}`);
  });
  return {
    parent,
    driver: cgroupDriverFor(features, realCgroupFs, { parent, removeRetry: { attempts: 10, delayMs: 20 } }),
    start(cmd, args) {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }) as Child;
      // 'close', not 'exit': exit can come before the last of its stdout has been read.
      child.exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
      children.push(child);
      return child;
    },
  };
}

/** Spawns cmd after joining cgroup `dir` through cgroup.procs, as stage1's PID 1 does. */
function spawnIn(s: Scope, dir: string, cmd: string, args: string[]): Child {
  return s.start('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" || exit 99; exec "$@"', dir, cmd, ...args]);
}

/** `key value` lines (cpu.stat, memory.events, pids.events) as numbers. */
function counters(path: string): Record<string, number> {
  return Object.fromEntries(read(path).split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
}

v2Test('the host is pure cgroup v2 and gets the v2 driver', (t) => {
  t.is(features.mode, 'v2');
  t.deepEqual(features.v1, {});
  t.is(cgroupDriverFor(features).kind, 'v2');
  t.log(`${mount} [${features.v2?.controllers.join(' ')}]`);
});

// The checks that can apply to a v2 hierarchy offering the pod controllers.
const v2Checks = cgroupFsContract.filter((c) => c.applies({ fs: realCgroupFs, kind: 'v2', controllers: V2_CONTROLLERS, base: '/', pid: 0 }));

for (const check of v2Checks) {
  v2Test(`contract (real cgroup2): ${check.name}`, async (t) => {
    const s = scope(t);
    const sleeper = s.start('sleep', ['60']);
    const base = `${mount}${s.parent}`;
    realCgroupFs.mkdir(base);
    realCgroupFs.writeFile(`${base}/cgroup.procs`, String(sleeper.pid));
    const h: ContractHierarchy = {
      fs: realCgroupFs,
      kind: 'v2',
      controllers: read(`${base}/cgroup.controllers`).split(/\s+/).filter(Boolean),
      base,
      pid: sleeper.pid!,
    };
    t.true(check.applies(h), `base offers ${h.controllers.join(' ')}`);
    t.notThrows(() => check.run(h));
    t.deepEqual(read(`${base}/cgroup.procs`).split('\n').map(Number), [sleeper.pid], 'the check left the pid in base');
  });
}

v2Test('create: the pod dir with every limit in the real files, controllers enabled from the root down', async (t) => {
  const s = scope(t);
  const cg = await s.driver.create('pod-limits', { memoryBytes: 48 << 20, cpuMillis: 750, cpuShares: 512, pidsMax: 64 });
  const dir = `${mount}${s.parent}/pod-limits`;
  t.deepEqual(cg, { join: [dir], cleanup: [dir], path: `${s.parent}/pod-limits` });
  for (const c of V2_CONTROLLERS) t.true(read(`${mount}${s.parent}/cgroup.subtree_control`).split(' ').includes(c), c);
  t.is(read(`${dir}/cgroup.subtree_control`), '', 'the pod\'s own subtree stays empty so its PID 1 can join');
  t.is(read(`${dir}/memory.max`), String(48 << 20));
  t.is(read(`${dir}/cpu.max`), '75000 100000');
  t.is(read(`${dir}/cpu.weight`), String(sharesToWeight(512)));
  t.is(read(`${dir}/pids.max`), '64');
  await s.driver.remove(cg);
  t.false(existsSync(dir));
  t.true(existsSync(`${mount}${s.parent}`), 'the shared parent stays');
});

v2Test('a real process joins, pids() sees it, remove refuses while it lives and kills nothing, then removes', async (t) => {
  const s = scope(t);
  const cg = await s.driver.create('pod-pids', { pidsMax: 16 });
  // The shell joins, says so, then execs sleep (same pid): wait for its word, not for time.
  const sleeper = s.start('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && echo joined && exec sleep 60', cg.join[0]!]);
  await once(sleeper.stdout!, 'data');
  t.deepEqual(await s.driver.pids(cg), [sleeper.pid!]);
  t.is(read(`/proc/${sleeper.pid}/cgroup`), `0::${cg.path}`);
  const err = await t.throwsAsync(s.driver.remove(cg), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', new RegExp(`EBUSY \\(pids still inside: ${sleeper.pid}\\)$`));
  t.notThrows(() => process.kill(sleeper.pid!, 0), 'still running');
  process.kill(sleeper.pid!, 'SIGKILL');
  await sleeper.exited;
  await s.driver.remove(cg);
  t.false(existsSync(cg.join[0]!));
  await t.notThrowsAsync(s.driver.remove(cg), 'already gone is success');
});

v2Test('the memory limit kills a probe allocating past it (SIGKILL, counted in memory.events); under it the probe succeeds', async (t) => {
  const probe = await probeBinary();
  const s = scope(t);
  const cg = await s.driver.create('pod-memory', { memoryBytes: 32 << 20 });
  const dir = cg.join[0]!;
  t.deepEqual(await spawnIn(s, dir, probe, ['alloc', '16']).exited, [0, null]);
  t.is(counters(`${dir}/memory.events`)['oom_kill'], 0);
  t.deepEqual(await spawnIn(s, dir, probe, ['alloc', '64']).exited, [null, 'SIGKILL']);
  t.true(counters(`${dir}/memory.events`)['oom_kill']! > 0);
  t.true(Number(read(`${dir}/memory.peak`)) <= 32 << 20);
  await s.driver.remove(cg);
});

v2Test('the pids limit refuses forks past it with EAGAIN, counted in pids.events', async (t) => {
  const probe = await probeBinary();
  const s = scope(t);
  const cg = await s.driver.create('pod-fork', { pidsMax: 8 });
  const child = spawnIn(s, cg.join[0]!, probe, ['fork', '20']);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await child.exited;
  t.is(code, 1);
  const result = JSON.parse(out) as { forked: number; error: string };
  t.is(result.error, 'EAGAIN');
  t.is(result.forked, 7, 'the probe itself is the 8th');
  t.true(counters(`${cg.join[0]}/pids.events`)['max']! > 0);
  await s.driver.remove(cg);
});

v2Test('the CPU quota throttles a spinning probe: the cgroup\'s own cpu.stat counts throttled periods', async (t) => {
  const probe = await probeBinary();
  const s = scope(t);
  const cg = await s.driver.create('pod-cpu', { cpuMillis: 100 });
  const dir = cg.join[0]!;
  t.is(counters(`${dir}/cpu.stat`)['nr_throttled'], 0);
  t.deepEqual(await spawnIn(s, dir, probe, ['throttle', '120', `${dir}/cpu.stat`]).exited, [0, null]);
  const stat = counters(`${dir}/cpu.stat`);
  t.true(stat['nr_throttled']! > 0, JSON.stringify(stat));
  t.true(stat['throttled_usec']! > 0, JSON.stringify(stat));
  await s.driver.remove(cg);
});

v2Test('an explicit parent holding a process: EBUSY explained, nothing moved, no pod dir left', async (t) => {
  const s = scope(t);
  const busy = `${mount}${s.parent}`;
  realCgroupFs.mkdir(busy);
  const sleeper = s.start('sleep', ['60']);
  realCgroupFs.writeFile(`${busy}/cgroup.procs`, String(sleeper.pid));
  const err = await t.throwsAsync(s.driver.create('pod-refused', { memoryBytes: 64 << 20 }), { instanceOf: CgroupError });
  t.regex(err?.message ?? '', new RegExp(`^write \\+cpu \\+memory \\+pids to ${busy}/cgroup\\.subtree_control: EBUSY`));
  t.truthy(err?.hint);
  t.is(read(`${busy}/cgroup.procs`), String(sleeper.pid));
  t.false(existsSync(`${busy}/pod-refused`));
});

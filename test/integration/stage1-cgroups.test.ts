/**
 * The pod in its own cgroups (v1 hierarchies of this hybrid host): limits act
 * on the apps, the pod sees its own cgroup as the root, and stage1 removes the
 * cgroups at teardown. Each test makes `<mount>/skiff-test-<pid>-<n>` in every
 * v1 hierarchy and removes whatever is left at its teardown.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STAGE1, createPod, firstJson, probe, runPod, sharedProbeRootfs, startPod, testCgroups, waitFor } from '../support/stage1-harness.js';

test.before(async () => {
  await sharedProbeRootfs();
});

function dir(cg: ReturnType<typeof testCgroups>, controller: string): string {
  const d = cg.dirs.get(controller);
  if (d === undefined) throw new Error(`no ${controller} hierarchy on this host`);
  return d;
}

test('the pod joins its cgroups and sees them as its root; teardown removes them', async (t) => {
  const cg = testCgroups(t);
  writeFileSync(join(dir(cg, 'memory'), 'memory.limit_in_bytes'), String(256 << 20));
  writeFileSync(join(dir(cg, 'pids'), 'pids.max'), '100');
  const r = await runPod(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['info'])] });
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  t.true((info.cgroup.paths as { path: string }[]).every((p) => p.path === '/'));
  t.is(info.cgroup.limits.memory, 256 << 20);
  t.is(info.cgroup.limits.pids, 100);
  for (const d of cg.all) t.false(existsSync(d), `${d} removed`);
});

test('a memory limit kills an app that allocates past it: 137', async (t) => {
  const cg = testCgroups(t);
  writeFileSync(join(dir(cg, 'memory'), 'memory.limit_in_bytes'), String(32 << 20));
  const r = await runPod(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['alloc', '64'])] });
  t.is(r.code, 137, r.stderr);
  t.like(r.state.apps.probe?.exit, { code: 137, signal: 'SIGKILL' });
  t.false(existsSync(dir(cg, 'memory')));
});

test('a pids limit refuses forks with EAGAIN', async (t) => {
  const cg = testCgroups(t);
  writeFileSync(join(dir(cg, 'pids'), 'pids.max'), '8');
  const r = await runPod(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['fork', '20'])] });
  t.is(r.code, 1);
  const out = firstJson(r);
  t.is(out.error, 'EAGAIN');
  t.true(out.forked < 8, `forked ${out.forked}`);
});

test('a CPU quota throttles: the cgroup\'s own counters say the kernel held the app back', async (t) => {
  const cg = testCgroups(t);
  const cpuDir = dir(cg, 'cpu');
  writeFileSync(join(cpuDir, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(cpuDir, 'cpu.cfs_quota_us'), '20000');
  // stage1 leaves the cpu dir (the test's teardown removes it), so its counters can be read after the run.
  const r = await runPod(t, { cgroups: cg.all, cgroupCleanup: cg.all.filter((d) => d !== cpuDir), apps: [probe(['throttle', '120', '/sys/fs/cgroup/cpu/cpu.stat', '/sys/fs/cgroup/cpu,cpuacct/cpu.stat', '/sys/fs/cgroup/cpu.stat'])] });
  t.is(r.code, 0, r.stderr);
  const stat = Object.fromEntries(readFileSync(join(cpuDir, 'cpu.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  t.true(stat['nr_throttled']! > 0, JSON.stringify(stat));
  t.true(stat['throttled_time']! > 0, JSON.stringify(stat));
});

test('enter joins the pod\'s cgroups, so its view is rooted at the pod\'s cgroup too', async (t) => {
  const cg = testCgroups(t);
  const pod = await createPod(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['sleep', '30'])] });
  const running = startPod(t, pod);
  const pid1 = await running.waitForPid1();
  // POD_DIR/pid is written before the apps start: count once the app has exec'd.
  await waitFor('the app started', () => existsSync(join(pod.dir, 'apps', 'probe', 'started')));
  const procs = () => readFileSync(join(dir(cg, 'pids'), 'cgroup.procs'), 'utf8').trim().split('\n');
  t.is(procs().length, 2, 'PID 1 and the app');
  const entered = execFileSync(STAGE1, ['enter', pod.dir, String(pid1), '--', '/probe', 'info'], { encoding: 'utf8' });
  t.true((JSON.parse(entered).cgroup.paths as { path: string }[]).every((p) => p.path === '/'));
  process.kill(running.pid, 'SIGTERM');
  await running.result;
  await waitFor('teardown', () => !existsSync(dir(cg, 'pids')));
});

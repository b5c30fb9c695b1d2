/**
 * A running pod from outside: signals to stage1, stage1 or PID 1 killed,
 * `enter`, and what is left on the host afterwards (nothing).
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import {
  STAGE1, createPod, pidNamespace, podLockFree, probe, processesInNamespace, sharedProbeRootfs, startPod, testCgroups,
  waitFor, type PodSpec,
} from '../support/stage1-harness.js';
import { mountsUnder } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

function enter(podDir: string, pid1: number, args: string[]) {
  return spawnSync(STAGE1, ['enter', podDir, String(pid1), ...args], { encoding: 'utf8', timeout: 10_000 });
}

async function running(t: ExecutionContext, spec: PodSpec) {
  const pod = await createPod(t, spec);
  const r = startPod(t, pod);
  const pid1 = await r.waitForPid1();
  return { pod, run: r, pid1 };
}

test('SIGTERM, SIGINT and SIGHUP to stage1 reach the app, sent by PID 1', async (t) => {
  const { run } = await running(t, { apps: [probe(['signal-report', '20'])] });
  t.deepEqual(await run.nextJson(), { waiting: ['SIGHUP', 'SIGINT', 'SIGTERM'] });
  for (const sig of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) {
    process.kill(run.pid, sig);
    t.like(await run.nextJson(), { signal: sig, from_pid: 1 });
  }
  const r = await run.result;
  t.is(r.code, 0, r.stderr);
  t.like(r.state.apps.probe?.exit, { code: 0, signal: null });
});

test('SIGTERM to stage1 with an app on default handling: 143, cgroups removed, lock released', async (t) => {
  const cg = testCgroups(t);
  const { pod, run } = await running(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['sleep', '30'])] });
  process.kill(run.pid, 'SIGTERM');
  const r = await run.result;
  t.is(r.code, 143);
  t.like(r.state.apps.probe?.exit, { code: 143, signal: 'SIGTERM' });
  for (const d of cg.all) t.false(existsSync(d));
  t.true(podLockFree(pod.dir));
  t.deepEqual(mountsUnder(pod.dir), []);
});

test('SIGKILL of stage1: PID 1 and the apps die with it (PDEATHSIG)', async (t) => {
  const { pod, run, pid1 } = await running(t, {
    apps: [probe(['sleep', '30'], { name: 'a' }), { name: 'b', exec: '/bin/sh', args: ['-c', '/probe sleep 30 & /probe sleep 30'] }],
  });
  const ns = pidNamespace(pid1);
  t.truthy(ns);
  await waitFor('four pod processes', () => processesInNamespace(ns!).length >= 4 || undefined);
  process.kill(run.pid, 'SIGKILL');
  await run.result;
  await waitFor('no process left in the pod', () => processesInNamespace(ns!).length === 0 || undefined, 5_000);
  t.true(podLockFree(pod.dir), 'the lock died with stage1');
});

test('SIGKILL of PID 1 (stop --force): apps recorded as SIGKILLed, status 137, teardown done', async (t) => {
  const cg = testCgroups(t);
  const { run, pid1 } = await running(t, { cgroups: cg.all, cgroupCleanup: cg.all, apps: [probe(['sleep', '30'])] });
  process.kill(pid1, 'SIGKILL');
  const r = await run.result;
  t.is(r.code, 137, r.stderr);
  t.like(r.state.apps.probe?.exit, { code: 137, signal: 'SIGKILL' });
  for (const d of cg.all) t.false(existsSync(d));
});

test('enter: runs a command in the pod\'s namespaces and root, passing its status through', async (t) => {
  const { pod, run, pid1 } = await running(t, { hostname: 'enter-test', apps: [probe(['sleep', '30'], { env: ['PATH=/bin:/', 'FOO=from-app'] })] });
  const hostname = enter(pod.dir, pid1, ['--', '/bin/sh', '-c', 'hostname']);
  t.is(hostname.status, 0, hostname.stderr);
  t.is(hostname.stdout, 'enter-test\n');

  const info = JSON.parse(enter(pod.dir, pid1, ['--', '/probe', 'info']).stdout) as Record<string, any>;
  t.true(info.pid > 1 && info.pid < 10, 'in the pod\'s pid namespace');
  t.is(info.cwd, '/');
  for (const ns of ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup']) {
    t.is(`${ns}:[${info.ns[ns]}]`, readlinkSync(`/proc/${pid1}/ns/${ns}`), `PID 1's ${ns} namespace`);
  }
  t.true((info.mounts as { mountpoint: string; fstype: string }[]).some((m) => m.mountpoint === '/' && m.fstype === 'overlay'));
  t.is(info.env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');

  const appEnv = enter(pod.dir, pid1, ['--app', 'probe', '--', 'probe', 'info']);
  t.is(appEnv.status, 0, appEnv.stderr);
  t.deepEqual(JSON.parse(appEnv.stdout).env, { PATH: '/bin:/', FOO: 'from-app' }, 'exactly the app\'s env, PATH lookup in it');

  t.is(enter(pod.dir, pid1, ['--', '/bin/sh', '-c', 'exit 9']).status, 9);
  const missing = enter(pod.dir, pid1, ['--', '/no/such']);
  t.is(missing.status, 127);
  t.is(missing.stderr, 'skiff-stage1: enter: execve /no/such: ENOENT\n');

  process.kill(run.pid, 'SIGTERM');
  t.is((await run.result).code, 143);
});

test('enter passes a tty through: the command\'s stdin is a terminal', async (t) => {
  const { pod, pid1 } = await running(t, { apps: [probe(['sleep', '30'])] });
  // script(1) runs the command on a fresh pty, as a user's terminal would.
  const cmd = `${STAGE1} enter ${pod.dir} ${pid1} -- /bin/sh -c 'test -t 0 && test -t 1 && echo is-a-tty'`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /is-a-tty/);
});

test('an interactive app keeps stage1\'s tty as its stdin', async (t) => {
  const pod = await createPod(t, { apps: [{ name: 'sh', exec: '/bin/sh', args: ['-c', 'test -t 0 && echo interactive-tty'], interactive: true }] });
  const cmd = `exec 3<${pod.dir}; flock 3; exec ${STAGE1} run ${pod.configPath}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /interactive-tty/);
});

test('enter refuses a PID that is not the pod\'s, and an unknown app', async (t) => {
  const { pod, pid1 } = await running(t, { apps: [probe(['sleep', '30'])] });
  const wrong = enter(pod.dir, process.pid, ['--', '/bin/true']);
  t.is(wrong.status, 254);
  t.regex(wrong.stderr, new RegExp(`^skiff-stage1: enter: .*/pid names PID ${pid1}, not ${process.pid}`));
  const unknown = enter(pod.dir, pid1, ['--app', 'nope', '--', '/bin/true']);
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /--app names no app of this pod/);
});

test('after many pods nothing is left mounted under the pod dirs or the shared rootfs', async (t) => {
  const pods = await Promise.all(Array.from({ length: 10 }, () => createPod(t, { apps: [probe(['exit', '0'])] })));
  const results = await Promise.all(pods.map((pod) => startPod(t, pod).result));
  t.deepEqual(results.map((r) => r.code), Array(10).fill(0));
  for (const pod of pods) t.deepEqual(mountsUnder(pod.dir), []);
  t.deepEqual(mountsUnder(await sharedProbeRootfs()), []);
});

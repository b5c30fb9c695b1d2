/**
 * skiff-stage1 run: exit statuses, the state files in the pod dir, the pod
 * lock, and how stage1 reports its own failures (native/stage1-protocol.md).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  STAGE1, createPod, encodeConfig, podLockFree, probe, runPod, startPod, sharedProbeRootfs,
} from '../support/stage1-harness.js';
import { mountsUnder, tempDir } from '../support/temp-dir.js';

const RFC3339_NS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

test.before(async () => {
  await sharedProbeRootfs();
});

test('--version answers without a config', (t) => {
  t.regex(execFileSync(STAGE1, ['--version'], { encoding: 'utf8' }), /^skiff-stage1 \d+\.\d+\.\d+ \(build [0-9a-f]{12} (musl|glibc)\)\n$/);
});

test('an app exiting 0: status 0, pid, started and exit files, nothing mounted on the host', async (t) => {
  const r = await runPod(t, { apps: [probe(['exit', '0'])] });
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.state.pid ?? '', /^\d+\n$/);
  const app = r.state.apps.probe;
  t.truthy(app?.started);
  t.regex(app!.started!.trim(), RFC3339_NS);
  t.deepEqual(Object.keys(app!.exit!), ['code', 'signal', 'started', 'finished']);
  t.is(app!.exit!.code, 0);
  t.is(app!.exit!.signal, null);
  t.is(app!.exit!.started, app!.started!.trim());
  t.regex(app!.exit!.finished, RFC3339_NS);
  t.true(app!.exit!.finished >= app!.exit!.started);
  t.is(r.state.stage1Error, undefined);
  t.deepEqual(mountsUnder(r.pod.dir), [], 'the pod mounts lived in its own mount namespace only');
});

test('an app exiting 7: the pod exits 7', async (t) => {
  const r = await runPod(t, { apps: [probe(['exit', '7'])] });
  t.is(r.code, 7, r.stderr);
  t.is(r.state.apps.probe?.exit?.code, 7);
});

test('a SIGKILLed app: 137 and signal SIGKILL', async (t) => {
  const r = await runPod(t, { apps: [{ name: 'sh', exec: '/bin/sh', args: ['-c', 'kill -KILL $$'] }] });
  t.is(r.code, 137, r.stderr);
  t.like(r.state.apps.sh?.exit, { code: 137, signal: 'SIGKILL' });
});

/** Shell for an app that waits until the pod's other app runs the probe (it has exec'd), then exits `code`. */
const failOnceProbeRuns = (code: number, ready = '[ -n "$(pidof probe)" ]'): string =>
  `until ${ready}; do sleep 0.02; done; exit ${code}`;

test('multi-app: the first failing app stops the others (SIGTERM) and gives the status', async (t) => {
  const r = await runPod(t, {
    apps: [probe(['sleep', '30'], { name: 'sleeper' }), { name: 'failer', exec: '/bin/sh', args: ['-c', failOnceProbeRuns(7)] }],
  });
  t.is(r.code, 7, r.stderr);
  // Stopped, not waited for: a sleeper that ran out its 30 s would have exited 0.
  t.like(r.state.apps.failer?.exit, { code: 7, signal: null });
  t.like(r.state.apps.sleeper?.exit, { code: 143, signal: 'SIGTERM' });
});

test('multi-app: an app ignoring SIGTERM is SIGKILLed after stop-timeout', async (t) => {
  const started = Date.now();
  // The failer waits until the probe ignores SIGTERM (bit 15 of SigIgn), else SIGTERM would end it: 143.
  const ignoring = 'p=$(pidof probe) && grep -q "^SigIgn:.*4000$" /proc/$p/status';
  const r = await runPod(t, {
    stopTimeout: 1,
    apps: [probe(['ignore-term', '30'], { name: 'stubborn' }), { name: 'failer', exec: '/bin/sh', args: ['-c', failOnceProbeRuns(3, ignoring)] }],
  });
  const elapsed = Date.now() - started;
  t.is(r.code, 3, r.stderr);
  t.like(r.state.apps.stubborn?.exit, { code: 137, signal: 'SIGKILL' });
  // Only a lower bound (a busy host only makes it longer): stage1 waited out stop-timeout before SIGKILL.
  t.true(elapsed >= 1_000, `stopped after ${elapsed} ms`);
});

test('multi-app: all apps exiting 0 give 0', async (t) => {
  const r = await runPod(t, { apps: [probe(['exit', '0'], { name: 'a' }), probe(['sleep', '0.2'], { name: 'b' })] });
  t.is(r.code, 0, r.stderr);
  t.is(r.state.apps.a?.exit?.code, 0);
  t.is(r.state.apps.b?.exit?.code, 0);
});

test('stage1 holds the pod lock for the life of the pod, and only that long', async (t) => {
  const pod = await createPod(t, { apps: [probe(['sleep', '30'])] });
  const running = startPod(t, pod);
  await running.waitForPid1();
  t.false(podLockFree(pod.dir), 'locked while the pod runs');
  process.kill(running.pid, 'SIGTERM');
  const r = await running.result;
  t.is(r.code, 143, r.stderr);
  t.true(podLockFree(pod.dir), 'free once stage1 has exited');
});

test('teardown: file-cleanup files are removed, already-gone ones are fine', async (t) => {
  const dir = tempDir(t);
  const address = join(dir, '198.18.3.4');
  writeFileSync(address, 'pod');
  const r = await runPod(t, { fileCleanup: [address, join(dir, 'never-existed')], apps: [probe(['exit', '0'])] });
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  t.false(existsSync(address));
});

test('an unknown config key is refused with exit 2, naming the key', async (t) => {
  const r = await runPod(t, { apps: [probe(['exit', '0'])], extra: [['frobnicate', 'yes']] });
  t.is(r.code, 2);
  t.regex(r.stderr, /^skiff-stage1: config: unknown key 'frobnicate'/);
  t.is(r.state.apps.probe?.started, undefined, 'no app ran');
});

test('config errors: version first, app keys inside an app, no app', async (t) => {
  const pod = await createPod(t, { apps: [probe(['exit', '0'])] });
  const cases: [[string, string][], RegExp][] = [
    [[['uuid', 'x'], ['version', '1']], /the first pair must be 'version' '1'/],
    [[['version', '2']], /the first pair must be 'version' '1'/],
    [[['version', '1'], ['exec', '/probe']], /app key 'exec' before the first 'app'/],
    [[['version', '1'], ['uuid', 'u'], ['pod-dir', pod.dir]], /missing key/],
  ];
  for (const [pairs, message] of cases) {
    writeFileSync(pod.configPath, encodeConfig(pairs));
    const r = await startPod(t, pod).result;
    t.is(r.code, 2, JSON.stringify(pairs));
    t.regex(r.stderr, message);
  }
});

test('config checks: a relative working dir or mount target, a volume given twice, stop-timeout, netns and lock-fd out of range: exit 2, nothing run', async (t) => {
  const pod = await createPod(t, { apps: [probe(['exit', '0'])] });
  const text = readFileSync(pod.configPath, 'utf8').split('\0');
  const base: [string, string][] = [];
  for (let i = 0; i + 1 < text.length; i += 2) base.push([text[i] as string, text[i + 1] as string]);
  const appAt = base.findIndex(([k]) => k === 'app');
  /** The valid config with pod pairs put before the first app, app pairs after it, and values replaced. */
  const variant = (podPairs: [string, string][], appPairs: [string, string][], replace: Record<string, string> = {}) => {
    const pairs = base.map(([k, v]): [string, string] => [k, replace[k] ?? v]);
    return [...pairs.slice(0, appAt), ...podPairs, pairs[appAt]!, ...appPairs, ...pairs.slice(appAt + 1)];
  };
  const volume = (name: string): [string, string] => ['volume', `${name}\tempty\t${join(pod.dir, name)}\t0`];
  const cases: [[string, string][], RegExp][] = [
    [variant([], [['working-dir', 'tmp']]), /app probe: working-dir 'tmp' is not absolute/],
    [variant([volume('v')], [['mount', 'v\tdata']]), /app probe: mount 'v' is not VOLUME\\tABSOLUTE-TARGET/],
    [variant([volume('v'), volume('v')], []), /volume v: given twice/],
    [variant([['stop-timeout', '86401']], []), /stop-timeout: '86401' is not 0\.\.86400 seconds/],
    [variant([], [], { netns: 'sometimes' }), /netns: 'sometimes' is not host, new or an absolute path/],
    [variant([], [], { 'lock-fd': '2' }), /lock-fd: '2' is not a fd number above 2/],
  ];
  for (const [pairs, message] of cases) {
    writeFileSync(pod.configPath, encodeConfig(pairs));
    const r = await startPod(t, pod).result;
    t.is(r.code, 2, `${JSON.stringify(pairs)}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.is(r.state.apps.probe?.started, undefined, 'no app ran');
  }
});

test('a bad rootfs path: exit 254 and one clear line in stage1-error and on stderr', async (t) => {
  const missing = '/nonexistent/skiff-test-rootfs';
  const r = await runPod(t, { rootfsDir: missing, apps: [probe(['exit', '0'])] });
  t.is(r.code, 254);
  const line = `rootfs: mount --bind ${missing} on ${r.pod.rootfsTarget}: ENOENT`;
  t.is(r.state.stage1Error, `${line}\n`);
  t.is(r.stderr, `skiff-stage1: ${line}\n`);
  t.is(r.state.pid, undefined, 'PID 1 never got to run the pod');
});

test('a missing overlay lower dir names the dir', async (t) => {
  const pod = await createPod(t, { apps: [probe(['exit', '0'])] });
  const config = encodeConfig([
    ['version', '1'], ['uuid', pod.uuid], ['pod-dir', pod.dir], ['lock-fd', '3'], ['hostname', 'h'],
    ['rootfs-lower', '/nonexistent/layer'], ['rootfs-upper', join(pod.dir, 'upper')], ['rootfs-work', join(pod.dir, 'work')],
    ['rootfs-target', pod.rootfsTarget], ['netns', 'new'], ['app', 'probe'], ['exec', '/probe'],
  ]);
  writeFileSync(pod.configPath, config);
  const r = await startPod(t, pod).result;
  t.is(r.code, 254);
  t.regex(r.state.stage1Error ?? '', /^rootfs: mount overlay on .*\/rootfs \(lowerdir \/nonexistent\/layer\): ENOENT\n$/);
});

test('an app that cannot be exec\'d: 254, the step names the app and the path', async (t) => {
  const r = await runPod(t, { apps: [probe(['sleep', '30'], { name: 'ok' }), { name: 'broken', exec: '/no/such/binary' }] });
  t.is(r.code, 254);
  t.is(r.state.stage1Error, 'app broken: execve /no/such/binary: ENOENT\n');
  t.like(r.state.apps.ok?.exit, { code: 143, signal: 'SIGTERM' }, 'the running app was stopped');
  t.is(r.state.apps.broken?.started, undefined);
});

test('PATH lookup uses the app env, not stage1\'s', async (t) => {
  const found = await runPod(t, { apps: [{ name: 'a', exec: 'probe', args: ['exit', '5'], env: ['PATH=/nowhere:/'] }] });
  t.is(found.code, 5, found.stderr);
  const missing = await runPod(t, { apps: [{ name: 'a', exec: 'probe', args: ['exit', '5'], env: ['PATH=/bin'] }] });
  t.is(missing.code, 254);
  t.is(missing.state.stage1Error, 'app a: execve probe (searched PATH=/bin): ENOENT\n');
});

test('stderr of the app passes through; stage1 itself prints nothing on success', async (t) => {
  const r = await runPod(t, { apps: [{ name: 'sh', exec: '/bin/sh', args: ['-c', 'echo out; echo err >&2'] }] });
  t.is(r.code, 0);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
});

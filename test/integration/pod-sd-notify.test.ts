/**
 * A pod under a Type=notify unit: with NOTIFY_SOCKET set, stage1 (the process systemd started:
 * the launcher and Node exec it in place) sends READY=1 and MAINPID once every app has started,
 * on the CLI path and replayed; the apps never see the socket. A test-side listener stands in
 * for systemd; abstract sockets work too although stage1 moves into the pod's netns.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff, skiffCommand, skiffEnv } from '../support/skiff-cli.js';
import { notifyListener } from '../support/notify-listener.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/stage1-harness.js';

/**
 * `skiff run ARGS` as a Type=notify unit starts it: NOTIFY_SOCKET (and `env`) set, output
 * collected. `closed` is taken at spawn: the pod may end (and the child close) while the test
 * still awaits the `enter` that released it, and a 'close' listener added after that never fires.
 */
function startUnderNotify(s: PodStore, address: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const [command, argv] = skiffCommand(['--dir', s.dir, ...args]);
  const child = spawn(command, argv, { env: skiffEnv({ ...s.env, NOTIFY_SOCKET: address, SKIFF_LAUNCH_TRACE: '1', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = once(child, 'close');
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  return { child, out, closed };
}

/** Lets the app (waiting for /tmp/go) end, through `skiff enter`. */
async function releaseApp(t: ExecutionContext, s: PodStore, uuid: string): Promise<void> {
  const enter = await s.skiff(['enter', uuid, '--', '/bin/touch', '/tmp/go']);
  t.is(enter.code, 0, enter.stderr);
}

test('READY=1 with stage1\'s PID once the apps run, both paths; the apps do not see NOTIFY_SOCKET', async (t) => {
  const s = await podStore(t);
  for (const [path, address] of [['node', join(tempDir(t), 'notify')], ['replay', `@skiff-test-pod-notify-${process.pid}`]] as const) {
    const listener = await notifyListener(t, address);
    const { child, out, closed } = startUnderNotify(s, address, ['run', s.image, '--name', 'web', '--exec', '/bin/sh', '--', '-c',
      'echo "notify=${NOTIFY_SOCKET:-unset}"; while [ ! -e /tmp/go ]; do sleep 0.05; done']);
    const message = await listener.next();
    t.is(message, `READY=1\nMAINPID=${child.pid}\n`, `${path}: the unit's main PID is stage1, exec'd in place`);
    // Ready means started: the app's started file is there already.
    const run = join(s.dir, 'pods', 'run');
    const uuid = readdirSync(run)[0]!;
    t.true(existsSync(join(run, uuid, 'apps', 'web', 'started')));
    await releaseApp(t, s, uuid);
    await closed;
    t.is(child.exitCode, 0, out.stderr);
    t.regex(out.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.is(out.stdout, 'notify=unset\n');
    await s.skiff(['gc', '--grace-period=0s']);
  }
});

test('--sd-notify=app: the app\'s own STATUS=, WATCHDOG=1 and READY=1 reach systemd from stage1, in order, READY only when the app says it; both paths', async (t) => {
  const s = await podStore(t);
  for (const [path, address] of [['node', join(tempDir(t), 'notify')], ['replay', `@skiff-test-app-notify-${process.pid}`]] as const) {
    const listener = await notifyListener(t, address);
    const script = [
      'echo "notify=$NOTIFY_SOCKET watchdog=$WATCHDOG_USEC"',
      '/probe notify STATUS=starting WATCHDOG=1 >/dev/null',
      'while [ ! -e /tmp/go ]; do sleep 0.05; done',
      // MAINPID= is the app's own pid in the pod: stage1 puts its own; the fd store's lines are dropped.
      '/probe notify "$(printf "READY=1\\nSTATUS=ready\\nMAINPID=2\\nFDSTORE=1\\nNOTIFYACCESS=all")" FDSTORE=1 STATUS=done >/dev/null',
    ].join('; ');
    // The unit's WatchdogSec= (no WATCHDOG_PID: meant for whoever systemd started) reaches the app.
    const { child, out, closed } = startUnderNotify(s, address, ['run', '--sd-notify=app', s.image, '--name', 'web', '--exec', '/bin/sh', '--', '-c', script], { WATCHDOG_USEC: '5000000' });
    t.is(await listener.next(), 'STATUS=starting\n', `${path}: the app's first message comes first: stage1 said no READY of its own`);
    t.is(await listener.next(), 'WATCHDOG=1\n');
    // Once stage1 has marked the app started (its message may trail the app's first notification,
    // and enter waits for it), stage1 would have said READY=1; the app is not ready until it says so.
    const run = join(s.dir, 'pods', 'run');
    const uuid = readdirSync(run).find((u) => !existsSync(join(run, u, 'apps', 'web', 'exit')))!;
    await waitFor('stage1 to mark the app started', () => existsSync(join(run, uuid, 'apps', 'web', 'started')) || undefined, 30_000);
    t.true(existsSync(join(run, uuid, 'apps', 'web', 'started')));
    await releaseApp(t, s, uuid);
    t.is(await listener.next(), `READY=1\nSTATUS=ready\nMAINPID=${child.pid}\n`, 'from the app, MAINPID stage1\'s');
    t.is(await listener.next(), 'STATUS=done\n', 'an FDSTORE=1 alone is not sent at all');
    await closed;
    t.is(child.exitCode, 0, out.stderr);
    t.regex(out.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.is(out.stdout, 'notify=/run/systemd/notify watchdog=5000000\n');
  }
  await s.skiff(['gc', '--grace-period=0s']);
});

test('--sd-notify=app without NOTIFY_SOCKET: the apps get none, and the pod runs as any other', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff(['run', '--sd-notify=app', s.image, '--exec', '/bin/sh', '--', '-c', 'echo "notify=${NOTIFY_SOCKET:-unset}"; test ! -e /run/systemd/notify']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'notify=unset\n');
});

test('--sd-notify=app with per-app roots (apps of two images): both apps reach the one relay, even a read-only root', async (t) => {
  const s = await podStore(t);
  const { fixtureImages, PROBE_CONFIG } = await import('../support/fixture-images.js');
  const { buildImage, buildLayer } = await import('../support/oci-image.js');
  const { writeOciLayout } = await import('../support/oci-layout.js');
  const { gunzipSync } = await import('node:zlib');
  const baseLayer = (await fixtureImages()).oci.layers[0]!;
  const second = buildImage({ layers: [buildLayer(gunzipSync(baseLayer.data)), buildLayer([{ path: 'etc/', type: 'dir' }, { path: 'etc/marker', type: 'file', content: 'b\n' }])], config: PROBE_CONFIG });
  const layout = join(s.dir, '..', 'second');
  await writeOciLayout(layout, [{ ref: 'b', image: second }]);
  const address = join(tempDir(t), 'notify');
  const listener = await notifyListener(t, address);
  const [command, argv] = skiffCommand(['--dir', s.dir, 'run', '--sd-notify=app',
    s.image, '--name', 'a', '--exec', '/probe', '--', 'notify', 'STATUS=from-a', '---',
    `oci:${layout}:b`, '--name', 'b', '--readonly-rootfs', '--exec', '/bin/sh', '--', '-c', 'test -e /etc/marker && /probe notify STATUS=from-b']);
  const child = spawn(command, argv, { env: skiffEnv({ ...s.env, NOTIFY_SOCKET: address }), stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = once(child, 'close');
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const got = [await listener.next(), await listener.next()].sort();
  t.deepEqual(got, ['STATUS=from-a\n', 'STATUS=from-b\n']);
  await closed;
  t.is(child.exitCode, 0, stderr);
});

test('--sd-notify=app in an image whose /run/systemd is a symlink: refused before any app runs (254, saying so)', async (t) => {
  const s = await podStore(t);
  const { fixtureImages, PROBE_CONFIG } = await import('../support/fixture-images.js');
  const { buildImage, buildLayer } = await import('../support/oci-image.js');
  const { writeOciLayout } = await import('../support/oci-layout.js');
  const { gunzipSync } = await import('node:zlib');
  const baseLayer = (await fixtureImages()).oci.layers[0]!;
  const hostile = buildImage({
    layers: [buildLayer(gunzipSync(baseLayer.data)), buildLayer([{ path: 'run/', type: 'dir' }, { path: 'run/systemd', type: 'symlink', linkname: '/tmp' }])],
    config: PROBE_CONFIG,
  });
  const layout = join(s.dir, '..', 'hostile');
  await writeOciLayout(layout, [{ ref: 'h', image: hostile }]);
  const address = join(tempDir(t), 'notify');
  await notifyListener(t, address);
  const r = await runSkiff(['--dir', s.dir, 'run', '--sd-notify=app', `oci:${layout}:h`, '--exec', '/probe', '--', 'exit', '0'], { env: { ...s.env, NOTIFY_SOCKET: address } });
  t.is(r.code, 254, r.stderr);
  t.regex(r.stderr, /\/run\/systemd is not a directory \(a symlink\?\)/);
});

/**
 * A pod under a Type=notify unit: with NOTIFY_SOCKET set, stage1 (the process systemd started:
 * the launcher and Node exec it in place) sends READY=1 and MAINPID once every app has started,
 * on the CLI path and replayed; the apps never see the socket. A test-side listener stands in
 * for systemd; abstract sockets work too although stage1 moves into the pod's netns.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { podStore } from '../support/pod-store.js';
import { skiffCommand, skiffEnv } from '../support/skiff-cli.js';
import { notifyListener } from '../support/notify-listener.js';
import { tempDir } from '../support/temp-dir.js';

test('READY=1 with stage1\'s PID once the apps run, both paths; the apps do not see NOTIFY_SOCKET', async (t) => {
  const s = await podStore(t);
  for (const [path, address] of [['node', join(tempDir(t), 'notify')], ['replay', `@skiff-test-pod-notify-${process.pid}`]] as const) {
    const listener = await notifyListener(t, address);
    const [command, argv] = skiffCommand(['--dir', s.dir, 'run', s.image, '--name', 'web', '--exec', '/bin/sh', '--', '-c',
      'echo "notify=${NOTIFY_SOCKET:-unset}"; while [ ! -e /tmp/go ]; do sleep 0.05; done']);
    const child = spawn(command, argv, { env: skiffEnv({ ...s.env, NOTIFY_SOCKET: address, SKIFF_LAUNCH_TRACE: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const message = await listener.next();
    t.is(message, `READY=1\nMAINPID=${child.pid}\n`, `${path}: the unit's main PID is stage1, exec'd in place`);
    // Ready means started: the app's started file is there already.
    const run = join(s.dir, 'pods', 'run');
    const uuid = readdirSync(run)[0]!;
    t.true(existsSync(join(run, uuid, 'apps', 'web', 'started')));
    const enter = await import('../support/skiff-cli.js').then((m) => m.runSkiff(['--dir', s.dir, 'enter', uuid, '--', '/bin/touch', '/tmp/go'], { env: s.env }));
    t.is(enter.code, 0, enter.stderr);
    await once(child, 'close');
    t.is(child.exitCode, 0, stderr);
    t.regex(stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.is(stdout, 'notify=unset\n');
    await s.skiff(['gc', '--grace-period=0s']);
  }
});

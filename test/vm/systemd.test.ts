/**
 * Skiff under a real systemd on a cgroup v2 host (the VM tier): a pod run by
 * `systemd-run -p Delegate=yes --wait --pipe skiff run ...` nests its cgroup
 * under the transient unit's (placement.ts: `<unit>/skiff-<uuid>`, stage1 as
 * the unit's main process in the `skiff-supervisor` leaf), gets its limit,
 * and the app's exit status is systemd-run's. Skipped, visibly, where systemd
 * is not PID 1 or the host is not pure v2 (test/vm/vm-host.ts).
 *
 * And a Type=notify unit: `systemd-run` returns once stage1's READY=1 came
 * (every app started), and `systemctl stop` ends the pod in order with the
 * app's own status; with `--sd-notify=app`, the app's own READY=1 and STATUS=
 * (relayed by stage1, the main PID) are what systemd sees.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podStore } from '../support/pod-store.js';
import { skiffLauncher } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import { cgroup2Mount, systemdV2 } from './vm-host.js';

const systemdTest = systemdV2 ? test : test.skip;

const show = (unit: string, property: string) =>
  execFileSync('systemctl', ['show', '--value', '-p', property, unit], { encoding: 'utf8' }).trim();

/** systemctl status, for a failure's message. */
function status(unit: string): string {
  try {
    return execFileSync('systemctl', ['status', '--no-pager', unit], { encoding: 'utf8' });
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

systemdTest('systemd-run -p Delegate=yes --wait --pipe skiff run: the pod nests under the unit\'s cgroup, stage1 is its main process, the app\'s status is systemd-run\'s', async (t) => {
  const s = await podStore(t);
  const unit = `skiff-vm-test-${process.pid}.service`;
  const uuidFile = join(tempDir(t, 'skiff-test-uuid-'), 'uuid');
  // No SKIFF_CGROUP_PARENT: a transient unit gets systemd's environment, not ours, so the default placement applies.
  // --interactive: the app gets systemd-run's stdin (else /dev/null), so it waits for the test's line.
  const run = spawn('systemd-run', [
    '--unit', unit, '-p', 'Delegate=yes', '--wait', '--pipe', '--quiet',
    skiffLauncher(), '--dir', s.dir, 'run', '--interactive', '--uuid-file-save', uuidFile, s.image, '--memory', '48Mi',
    '--exec', '/bin/sh', '--', '-c', 'echo ready; read line; echo "got $line"; exit 3',
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(run, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(async () => {
    if (run.exitCode === null && run.signalCode === null) {
      execFileSync('systemctl', ['stop', unit]);
      await exited;
    }
    try {
      execFileSync('systemctl', ['reset-failed', unit], { stdio: 'ignore' });
    } catch { /* not failed, or already gone */ }
  });
  let stdout = '';
  let stderr = '';
  run.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = new Promise<void>((resolve, reject) => {
    run.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('ready\n')) resolve();
    });
    void exited.then(([code]) => reject(new Error(`systemd-run exited ${code} before the app was ready: ${stderr}`)));
  });
  await ready;

  const unitDir = `${cgroup2Mount}/system.slice/${unit}`;
  t.true(existsSync(unitDir), `${unitDir}: ${show(unit, 'ControlGroup')} ${status(unit)}`);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  t.deepEqual(readdirSync(unitDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(),
    [`skiff-${uuid}`, 'skiff-supervisor'], 'the pod\'s cgroup and the leaf holding stage1, both inside the unit');
  const procs = (dir: string) => readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  t.deepEqual(procs(unitDir), [], 'no process left in the unit\'s own cgroup (no internal processes)');
  t.deepEqual(procs(`${unitDir}/skiff-supervisor`), [Number(show(unit, 'MainPID'))], `stage1 is the unit's main process: ${status(unit)}`);
  t.true(procs(`${unitDir}/skiff-${uuid}`).length > 0, 'the pod\'s processes are in its own cgroup');
  t.is(readFileSync(`${unitDir}/skiff-${uuid}/memory.max`, 'utf8').trim(), String(48 << 20));

  run.stdin.end('go\n');
  const [code] = await exited;
  t.is(code, 3, stderr);
  t.true(stdout.includes('got go\n'), 'stdin and stdout reach the app through --pipe');
  t.false(existsSync(unitDir), 'the unit and everything in it are gone');
});

systemdTest('a Type=notify unit: systemd sees READY=1 from stage1 once the app runs; systemctl stop ends the pod in order with the app\'s status', async (t) => {
  const s = await podStore(t);
  const unit = `skiff-vm-notify-${process.pid}.service`;
  const uuidFile = join(tempDir(t, 'skiff-test-uuid-'), 'uuid');
  t.teardown(() => {
    for (const args of [['stop', unit], ['reset-failed', unit]]) {
      try {
        execFileSync('systemctl', args, { stdio: 'ignore' });
      } catch { /* already gone */ }
    }
  });
  // Without --no-block, systemd-run returns once the unit is started: for Type=notify, once READY=1 came.
  // The app says when it is up (a file) and leaves with 7 on SIGTERM, which stage1 forwards on stop.
  execFileSync('systemd-run', [
    '--unit', unit, '-p', 'Type=notify', '-p', 'Delegate=yes', '-p', 'KillMode=mixed', '--quiet',
    skiffLauncher(), '--dir', s.dir, 'run', '--uuid-file-save', uuidFile, s.image,
    '--exec', '/bin/sh', '--', '-c', 'trap "exit 7" TERM; touch /tmp/up; while :; do sleep 1; done',
  ], { stdio: 'pipe' });
  t.is(show(unit, 'ActiveState'), 'active', status(unit));
  t.is(show(unit, 'Type'), 'notify');
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const pod = join(s.dir, 'pods', 'run', uuid);
  t.true(existsSync(join(pod, 'apps')) && readdirSync(join(pod, 'apps')).every((app) => existsSync(join(pod, 'apps', app, 'started'))),
    'active only once every app had started');
  execFileSync('systemctl', ['stop', unit]);
  t.is(show(unit, 'ExecMainStatus'), '7', `the app's status is the unit's: ${status(unit)}`);
  const exit = JSON.parse(readFileSync(join(pod, 'apps', readdirSync(join(pod, 'apps'))[0]!, 'exit'), 'utf8')) as { code: number };
  t.is(exit.code, 7, 'stage1 stopped the app with SIGTERM, which it handled');
});

systemdTest('--sd-notify=app under a Type=notify unit: the app\'s own STATUS= and READY=1 reach systemd through stage1\'s relay (NotifyAccess=main)', async (t) => {
  const s = await podStore(t);
  const unit = `skiff-vm-app-notify-${process.pid}.service`;
  t.teardown(() => {
    for (const args of [['stop', unit], ['reset-failed', unit]]) {
      try {
        execFileSync('systemctl', args, { stdio: 'ignore' });
      } catch { /* already gone */ }
    }
  });
  // systemd-run returns once READY=1 came: here the app's, relayed from stage1 (the unit's main PID).
  execFileSync('systemd-run', [
    '--unit', unit, '-p', 'Type=notify', '-p', 'Delegate=yes', '-p', 'KillMode=mixed', '--quiet',
    skiffLauncher(), '--dir', s.dir, 'run', '--sd-notify=app', s.image,
    '--exec', '/bin/sh', '--', '-c', 'trap "exit 0" TERM; /probe notify "STATUS=up from the app" READY=1 >/dev/null; while :; do sleep 1; done',
  ], { stdio: 'pipe' });
  t.is(show(unit, 'ActiveState'), 'active', status(unit));
  t.is(show(unit, 'NotifyAccess'), 'main');
  t.is(show(unit, 'StatusText'), 'up from the app', status(unit));
  execFileSync('systemctl', ['stop', unit]);
});

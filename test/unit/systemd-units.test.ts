/**
 * The shipped units (dist/systemd/) pass `systemd-analyze verify`, with ExecStart pointing at the
 * skiff this tree built (the units name /usr/local/bin/skiff, which a test machine need not
 * have); the tmpfiles.d entry makes its dirs under a root of the test's own.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';
import { skiffLauncher } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';

const UNITS = join(packageRoot(), 'dist', 'systemd');
const INSTALLED = '/usr/local/bin/skiff';

const units = () => readdirSync(UNITS).filter((f) => /\.(service|timer)$/.test(f));

test('every unit verifies with systemd-analyze (ExecStart at this tree\'s skiff)', (t) => {
  const dir = tempDir(t);
  t.deepEqual(units().sort(), ['skiff-gc.service', 'skiff-gc.timer', 'skiff-net.service', 'skiff-pod@.service']);
  for (const unit of units()) {
    writeFileSync(join(dir, unit), readFileSync(join(UNITS, unit), 'utf8').replaceAll(INSTALLED, skiffLauncher()));
  }
  // A template verifies as an instance of itself.
  copyFileSync(join(dir, 'skiff-pod@.service'), join(dir, 'skiff-pod@web.service'));
  for (const unit of [...units().filter((u) => !u.endsWith('@.service')), 'skiff-pod@web.service']) {
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, unit)], { encoding: 'utf8', cwd: dir });
    t.is(r.status, 0, `${unit}: ${r.stderr}`);
    t.is(r.stderr.trim(), '', `${unit}: no warnings`);
  }
});

test('the units say what Skiff\'s model needs: skiff as the main process, KillMode=mixed, Delegate, notify for the daemon', (t) => {
  const pod = readFileSync(join(UNITS, 'skiff-pod@.service'), 'utf8');
  t.regex(pod, /^ExecStart=\/usr\/local\/bin\/skiff run /m);
  t.regex(pod, /^KillMode=mixed$/m);
  t.regex(pod, /^Delegate=yes$/m);
  t.regex(pod, /^RestartPreventExitStatus=2$/m);
  t.regex(readFileSync(join(UNITS, 'skiff-net.service'), 'utf8'), /^Type=notify$/m);
  t.regex(readFileSync(join(UNITS, 'skiff-gc.timer'), 'utf8'), /^OnUnitActiveSec=/m);
});

test('tmpfiles.d/skiff.conf makes the dirs, with their modes', (t) => {
  const root = tempDir(t);
  const r = spawnSync('systemd-tmpfiles', ['--create', `--root=${root}`, join(UNITS, 'tmpfiles.d', 'skiff.conf')], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  for (const [dir, mode] of [['run/skiff/pods', 0o755], ['var/lib/skiff', 0o711], ['etc/skiff/net.d', 0o755], ['etc/skiff/pods', 0o755]] as const) {
    t.true(existsSync(join(root, dir)), dir);
    t.is(statSync(join(root, dir)).mode & 0o777, mode, dir);
  }
});

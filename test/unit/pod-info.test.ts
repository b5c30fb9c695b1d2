/**
 * What `list` and `status` report about an exited pod, from its dir alone: a pod whose stage1
 * was killed (no exit record for an app, no stage1 error) never reads as success, whether it
 * was killed while its apps ran or before stage1 wrote anything at all.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podInfo } from '../../runtime/pods/pod-info.js';

const UUID = '11111111-2222-4333-8444-555555555555';

/** A pod in run/ that nobody holds locked (so: exited), with the files the test names. */
function exitedPod(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const store = mkdtempSync(join(tmpdir(), 'skiff-pod-info-'));
  t.teardown(() => rmSync(store, { recursive: true, force: true }));
  const dir = join(store, 'pods', 'run', UUID);
  const manifest = { created: '2026-12-05T00:00:00Z', runtime: { net: 'none' }, apps: ['web', 'db'].map((name) => ({ name, image: { id: 'sha256:x', name: 'img' } })) };
  for (const [path, content] of Object.entries({ pod: JSON.stringify(manifest), ...files })) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return store;
}

const exit = (code: number) => JSON.stringify({ code, signal: null, started: 'a', finished: 'b' });

test('every app recorded: the first failure\'s code, or 0', (t) => {
  const store = exitedPod(t, { 'apps/web/exit': exit(0), 'apps/db/exit': exit(3) });
  t.like(podInfo(store, { state: 'run', uuid: UUID }), { state: 'exited', exitCode: 3, reason: undefined });
});

test('killed while its apps ran: one app has no exit record → no code, and a reason naming it', (t) => {
  const store = exitedPod(t, { pid: '123', 'apps/web/started': 'a', 'apps/web/exit': exit(0), 'apps/db/started': 'a' });
  const info = podInfo(store, { state: 'run', uuid: UUID });
  t.is(info.exitCode, null);
  t.regex(info.reason ?? '', /an exit status for db \(killed/);
});

test('killed before stage1 wrote anything (its first half-second) → no code, not 0', (t) => {
  const info = podInfo(exitedPod(t, {}), { state: 'run', uuid: UUID });
  t.is(info.state, 'exited');
  t.is(info.exitCode, null);
  t.regex(info.reason ?? '', /web, db/);
});

test('stage1 failed before any app ran: its error and 254, not unknown', (t) => {
  const info = podInfo(exitedPod(t, { 'stage1-error': 'rootfs: mount overlay: ENOENT' }), { state: 'run', uuid: UUID });
  t.like(info, { exitCode: 254, reason: undefined, error: 'rootfs: mount overlay: ENOENT' });
});

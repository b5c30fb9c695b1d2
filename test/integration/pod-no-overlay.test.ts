/**
 * `--no-overlay` pods through the CLI: each root is rendered at prepare time
 * from the store's blobs into the pod dir (rootfs-copy/, per app with
 * per-app roots) and handed to stage1 as `rootfs-dir`; the app writes into
 * its copy, and the store's layers stay exactly as they were.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { podStore, type PodStore } from '../support/pod-store.js';
import { storeState } from '../support/store-state.js';
import { mountsUnder } from '../support/temp-dir.js';

const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

async function onlyPod(s: PodStore): Promise<string> {
  const list = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string }>;
  if (list.length !== 1 || list[0] === undefined) throw new Error(`expected one pod, got ${list.length}`);
  return list[0].uuid;
}

/** The stage1 config's values for `key` (NUL-separated key, value pairs). */
function stage1Values(podDir: string, key: string): string[] {
  const parts = readFileSync(join(podDir, 'stage1.conf'), 'utf8').split('\0');
  const out: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i] === key) out.push(parts[i + 1] as string);
  return out;
}

test('a --no-overlay pod runs the probe on a rendered copy: writes land there, the stored layers are untouched, no mounts left', async (t) => {
  const s = await podStore(t);
  const before = storeState(s.dir);
  const r = await s.skiff(['run', '--no-overlay', s.image, '--exec', '/bin/sh', '--', '-c', '/probe write /written yes && /probe cat /etc/skiff-platform && /probe info']);
  t.is(r.code, 0, r.stderr);
  const [write, cat, info] = jsonLines(r.stdout);
  t.like(write, { ok: true });
  t.like(cat, { content: 'linux/amd64\n' });
  const root = (info?.['mounts'] as Array<{ mountpoint: string; fstype: string }>).find((m) => m.mountpoint === '/');
  t.not(root?.fstype, 'overlay', 'a bind of the rendered copy, not an overlay');
  const uuid = await onlyPod(s);
  const podDir = join(s.dir, 'pods', 'run', uuid);
  t.is(readFileSync(join(podDir, 'rootfs-copy', 'written'), 'utf8'), 'yes');
  t.true(existsSync(join(podDir, 'rootfs-copy', 'probe')));
  t.deepEqual(stage1Values(podDir, 'rootfs-dir'), [join(podDir, 'rootfs-copy')]);
  t.deepEqual(stage1Values(podDir, 'rootfs-lower'), []);
  t.false(existsSync(join(podDir, 'overlay')), 'no overlay dirs are made');
  t.is(storeState(s.dir), before, 'the store\'s layers and blobs are untouched');
  t.deepEqual(mountsUnder(s.dir), []);
  const rm = await s.skiff(['rm', uuid]);
  t.is(rm.code, 0, rm.stderr);
  t.false(existsSync(podDir));
});

test('prepare --no-overlay then run-prepared: the copy moves with the pod dir; --readonly-rootfs keeps it read-only', async (t) => {
  const s = await podStore(t);
  const p = await s.skiff(['prepare', '--no-overlay', s.image, '--readonly-rootfs', '--exec', '/bin/sh', '--', '-c', '/probe write /written no; /probe ls /']);
  t.is(p.code, 0, p.stderr);
  const uuid = p.stdout.trim();
  t.true(existsSync(join(s.dir, 'pods', 'prepared', uuid, 'rootfs-copy', 'probe')), 'rendered at prepare time');
  const r = await s.skiff(['run-prepared', uuid]);
  t.is(r.code, 0, r.stderr);
  t.like(jsonLines(r.stdout)[0], { ok: false, error: 'EROFS' });
  t.false(existsSync(join(s.dir, 'pods', 'run', uuid, 'rootfs-copy', 'written')));
  t.deepEqual(mountsUnder(s.dir), []);
});

test('a pod dir is root-only: another host user cannot reach its rendered root (device nodes, setuid files)', async (t) => {
  const s = await podStore(t);
  const p = await s.skiff(['prepare', '--no-overlay', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(p.code, 0, p.stderr);
  const dir = join(s.dir, 'pods', 'prepared', p.stdout.trim());
  // The test's own temp dirs are private: open the way down to the pods so only the pod dir's mode decides.
  for (let d = s.dir; d !== '/' && d !== tmpdir(); d = dirname(d)) chmodSync(d, 0o755);
  const nobodyStats = (path: string) => spawnSync('/usr/bin/stat', [path], { uid: 65534, gid: 65534, stdio: 'ignore' }).status === 0;
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.false(nobodyStats(join(dir, 'rootfs-copy', 'probe')));
  chmodSync(dir, 0o711);
  t.true(nobodyStats(join(dir, 'rootfs-copy', 'probe')), 'with the old mode nobody got in (the check works here)');
});

test('apps of different images with --no-overlay each run on their own rendered copy (whiteouts of the second image applied)', async (t) => {
  const s = await podStore(t);
  const { fixtureImages, PROBE_CONFIG } = await import('../support/fixture-images.js');
  const { buildImage, buildLayer } = await import('../support/oci-image.js');
  const { writeOciLayout } = await import('../support/oci-layout.js');
  const { gunzipSync } = await import('node:zlib');
  const baseLayer = (await fixtureImages()).oci.layers[0];
  if (baseLayer === undefined) return t.fail();
  const top = buildLayer([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/.wh.skiff-platform', type: 'file', content: '' },
    { path: 'etc/app-marker', type: 'file', content: 'second image\n' },
  ]);
  const second = buildImage({ layers: [buildLayer(gunzipSync(baseLayer.data)), top], config: PROBE_CONFIG });
  const layout = join(s.dir, '..', 'second');
  await writeOciLayout(layout, [{ ref: 'marked', image: second }]);
  const fetched = await s.skiff(['fetch', '--quiet', `oci:${layout}:marked`]);
  t.is(fetched.code, 0, fetched.stderr);
  const before = storeState(s.dir);
  const r = await s.skiff([
    'run', '--no-overlay',
    s.image, '--name', 'plain', '--exec', '/bin/sh', '--', '-c', 'test -e /etc/app-marker && echo LEAK; cat /etc/skiff-platform; echo plain > /mine',
    '---', `oci:${layout}:marked`, '--name', 'marked', '--exec', '/bin/sh', '--',
    '-c', 'cat /etc/app-marker; test -e /etc/skiff-platform && echo NOT-WHITED-OUT; echo marked > /mine',
  ]);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stdout, /LEAK|NOT-WHITED-OUT/);
  t.regex(r.stdout, /^linux\/amd64$/m);
  t.regex(r.stdout, /^second image$/m);
  const podDir = join(s.dir, 'pods', 'run', await onlyPod(s));
  t.is(readFileSync(join(podDir, 'rootfs-copy', 'plain', 'mine'), 'utf8'), 'plain\n');
  t.is(readFileSync(join(podDir, 'rootfs-copy', 'marked', 'mine'), 'utf8'), 'marked\n');
  t.deepEqual(stage1Values(podDir, 'rootfs-dir'), [join(podDir, 'rootfs-copy', 'plain'), join(podDir, 'rootfs-copy', 'marked')]);
  t.is(storeState(s.dir), before);
  t.deepEqual(mountsUnder(s.dir), []);
});

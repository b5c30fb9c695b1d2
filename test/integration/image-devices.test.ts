/**
 * Device nodes from image layers (security audit, issue 13, item 3): a
 * hostile layer carries `c 1:3 0666`-style nodes. Harmless devices only
 * (null 1:3, zero 1:5): they show whether user nobody could open a node, and
 * nothing else.
 *
 * - In the store the nodes are kept (pods run on the layer dirs; the pod's
 *   rootfs is mounted nodev), but layers/ is root-only (0700, as
 *   containerd's snapshot root), so no other host user reaches them; an
 *   older store whose layers/ is 0755 gets 0700 back on the next command.
 * - `image extract` skips them with one warning line unless --allow-devices.
 *
 * The temp dir is opened up to 0755 first: the store's parent (/var/lib) is
 * traversable by everyone, and the check must not pass only because the
 * test's own temp dir is private.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fetchedStore, type LayoutStore } from '../support/layout-store.js';
import { buildImage, buildLayer } from '../support/oci-image.js';

const NOBODY = 65534;

/** Whether user nobody can open `path` for reading. */
function nobodyOpens(path: string): boolean {
  const r = spawnSync('/bin/sh', ['-c', 'exec 3<"$1"', 'sh', path], { uid: NOBODY, gid: NOBODY, cwd: '/', stdio: 'ignore' });
  return r.status === 0;
}

const layer = buildLayer([
  { path: 'etc/', type: 'dir' },
  { path: 'etc/hostname', type: 'file', content: 'hostile\n' },
  { path: 'dev/', type: 'dir', mode: 0o755 },
  { path: 'dev/null2', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'dev/zero2', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
  { path: 'dev/null3', type: 'hardlink', linkname: 'dev/null2' },
]);
const hostile = buildImage({ layers: [layer] });
const DEVICES = ['dev/null2', 'dev/zero2', 'dev/null3'];

async function store(t: Parameters<typeof fetchedStore>[0]): Promise<LayoutStore & { id: string; layerDir: string }> {
  const s = await fetchedStore(t, hostile, 'skiff-devices-');
  chmodSync(s.work, 0o755);
  return { ...s, layerDir: join(s.store, 'layers', 'sha256', layer.diffId.slice(7)) };
}

test('device nodes in the store are kept for pods, but layers/ is root-only: nobody cannot open them', async (t) => {
  const s = await store(t);
  for (const dev of DEVICES) {
    const st = lstatSync(join(s.layerDir, dev));
    t.true(st.isCharacterDevice(), `${dev} is in the layer dir`);
    t.false(nobodyOpens(join(s.layerDir, dev)), `nobody cannot open ${dev} through the store`);
  }
  t.is(statSync(join(s.store, 'layers')).mode & 0o7777, 0o700);
  t.is(statSync(join(s.store, 'tmp')).mode & 0o7777, 0o700);
});

test('an existing store whose layers/ (and tmp/) let others in gets 0700 back on the next command', async (t) => {
  const s = await store(t);
  chmodSync(join(s.store, 'layers'), 0o755);
  chmodSync(join(s.store, 'tmp'), 0o755);
  t.true(nobodyOpens(join(s.layerDir, 'dev/null2')), 'the old mode did let nobody in (the check works here)');
  const r = await s.skiff(['fetch', '--quiet', s.ref]);
  t.is(r.code, 0, r.stderr);
  t.is(statSync(join(s.store, 'layers')).mode & 0o7777, 0o700);
  t.is(statSync(join(s.store, 'tmp')).mode & 0o7777, 0o700);
  t.false(nobodyOpens(join(s.layerDir, 'dev/null2')));
});

test('image extract skips device nodes with one warning line; nothing of them is in DIR', async (t) => {
  const s = await store(t);
  const out = join(s.work, 'out');
  const r = await s.skiff(['image', 'extract', s.id, out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^skiff: warning: [^\n]*skipped 3 device nodes[^\n]*--allow-devices[^\n]*\n$/);
  for (const dev of DEVICES) {
    t.false(existsSync(join(out, 'rootfs', dev)), `${dev} was not created`);
    t.false(nobodyOpens(join(out, 'rootfs', dev)));
  }
  t.is(statSync(join(out, 'rootfs', 'etc', 'hostname')).size, 8, 'the rest of the layer is there');
  const only = await s.skiff(['image', 'extract', '--rootfs-only', s.id, join(s.work, 'only')]);
  t.is(only.code, 0, only.stderr);
  t.false(existsSync(join(s.work, 'only', 'dev', 'null2')));
});

test('image extract --allow-devices creates them as the image says (as tar -xp as root does)', async (t) => {
  const s = await store(t);
  const out = join(s.work, 'out');
  const r = await s.skiff(['image', 'extract', '--allow-devices', s.id, out]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  for (const dev of DEVICES) {
    const st = lstatSync(join(out, 'rootfs', dev));
    t.true(st.isCharacterDevice(), dev);
    t.is(st.mode & 0o777, 0o666);
  }
  t.is(lstatSync(join(out, 'rootfs', 'dev/zero2')).rdev, lstatSync('/dev/zero').rdev);
  // The control for the tests above: what the user asked for is reachable, so "cannot open" there means something.
  t.true(nobodyOpens(join(out, 'rootfs', 'dev/null2')));
});

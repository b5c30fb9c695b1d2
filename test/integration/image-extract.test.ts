/**
 * `skiff image extract IMAGE DIR` end to end: the stored image's layers
 * rendered from their blobs into DIR/rootfs (or DIR with --rootfs-only),
 * next to the stored manifest and config; DIR whole or absent; a changed
 * blob is a verify error that leaves nothing.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findImage } from '../../image/store/find-image.js';
import { readImageIndex } from '../../image/store/image-index.js';
import { storePaths } from '../../image/store/store-paths.js';
import { extractImage } from '../../image/render-image.js';
import { VerifyError } from '../../runtime/errors.js';
import { fixtureImages } from '../support/fixture-images.js';
import { buildImage, buildLayer, type BuiltImage } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tarArchive } from '../support/tar-writer.js';
import { tempDir } from '../support/temp-dir.js';

interface Fetched {
  work: string;
  store: string;
  id: string;
  image: BuiltImage;
}

/** A store holding `image` (the probe fixture by default), fetched from an OCI layout. */
async function fetched(t: ExecutionContext, image?: BuiltImage): Promise<Fetched> {
  const work = tempDir(t, 'skiff-extract-');
  const built = image ?? (await fixtureImages()).oci;
  const layout = join(work, 'layout');
  await writeOciLayout(layout, [{ ref: 'img', image: built }]);
  const store = join(work, 'store');
  const r = await runSkiff(['--dir', store, 'fetch', '--quiet', `oci:${layout}:img`]);
  if (r.code !== 0) throw new Error(`fetch failed: ${r.stderr}`);
  return { work, store, id: r.stdout.trim(), image: built };
}

const extract = (f: Fetched, ...args: string[]) => runSkiff(['--dir', f.store, 'image', 'extract', f.id, ...args]);

/** What is next to DIR: no temp or set-aside dirs may be left. */
function siblings(f: Fetched): string[] {
  return readdirSync(f.work).sort();
}

/** Every path under a root: type and mode, owner, size, mtime (not of dirs), link target, content hash. */
const TREE_SCRIPT = `
import os, sys, stat, hashlib, json
root = sys.argv[1]; res = {}
for dp, dns, fns in os.walk(root):
    for n in dns + fns:
        p = os.path.join(dp, n); st = os.lstat(p)
        data = hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else None
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
        isdir = stat.S_ISDIR(st.st_mode)
        # Not a directory's mtime: GNU tar makes absolute symlinks at the very end (placeholders first), after it set those.
        res[os.path.relpath(p, root)] = [st.st_mode, st.st_uid, st.st_gid, None if isdir else st.st_size, None if isdir else st.st_mtime_ns, link, data]
print(json.dumps(res, sort_keys=True))
`;
const tree = (root: string): Record<string, unknown[]> => JSON.parse(execFileSync('python3', ['-c', TREE_SCRIPT, root], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Record<string, unknown[]>;

test('extract renders the probe image: the rootfs is what GNU tar -xp makes of its layer; manifest.json and config.json as stored', async (t) => {
  const f = await fetched(t);
  const out = join(f.work, 'out');
  const r = await extract(f, out);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(out).sort(), ['config.json', 'manifest.json', 'rootfs']);
  t.true(readFileSync(join(out, 'manifest.json')).equals(f.image.manifest.data));
  t.true(readFileSync(join(out, 'config.json')).equals(f.image.config.data));
  const layerTar = join(f.work, 'layer.tar');
  writeFileSync(layerTar, gunzipped(f.image.layers[0]!.data));
  const gnu = join(f.work, 'gnu');
  mkdirSync(gnu);
  execFileSync('tar', ['--numeric-owner', '-xpf', layerTar, '-C', gnu]);
  const expected = tree(gnu);
  const actual = tree(join(out, 'rootfs'));
  t.true(Object.keys(expected).length > 100, 'busybox applets and all');
  t.deepEqual(actual, expected);
  t.is(readlinkSync(join(out, 'rootfs/bin/sh')), '/bin/busybox');
  t.is(lstatSync(join(out, 'rootfs/tmp')).mode & 0o7777, 0o1777);
  t.is(lstatSync(join(out, 'rootfs')).mode & 0o777, 0o755);
  t.deepEqual(siblings(f), ['gnu', 'layer.tar', 'layout', 'out', 'store']);
});

function gunzipped(data: Buffer): Buffer {
  return execFileSync('gzip', ['-dc'], { input: data, maxBuffer: 256 << 20 });
}

test('--rootfs-only puts the rootfs straight into DIR; an existing empty DIR is filled', async (t) => {
  const f = await fetched(t);
  const out = join(f.work, 'out');
  mkdirSync(out);
  const r = await extract(f, out, '--rootfs-only');
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(join(out, 'probe')));
  t.false(existsSync(join(out, 'manifest.json')));
  t.false(existsSync(join(out, 'rootfs')));
  t.is(lstatSync(out).mode & 0o777, 0o755);
  t.deepEqual(siblings(f), ['layout', 'out', 'store']);
});

test('a non-empty DIR (or a file) is refused without --overwrite and left alone; --overwrite replaces it', async (t) => {
  const f = await fetched(t);
  const out = join(f.work, 'out');
  mkdirSync(out);
  writeFileSync(join(out, 'precious'), 'keep me');
  const refused = await extract(f, out);
  t.is(refused.code, 254);
  t.regex(refused.stderr, /exists and is not an empty directory; pass --overwrite to replace it/);
  t.deepEqual(readdirSync(out), ['precious']);
  const file = join(f.work, 'file');
  writeFileSync(file, 'a file');
  t.is((await extract(f, file)).code, 254);
  t.is(readFileSync(file, 'utf8'), 'a file');

  const replaced = await extract(f, out, '--overwrite');
  t.is(replaced.code, 0, replaced.stderr);
  t.deepEqual(readdirSync(out).sort(), ['config.json', 'manifest.json', 'rootfs']);
  const again = await extract(f, out, '--overwrite', '--rootfs-only');
  t.is(again.code, 0, again.stderr);
  t.true(existsSync(join(out, 'probe')));
  t.deepEqual(siblings(f), ['file', 'layout', 'out', 'store'], 'the replaced DIR is gone, no temp dir left');
});

test('a tampered stored layer blob is a VerifyError and DIR stays absent', async (t) => {
  const f = await fetched(t);
  const layer = f.image.layers[0]!;
  const blob = join(f.store, 'blobs', 'sha256', layer.digest.slice(7));
  const original = readFileSync(blob);
  const out = join(f.work, 'out');

  // A flipped byte: the gzip stream breaks first, but it is reported for what it is.
  const flipped = Buffer.from(original);
  flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0xff;
  writeFileSync(blob, flipped);
  const r = await extract(f, out);
  t.is(r.code, 254);
  t.regex(r.stderr, new RegExp(`stored blob of layer ${layer.digest} .*was changed.*expected ${layer.digest}`));
  t.false(existsSync(out));
  t.deepEqual(siblings(f), ['layout', 'store']);

  // Valid gzip of another tar: it renders completely, then fails its digests.
  writeFileSync(blob, gzipSync(tarArchive([{ path: 'evil', type: 'file', content: 'x' }])));
  const paths = storePaths(f.store);
  const record = findImage(readImageIndex(paths), f.id);
  const err = await t.throwsAsync(extractImage(paths, record, out), { instanceOf: VerifyError });
  t.regex(err!.message, /was changed since it was fetched/);
  t.false(existsSync(out));
  const rootfsOnly = await extract(f, out, '--rootfs-only');
  t.is(rootfsOnly.code, 254);
  t.false(existsSync(out));
  t.deepEqual(siblings(f), ['layout', 'store']);
});

test('a layer that does not match its diffID is a VerifyError (a stored blob whose digest holds)', async (t) => {
  // The config names a diffID that the layer does not have: fetch unpacks it and refuses, so plant
  // the record by hand after a good fetch of the same blob under a wrong diffID.
  const f = await fetched(t);
  const paths = storePaths(f.store);
  const record = findImage(readImageIndex(paths), f.id);
  const wrong = { ...record, layers: record.layers.map((l) => ({ ...l, diffId: `sha256:${'0'.repeat(64)}` })) };
  const out = join(f.work, 'out');
  const err = await t.throwsAsync(extractImage(paths, wrong, out), { instanceOf: VerifyError });
  t.regex(err!.message, /does not unpack to the diffID its image config names/);
  t.false(existsSync(out));
});

test('a multi-layer image is flattened: whiteouts, opaque dirs and replacements applied; the stored layers are untouched', async (t) => {
  const layers = [
    buildLayer([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/motd', type: 'file', content: 'base' },
      { path: 'etc/os-release', type: 'file', content: 'base' },
      { path: 'var/', type: 'dir' },
      { path: 'var/cache/', type: 'dir' },
      { path: 'var/cache/old', type: 'file', content: 'old' },
      { path: 'usr/', type: 'dir' },
      { path: 'usr/lib/', type: 'dir' },
      { path: 'usr/lib/libc.so', type: 'file', content: 'libc' },
    ]),
    buildLayer([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/.wh.motd', type: 'file', content: '' },
      { path: 'var/', type: 'dir' },
      { path: 'var/cache/', type: 'dir' },
      { path: 'var/cache/new', type: 'file', content: 'new' },
      { path: 'var/cache/.wh..wh..opq', type: 'file', content: '' },
    ]),
    buildLayer([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/os-release', type: 'file', content: 'top' },
      { path: 'usr/', type: 'dir' },
      { path: 'usr/lib/', type: 'dir' },
      { path: 'usr/lib/libc.so', type: 'file', content: 'libc 2' },
      { path: 'usr/lib/ld.so', type: 'hardlink', linkname: 'usr/lib/libc.so' },
    ], { compression: 'none' }),
  ];
  const f = await fetched(t, buildImage({ layers, config: { Cmd: ['/bin/true'] } }));
  const out = join(f.work, 'out');
  const r = await extract(f, out, '--rootfs-only');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(join(out, 'etc')), ['os-release']);
  t.is(readFileSync(join(out, 'etc/os-release'), 'utf8'), 'top');
  t.deepEqual(readdirSync(join(out, 'var/cache')), ['new']);
  t.is(readFileSync(join(out, 'usr/lib/libc.so'), 'utf8'), 'libc 2', 'an uncompressed layer too');
  t.is(lstatSync(join(out, 'usr/lib/ld.so')).ino, lstatSync(join(out, 'usr/lib/libc.so')).ino);
  // The overlay-form layers in the store keep their whiteout device and opaque dir.
  const middle = join(f.store, 'layers', 'sha256', layers[1]!.diffId.slice(7));
  t.true(lstatSync(join(middle, 'etc/motd')).isCharacterDevice());
  t.deepEqual(readdirSync(join(middle, 'var/cache')), ['new']);
});

/**
 * Hardlinks to a lower layer's file through the store and the CLI (issue 11,
 * section 2; image/store/layer-store.ts): `skiff fetch` copies the target up
 * and keeps such a layer under its chainID; what a pod's overlay of the
 * stored layers and `image extract` show is what GNU tar makes of the layers
 * extracted in order; the same diffID over other parents gives each image
 * its own content; `image rm` and `image gc` keep and remove chain-keyed
 * layers by what the records use; hostile links are refused at fetch and
 * leave nothing.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { chainIds } from '../../image/store/chain-id.js';
import { putBlob } from '../../image/store/blob-store.js';
import { readImageIndex } from '../../image/store/image-index.js';
import { unpackLayer } from '../../image/store/layer-store.js';
import { chainLayerPath, layerPath, storePaths, storedLayerPath } from '../../image/store/store-paths.js';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { fetchedStore, layoutStore } from '../support/layout-store.js';
import { buildImage, buildLayer, sha256, type BuiltImage, type Layer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import type { TarEntry } from '../support/tar-writer.js';

const T = 1_650_000_000;
const base = buildLayer([
  { path: 'usr/', type: 'dir', mtime: T },
  { path: 'usr/lib/', type: 'dir', mtime: T },
  { path: 'usr/lib/libc.so', type: 'file', content: 'libc\n'.repeat(100), mode: 0o4755, uid: 7, gid: 8, mtime: T - 100 },
  { path: 'usr/lib/ld.link', type: 'symlink', linkname: 'libc.so', uid: 9, gid: 10, mtime: T - 200 },
  { path: 'etc/', type: 'dir', mtime: T },
  { path: 'etc/motd', type: 'file', content: 'hello\n', mode: 0o640, uid: 0, gid: 4, mtime: T - 300 },
]);
const links = buildLayer([
  { path: 'usr/', type: 'dir', mtime: T },
  { path: 'usr/bin/', type: 'dir', mtime: T },
  { path: 'usr/bin/ld.so', type: 'hardlink', linkname: 'usr/lib/libc.so' },
  { path: 'usr/bin/ld2.so', type: 'hardlink', linkname: 'usr/lib/libc.so' },
  { path: 'usr/bin/ld.link', type: 'hardlink', linkname: 'usr/lib/ld.link' },
  { path: 'motd', type: 'hardlink', linkname: 'etc/motd' },
]);
const image = buildImage({ layers: [base, links] });

const diffIdsOf = (img: BuiltImage): string[] => (JSON.parse(img.config.data.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;

/** Every path under a root: mode, owner, size and mtime (not of dirs), link target, content hash (not inode numbers: a copy is not a link). */
const TREE_SCRIPT = `
import os, sys, stat, hashlib, json
root = sys.argv[1]; res = {}
for dp, dns, fns in os.walk(root):
    for n in dns + fns:
        p = os.path.join(dp, n); st = os.lstat(p)
        data = hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else None
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
        isdir = stat.S_ISDIR(st.st_mode)
        res[os.path.relpath(p, root)] = [st.st_mode, st.st_uid, st.st_gid, None if isdir else st.st_size, None if isdir else st.st_mtime_ns, link, data]
print(json.dumps(res, sort_keys=True))
`;
const tree = (root: string): Record<string, unknown[]> => JSON.parse(execFileSync('python3', ['-c', TREE_SCRIPT, root], { encoding: 'utf8' })) as Record<string, unknown[]>;

/** What GNU tar makes of the image's layers extracted in order into one dir. */
function gnuTar(t: ExecutionContext, img: BuiltImage): string {
  const work = tempDir(t, 'skiff-gnu-');
  const out = join(work, 'root');
  mkdirSync(out);
  for (const [i, layer] of img.layers.entries()) {
    const file = join(work, `layer${i}.tar`);
    writeFileSync(file, gunzipSync(layer.data));
    execFileSync('tar', ['--numeric-owner', '-xpf', file, '-C', out]);
  }
  return out;
}

test('fetch copies the lower file up: the overlay a pod gets and image extract both show what GNU tar makes of the layers; the lower layer is untouched', async (t) => {
  const s = await fetchedStore(t, image);
  const paths = storePaths(s.store);
  const [record] = readImageIndex(paths);
  const [chain0, chain1] = chainIds(diffIdsOf(image));
  t.is(record!.layers[0]!.chainId, undefined, 'the bottom layer stays keyed by its diffID');
  t.is(record!.layers[1]!.chainId, chain1);
  t.not(chain0, chain1);
  const lower = layerPath(paths, base.diffId);
  const upper = chainLayerPath(paths, chain1!);
  t.true(existsSync(upper));
  t.false(existsSync(layerPath(paths, links.diffId)), 'a copy-up layer is never stored by its diffID alone');
  t.is(lstatSync(join(lower, 'usr/lib/libc.so')).nlink, 1, 'nothing links into the lower layer');
  t.is(readFileSync(join(lower, 'usr/lib/libc.so'), 'utf8'), 'libc\n'.repeat(100));
  t.is(lstatSync(join(upper, 'usr/bin/ld2.so')).ino, lstatSync(join(upper, 'usr/bin/ld.so')).ino, 'two links to one lower file share one copy');

  const expected = tree(gnuTar(t, image));
  // The pod's rootfs is an overlay of the stored layer dirs (stage1 mounts it the same way).
  const mnt = join(s.work, 'merged');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${[upper, lower].join(':')}`, 'skiff-test-copy-up', mnt]);
  try {
    t.deepEqual(tree(mnt), expected);
  } finally {
    execFileSync('umount', [mnt]);
  }
  const out = join(s.work, 'out');
  const r = await s.skiff(['image', 'extract', '--rootfs-only', s.id, out]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(tree(out), expected);
  const ld = lstatSync(join(out, 'usr/bin/ld.so'));
  t.deepEqual([ld.mode & 0o7777, ld.uid, ld.gid], [0o4755, 7, 8]);
});

test('a pod runs a program that a later layer hardlinked from the probe layer', async (t) => {
  const s = await podStore(t);
  const probe = (await fixtureImages()).oci;
  const probeBlob = probe.layers[0]!;
  const tar = gunzipSync(probeBlob.data);
  const probeLayer: Layer = { tar, diffId: sha256(tar), compression: 'gzip', stored: probeBlob.data, digest: probeBlob.digest };
  const linkLayer = buildLayer([{ path: 'opt/', type: 'dir' }, { path: 'opt/probe-copy', type: 'hardlink', linkname: 'probe' }]);
  const img = buildImage({ layers: [probeLayer, linkLayer], config: PROBE_CONFIG });
  const layout = join(tempDir(t, 'skiff-copy-up-pod-'), 'layout');
  await writeOciLayout(layout, [{ ref: 'linked', image: img }]);
  const fetched = await s.skiff(['fetch', '--quiet', `oci:${layout}:linked`]);
  t.is(fetched.code, 0, fetched.stderr);
  // The second run is replayed from the plan the first recorded (native/launcher): the same layer dirs.
  for (let i = 0; i < 2; i++) {
    const r = await s.skiff(['run', `oci:${layout}:linked`, '--exec', '/opt/probe-copy', '--', 'exit', '5']);
    t.is(r.code, 5, r.stderr);
  }
});

/** Two bases with the same path, and one layer (one diffID) hardlinking it over each. */
function twoParents(): { a: BuiltImage; b: BuiltImage; c: BuiltImage; top: Layer; baseA: Layer; baseB: Layer } {
  const baseA = buildLayer([{ path: 'f', type: 'file', content: 'one', mode: 0o644, uid: 1, gid: 1, mtime: T }]);
  const baseB = buildLayer([{ path: 'f', type: 'file', content: 'two two', mode: 0o600, uid: 2, gid: 2, mtime: T + 1 }]);
  const top = buildLayer([{ path: 'g', type: 'hardlink', linkname: 'f' }]);
  const a = buildImage({ layers: [baseA, top], config: { Labels: { image: 'a' } } });
  const b = buildImage({ layers: [baseB, top], config: { Labels: { image: 'b' } } });
  // Same layers as a, another config: another image sharing a's chain.
  const c = buildImage({ layers: [baseA, top], config: { Labels: { image: 'c' } } });
  return { a, b, c, top, baseA, baseB };
}

test('the same diffID over two parents: each image gets its own copy, under its own chainID', async (t) => {
  const { a, b, top } = twoParents();
  const s = await layoutStore(t, a);
  await writeOciLayout(s.layout, [{ ref: 'a', image: a }, { ref: 'b', image: b }]);
  for (const ref of ['a', 'b']) t.is((await s.skiff(['fetch', '--quiet', `oci:${s.layout}:${ref}`])).code, 0);
  const paths = storePaths(s.store);
  const chainA = chainIds(diffIdsOf(a))[1]!;
  const chainB = chainIds(diffIdsOf(b))[1]!;
  t.not(chainA, chainB);
  t.deepEqual(readdirSync(paths.chains).sort(), [chainA.slice(7), chainB.slice(7)].sort());
  t.false(existsSync(layerPath(paths, top.diffId)));
  const gA = lstatSync(join(chainLayerPath(paths, chainA), 'g'));
  const gB = lstatSync(join(chainLayerPath(paths, chainB), 'g'));
  t.is(readFileSync(join(chainLayerPath(paths, chainA), 'g'), 'utf8'), 'one');
  t.is(readFileSync(join(chainLayerPath(paths, chainB), 'g'), 'utf8'), 'two two');
  t.deepEqual([gA.mode & 0o7777, gA.uid, gB.mode & 0o7777, gB.uid], [0o644, 1, 0o600, 2]);
  for (const [ref, content] of [['a', 'one'], ['b', 'two two']] as const) {
    const out = join(s.work, `out-${ref}`);
    t.is((await s.skiff(['image', 'extract', '--rootfs-only', `oci:${s.layout}:${ref}`, out])).code, 0);
    t.is(readFileSync(join(out, 'g'), 'utf8'), content);
  }
  // The record names the key, so a pod gets the right dir.
  for (const record of readImageIndex(paths)) {
    t.is(storedLayerPath(paths, record.layers[1]!), chainLayerPath(paths, record.id === a.config.digest ? chainA : chainB));
  }
});

test('image rm and image gc keep a chain-keyed layer while an image uses it and remove it after the last one', async (t) => {
  const { a, b, c, baseA, baseB } = twoParents();
  const s = await layoutStore(t, a);
  await writeOciLayout(s.layout, [{ ref: 'a', image: a }, { ref: 'b', image: b }, { ref: 'c', image: c }]);
  for (const ref of ['a', 'b', 'c']) t.is((await s.skiff(['fetch', '--quiet', `oci:${s.layout}:${ref}`])).code, 0);
  const paths = storePaths(s.store);
  const chainA = chainLayerPath(paths, chainIds(diffIdsOf(a))[1]!);
  const chainB = chainLayerPath(paths, chainIds(diffIdsOf(b))[1]!);
  t.is(readdirSync(paths.chains).length, 2, 'a and c share one chain');

  let r = await s.skiff(['--format', 'json', 'image', 'rm', `oci:${s.layout}:a`]);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { layersRemoved: number }).layersRemoved, 0);
  t.true(existsSync(chainA), 'c still uses it');
  r = await s.skiff(['--format', 'json', 'image', 'rm', `oci:${s.layout}:c`]);
  t.is((JSON.parse(r.stdout) as { layersRemoved: number }).layersRemoved, 2, 'its chain layer and its base');
  t.false(existsSync(chainA));
  t.false(existsSync(layerPath(paths, baseA.diffId)));
  t.true(existsSync(chainB));
  t.true(existsSync(layerPath(paths, baseB.diffId)));

  r = await s.skiff(['--format', 'json', 'image', 'gc', '--grace-period=0']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { layersRemoved: number }).layersRemoved, 2);
  t.deepEqual(readdirSync(paths.chains), []);
  t.deepEqual(readdirSync(paths.layers), []);
});

/** Fetches an image that must be refused; returns stderr. The store keeps no layer but the bottom one, and no scratch. */
async function refusedFetch(t: ExecutionContext, layers: TarEntry[][]): Promise<string> {
  const img = buildImage({ layers: layers.map((entries) => buildLayer(entries)) });
  const s = await layoutStore(t, img);
  const r = await s.skiff(['fetch', '--quiet', s.ref]);
  t.is(r.code, 254, r.stderr);
  const paths = storePaths(s.store);
  t.deepEqual(existsSync(paths.chains) ? readdirSync(paths.chains) : [], [], 'no chain-keyed layer');
  t.false(readdirSync(paths.layers).includes(sha256(buildLayer(layers.at(-1)!).tar).slice(7)), 'the refused layer is not stored');
  t.deepEqual(readdirSync(paths.tmp), [], 'no scratch left');
  t.deepEqual(readImageIndex(paths), [], 'no image recorded');
  return r.stderr;
}

test('hostile at fetch: a link through a lower symlink, to a whited-out path, or to nothing is refused with the reason; nothing is kept', async (t) => {
  const outside = tempDir(t, 'skiff-copy-up-host-');
  writeFileSync(join(outside, 'passwd'), 'host');
  t.regex(await refusedFetch(t, [[{ path: 'etc', type: 'symlink', linkname: outside }], [{ path: 'x', type: 'hardlink', linkname: 'etc/passwd' }]]), /hardlink target "etc\/passwd" goes through the symlink "etc" in a lower layer/);
  t.regex(
    await refusedFetch(t, [[{ path: 'f', type: 'file', content: 'x' }], [{ path: '.wh.f', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'f' }]]),
    /hardlink target "f" was removed by a whiteout in a lower layer/,
  );
  t.regex(await refusedFetch(t, [[{ path: 'f', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'nope' }]]), /hardlink target "nope" does not exist in this layer or any layer below it/);
  t.is(readFileSync(join(outside, 'passwd'), 'utf8'), 'host');
});

test('a layer that needs lower layers still being unpacked is applied again once they are', async (t) => {
  const paths = storePaths(join(tempDir(t, 'skiff-copy-up-retry-'), 'store'));
  for (const layer of [base, links]) await putBlob(paths, layer.digest, layer.stored, 'test');
  const ref = (l: Layer) => ({ digest: l.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: l.diffId });
  const lower = await unpackLayer(paths, ref(base), 'test');
  t.false(lower.chained);
  const chainId = chainIds([base.diffId, links.diffId])[1]!;
  let unpacked = false;
  let asked = 0;
  const upper = await unpackLayer(paths, ref(links), 'test', {
    lowers: {
      chainId,
      ready: () => {
        asked++;
        return unpacked ? [lower.dir] : undefined;
      },
      settled: () => {
        unpacked = true;
        return Promise.resolve();
      },
    },
  });
  t.true(upper.chained);
  t.is(upper.dir, chainLayerPath(paths, chainId));
  t.is(asked, 2, 'asked once, stopped, asked again after they settled');
  t.is(readFileSync(join(upper.dir, 'motd'), 'utf8'), 'hello\n');
  t.deepEqual(readdirSync(paths.tmp), []);
});

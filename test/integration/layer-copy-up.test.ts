/**
 * Hardlinks to a lower layer's file in overlay form (issue 11, section 2;
 * image/applier/lower-layers.ts): applyLayer() with the lower layers' dirs
 * copies the target up, with what the link would have shared (data, mode,
 * owner, xattrs, times; symlinks and FIFOs too), looks it up as an overlay
 * of the layers would show it, and refuses what an overlay would not show
 * (whited out, under an opaque dir, missing) or what only a symlink leads to,
 * without reading anything through it. The copies count against the layer's
 * size cap. Lower layers are never written to.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, LowersPending, type ApplyOptions, type ApplyResult } from '../../image/applier/index.js';
import { ImageError } from '../../runtime/errors.js';
import { tempDir } from '../support/temp-dir.js';
import { tarArchive, type TarEntry } from '../support/tar-writer.js';

/** Applies each layer in overlay form into its own dir, each with the ones before it as its lowers; `options` for the top one. */
async function layers(t: ExecutionContext, archives: TarEntry[][], options: ApplyOptions = {}): Promise<{ dirs: string[]; results: ApplyResult[] }> {
  const root = tempDir(t, 'skiff-copy-up-');
  const dirs: string[] = [];
  const results: ApplyResult[] = [];
  for (const [i, entries] of archives.entries()) {
    const dir = join(root, `layer${i}`);
    mkdirSync(dir);
    const below = [...dirs].reverse();
        const own = i === archives.length - 1 ? options : {};
    results.push(await applyLayer(Readable.from([tarArchive(entries)]), dir, { ...own, ...(i === 0 ? {} : { lowerDirs: () => below }), describe: `layer ${i + 1}` }));
    dirs.push(dir);
  }
  return { dirs, results };
}

function xattr(path: string, name: string): string | null {
  const out = execFileSync('python3', ['-c', 'import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: sys.stdout.write("-")', path, name], {
    encoding: 'utf8',
  });
  return out === '-' ? null : out;
}

// VFS_CAP_REVISION_2, cap_net_bind_service permitted + effective.
const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const BASE: TarEntry[] = [
  { path: 'usr/', type: 'dir' },
  { path: 'usr/lib/', type: 'dir' },
  { path: 'usr/lib/libc.so', type: 'file', content: 'libc '.repeat(1000), mode: 0o4750, uid: 7, gid: 8, mtime: 1_600_000_000, xattrs: { 'security.capability': CAP, 'user.note': 'kept' } },
  { path: 'usr/lib/ld.link', type: 'symlink', linkname: '../lib/libc.so', uid: 9, gid: 10, mtime: 1_500_000_000 },
  { path: 'usr/lib/fifo', type: 'fifo', mode: 0o620, uid: 11, gid: 12, mtime: 1_400_000_000 },
  { path: 'usr/lib/empty', type: 'file', mode: 0o400, mtime: 1_300_000_000 },
];

test('a hardlink to a lower file is a copy of it: data, setuid mode, owner, xattrs (security.capability too), times; the lower file is untouched', async (t) => {
  const { dirs, results } = await layers(t, [
    BASE,
    [{ path: 'usr/bin/', type: 'dir' }, { path: 'usr/bin/ld.so', type: 'hardlink', linkname: 'usr/lib/libc.so' }, { path: 'usr/bin/empty', type: 'hardlink', linkname: 'usr/lib/empty' }],
  ]);
  const [lower, upper] = dirs as [string, string];
  const copy = join(upper, 'usr/bin/ld.so');
  const st = lstatSync(copy);
  t.true(st.isFile());
  t.is(readFileSync(copy, 'utf8'), 'libc '.repeat(1000));
  t.is(st.mode & 0o7777, 0o4750, 'setuid survives the chown');
  t.deepEqual([st.uid, st.gid], [7, 8]);
  t.is(st.mtimeMs, 1_600_000_000_000);
  t.is(xattr(copy, 'security.capability'), CAP.toString('hex'), 'capability survives the data and the chown');
  t.is(xattr(copy, 'user.note'), Buffer.from('kept').toString('hex'));
  t.is(readFileSync(join(upper, 'usr/bin/empty'), 'utf8'), '');
  t.is(lstatSync(join(upper, 'usr/bin/empty')).mode & 0o7777, 0o400);
  const original = lstatSync(join(lower, 'usr/lib/libc.so'));
  t.is(original.nlink, 1, 'no link into the lower layer');
  t.not(original.ino, st.ino);
  t.is(readFileSync(join(lower, 'usr/lib/libc.so'), 'utf8'), 'libc '.repeat(1000));
  t.is(results[1]!.copiedUp, 2);
  t.is(results[0]!.copiedUp, 0);
});

test('hardlinks to a lower symlink and FIFO copy the link itself and the node, with their owners and times', async (t) => {
  const { dirs } = await layers(t, [BASE, [{ path: 'l2', type: 'hardlink', linkname: 'usr/lib/ld.link' }, { path: 'p2', type: 'hardlink', linkname: 'usr/lib/fifo' }]]);
  const upper = dirs[1]!;
  const l = lstatSync(join(upper, 'l2'));
  t.true(l.isSymbolicLink());
  t.is(readlinkSync(join(upper, 'l2')), '../lib/libc.so');
  t.deepEqual([l.uid, l.gid, l.mtimeMs], [9, 10, 1_500_000_000_000]);
  const p = lstatSync(join(upper, 'p2'));
  t.true(p.isFIFO());
  t.deepEqual([p.mode & 0o7777, p.uid, p.gid, p.mtimeMs], [0o620, 11, 12, 1_400_000_000_000]);
});

test('links in one layer to the same lower file share one copy, as they would share one inode; links to this layer\'s own files stay links', async (t) => {
  const { dirs, results } = await layers(t, [
    BASE,
    [
      { path: 'a', type: 'hardlink', linkname: 'usr/lib/libc.so' },
      { path: 'b', type: 'hardlink', linkname: 'usr/lib/libc.so' },
      { path: 'mine', type: 'file', content: 'mine' },
      { path: 'mine2', type: 'hardlink', linkname: 'mine' },
      { path: 'c', type: 'hardlink', linkname: 'a' },
    ],
  ]);
  const upper = dirs[1]!;
  const ino = lstatSync(join(upper, 'a')).ino;
  t.is(lstatSync(join(upper, 'b')).ino, ino);
  t.is(lstatSync(join(upper, 'c')).ino, ino);
  t.is(lstatSync(join(upper, 'a')).nlink, 3);
  t.is(lstatSync(join(upper, 'mine2')).ino, lstatSync(join(upper, 'mine')).ino);
  t.is(results[1]!.copiedUp, 2);
});

test('tar order: a link made before this layer replaces its target keeps the lower content; a target this layer wrote first is linked', async (t) => {
  const { dirs, results } = await layers(t, [
    [{ path: 'f', type: 'file', content: 'lower' }, { path: 'g', type: 'file', content: 'lower g' }],
    [
      { path: 'early', type: 'hardlink', linkname: 'f' },
      { path: 'f', type: 'file', content: 'upper' },
      { path: 'late', type: 'hardlink', linkname: 'f' },
      { path: 'g', type: 'file', content: 'upper g' },
    ],
  ]);
  const upper = dirs[1]!;
  t.is(readFileSync(join(upper, 'early'), 'utf8'), 'lower');
  t.is(readFileSync(join(upper, 'late'), 'utf8'), 'upper');
  t.is(lstatSync(join(upper, 'late')).ino, lstatSync(join(upper, 'f')).ino);
  t.is(results[1]!.copiedUp, 1);
});

test('the lookup is an overlay\'s: the top-most layer that has the path wins, an opaque dir or a file hides what is below', async (t) => {
  const { dirs } = await layers(t, [
    [{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file', content: 'bottom' }, { path: 'd/only-bottom', type: 'file', content: 'bottom only' }],
    [{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file', content: 'middle' }],
    [{ path: 'x', type: 'hardlink', linkname: 'd/f' }, { path: 'y', type: 'hardlink', linkname: 'd/only-bottom' }],
  ]);
  t.is(readFileSync(join(dirs[2]!, 'x'), 'utf8'), 'middle');
  t.is(readFileSync(join(dirs[2]!, 'y'), 'utf8'), 'bottom only', 'a plain dir of the middle layer merges with the one below');
  const opaque = await t.throwsAsync(
    layers(t, [
      [{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file', content: 'bottom' }],
      [{ path: 'd/', type: 'dir' }, { path: 'd/.wh..wh..opq', type: 'file' }],
      [{ path: 'x', type: 'hardlink', linkname: 'd/f' }],
    ]),
  );
  t.regex(opaque!.message, /layer 3: entry #1 "x" .*refused: hardlink target "d\/f" does not exist in this layer or any layer below it/);
  const hidden = await t.throwsAsync(layers(t, [[{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file' }], [{ path: 'd', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'd/f' }]]));
  t.regex(hidden!.message, /hardlink target "d\/f": its parent "d" in a lower layer is not a directory/);
});

test('hostile: a link to a lower path whited out (below, or in this layer before the link) is refused', async (t) => {
  const below = await t.throwsAsync(layers(t, [[{ path: 'f', type: 'file', content: 'x' }], [{ path: '.wh.f', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'f' }]]));
  t.true(below instanceof ImageError);
  t.regex(below!.message, /layer 3: entry #1 "x" .*refused: hardlink target "f" was removed by a whiteout in a lower layer/);
  const here = await t.throwsAsync(layers(t, [[{ path: 'f', type: 'file', content: 'x' }], [{ path: '.wh.f', type: 'file' }, { path: 'x', type: 'hardlink', linkname: 'f' }]]));
  t.regex(here!.message, /hardlink target "f" was removed by a whiteout in this layer/);
  const parent = await t.throwsAsync(
    layers(t, [[{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file' }], [{ path: '.wh.d', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'd/f' }]]),
  );
  t.regex(parent!.message, /hardlink target "d\/f": its parent "d" was removed by a whiteout in a lower layer/);
});

test('hostile: a link through a lower layer\'s symlink (to the host, or inside the image) is refused and nothing is read through it', async (t) => {
  const outside = tempDir(t, 'skiff-copy-up-outside-');
  writeFileSync(join(outside, 'secret'), 'host secret');
  const toHost = await t.throwsAsync(layers(t, [[{ path: 'etc', type: 'symlink', linkname: outside }], [{ path: 'stolen', type: 'hardlink', linkname: 'etc/secret' }]]));
  t.true(toHost instanceof ImageError);
  t.regex(toHost!.message, /entry #1 "stolen" .*refused: hardlink target "etc\/secret" goes through the symlink "etc" in a lower layer/);
  const inside = await t.throwsAsync(
    layers(t, [[{ path: 'real/', type: 'dir' }, { path: 'real/f', type: 'file' }, { path: 'alias', type: 'symlink', linkname: 'real' }], [{ path: 'x', type: 'hardlink', linkname: 'alias/f' }]]),
  );
  t.regex(inside!.message, /goes through the symlink "alias" in a lower layer/);
  // This layer's own symlink over a lower dir hides that dir: refused too.
  const shadow = await t.throwsAsync(
    layers(t, [[{ path: 'd/', type: 'dir' }, { path: 'd/f', type: 'file' }], [{ path: 'd', type: 'symlink', linkname: outside }, { path: 'x', type: 'hardlink', linkname: 'd/secret' }]]),
  );
  t.regex(shadow!.message, /goes through the symlink "d" in this layer/);
  t.is(readFileSync(join(outside, 'secret'), 'utf8'), 'host secret');
});

test('hostile: a link to a path no layer has, or to a lower directory, is refused', async (t) => {
  const missing = await t.throwsAsync(layers(t, [[{ path: 'f', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'nope' }]]));
  t.regex(missing!.message, /layer 2: entry #1 "x" .*refused: hardlink target "nope" does not exist in this layer or any layer below it/);
  const deep = await t.throwsAsync(layers(t, [[{ path: 'f', type: 'file' }], [{ path: 'x', type: 'hardlink', linkname: 'no/such/f' }]]));
  t.regex(deep!.message, /hardlink target "no\/such\/f" does not exist in this layer or any layer below it/);
  const dir = await t.throwsAsync(layers(t, [[{ path: 'd/', type: 'dir' }], [{ path: 'x', type: 'hardlink', linkname: 'd' }]]));
  t.regex(dir!.message, /hardlink target "d" is a directory in a lower layer/);
});

test('hostile: copies count against the layer size cap (links to big lower files are refused, not copied without end)', async (t) => {
  const big = 'x'.repeat(1 << 20);
  const lower: TarEntry[] = [0, 1, 2].map((i) => ({ path: `big${i}`, type: 'file', content: big }));
  const upper: TarEntry[] = [0, 1, 2].map((i) => ({ path: `link${i}`, type: 'hardlink', linkname: `big${i}` }));
  const err = await t.throwsAsync(layers(t, [lower, upper], { maxBytes: (5 << 20) / 2, maxBytesHint: 'raise the cap' }));
  t.true(err instanceof ImageError);
  t.regex(err!.message, /layer 2: entry #3 "link2" .*refused: the layer holds more than 2621440 bytes of file data/);
  t.is((err as ImageError).hint, 'raise the cap');
});

test('lower layers not all unpacked yet: the apply stops with LowersPending, and only when a link needs them', async (t) => {
  const root = tempDir(t, 'skiff-copy-up-pending-');
  const dir = join(root, 'layer');
  mkdirSync(dir);
  const pending = await t.throwsAsync(applyLayer(Readable.from([tarArchive([{ path: 'x', type: 'hardlink', linkname: 'f' }])]), dir, { lowerDirs: () => undefined }));
  t.true(pending instanceof LowersPending);
  const dir2 = join(root, 'layer2');
  mkdirSync(dir2);
  const own = await applyLayer(Readable.from([tarArchive([{ path: 'f', type: 'file' }, { path: 'x', type: 'hardlink', linkname: 'f' }])]), dir2, { lowerDirs: () => undefined });
  t.is(own.copiedUp, 0, 'a link within the layer never asks for the lowers');
});

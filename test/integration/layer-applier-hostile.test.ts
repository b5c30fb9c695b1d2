/**
 * The hostile suite (issue 3, "Layer unpack"): every layer here is built to
 * escape the layer dir or to break the applier. Each case is its own named
 * test and must be refused with an ImageError naming the entry and the
 * reason, leave a sentinel dir outside the layer untouched, and leave no fd
 * open. A few cases at the end are not refusals but replacements that must
 * happen inside the layer instead of through what an earlier entry planted.
 * The render-mode cases first render a lower layer into the dir: what it
 * planted (symlinks to outside or to /etc, a mount) must not lead an upper
 * layer's entries, whiteouts or opaque markers out either.
 *
 * Serial: the fd count is per process.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { applyLayer, type ApplyOptions } from '../../image/applier/index.js';
import { decompressedLayerStream } from '../../image/applier/decompress.js';
import { OCI_LAYER_GZIP } from '../../image/media-types.js';
import { ImageError } from '../../runtime/errors.js';
import { tempDir } from '../support/temp-dir.js';
import { tarArchive, tarEntry, type TarEntry } from '../support/tar-writer.js';

interface Sandbox {
  root: string;
  layer: string;
  /** A dir next to the layer that nothing may touch. */
  outside: string;
}

function sandbox(t: ExecutionContext): Sandbox {
  const root = tempDir(t, 'skiff-hostile-');
  const layer = join(root, 'layer');
  const outside = join(root, 'outside');
  mkdirSync(layer);
  mkdirSync(outside);
  writeFileSync(join(outside, 'sentinel'), 'untouched');
  writeFileSync(join(root, 'secret'), 'secret');
  return { root, layer, outside };
}

/** Everything under the sandbox except the layer: names, types, modes, owners, times, contents, xattrs. */
function snapshot(box: Sandbox): string {
  const lines: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (p === box.layer) continue;
      const st = lstatSync(p, { bigint: true });
      const content = st.isFile() ? readFileSync(p, 'hex') : st.isSymbolicLink() ? readlinkSync(p) : '';
      lines.push(`${p} ${st.mode} ${st.uid}:${st.gid} ${st.mtimeNs} ${content}`);
      if (st.isDirectory()) walk(p);
    }
  };
  const top = lstatSync(box.root, { bigint: true });
  lines.push(`root ${top.mode} ${top.mtimeNs}`);
  walk(box.root);
  lines.push(
    execFileSync('python3', ['-c', 'import os,sys\nfor p in sys.argv[1:]: print(p, sorted(os.listxattr(p)))', box.root, box.outside, join(box.outside, 'sentinel')], {
      encoding: 'utf8',
    }),
  );
  return lines.join('\n');
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

function chunks(tar: Buffer, size = 4096): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += size) parts.push(tar.subarray(i, i + size));
  return Readable.from(parts);
}

type Layer = TarEntry[] | Buffer | ((box: Sandbox) => TarEntry[] | Buffer);

/** Applies `layer` expecting a refusal that matches `reason`; checks the sentinel and the fds. */
async function refused(t: ExecutionContext, layer: Layer, reason: RegExp, options: ApplyOptions = {}, stream?: (tar: Buffer) => NodeJS.ReadableStream): Promise<Sandbox> {
  const box = sandbox(t);
  const built = typeof layer === 'function' ? layer(box) : layer;
  const tar = Buffer.isBuffer(built) ? built : tarArchive(built);
  const before = snapshot(box);
  const fds = openFds();
  const err = await t.throwsAsync(applyLayer(stream?.(tar) ?? chunks(tar), box.layer, { describe: 'layer sha256:hostile', ...options }));
  t.true(err instanceof ImageError, `an ImageError, not ${String(err)}`);
  t.regex(err!.message, /^layer sha256:hostile: /, 'the message names the layer');
  t.regex(err!.message, reason);
  t.is(snapshot(box), before, 'nothing outside the layer changed');
  t.is(openFds(), fds, 'no fd left open');
  return box;
}

/** Applies `layer`, which must succeed, and checks the sentinel. */
async function contained(t: ExecutionContext, layer: (box: Sandbox) => TarEntry[]): Promise<Sandbox> {
  const box = sandbox(t);
  const before = snapshot(box);
  await applyLayer(chunks(tarArchive(layer(box))), box.layer);
  t.is(snapshot(box), before, 'nothing outside the layer changed');
  return box;
}

/** Rewrites a header's checksum after a test edits it in place. */
function fixChecksum(archive: Buffer, at = 0): Buffer {
  archive.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += archive[i]!;
  archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  return archive;
}

const file = (path: string, content = 'pwned'): TarEntry => ({ path, type: 'file', content });

// --- Paths -----------------------------------------------------------------

test.serial('refuses a ../ path', async (t) => {
  await refused(t, [file('../escape')], /entry #1 "\.\.\/escape" .*refused: path has a "\.\." component/);
});

test.serial('refuses a/../../x', async (t) => {
  await refused(t, [{ path: 'a/', type: 'dir' }, file('a/../../x')], /entry #2 "a\/\.\.\/\.\.\/x" .*"\.\." component/);
});

test.serial('refuses an absolute path', async (t) => {
  await refused(t, (box) => [file(join(box.outside, 'abs'))], /absolute path/);
});

test.serial('refuses a NUL byte in a name (PAX path)', async (t) => {
  await refused(t, [file(`${'a'.repeat(100)}\0/../../escape`)], /NUL byte/);
});

test.serial('refuses a NUL byte in a name (GNU long name)', async (t) => {
  await refused(t, tarArchive([file(`${'a'.repeat(100)}\0/../../escape`)], { longNames: 'gnu' }), /NUL byte/);
});

test.serial('refuses a NUL byte in a symlink target (PAX linkpath)', async (t) => {
  await refused(t, [{ path: 'l', type: 'symlink', linkname: `${'t'.repeat(100)}\0x` }], /NUL byte/);
});

test.serial('refuses uid 4294967295, which chown reads as "leave unchanged"', async (t) => {
  await refused(t, [{ path: 'f', type: 'file', uid: 4_294_967_295 }], /impossible uid or gid \(4294967295:0\)/);
});

// --- Symlinks planted by earlier entries --------------------------------------

test.serial('refuses writing through a symlink to outside planted by an earlier entry', async (t) => {
  await refused(t, (box) => [{ path: 'evil', type: 'symlink', linkname: box.outside }, file('evil/file')], /entry #2 "evil\/file" .*parent "evil" is a symlink/);
});

test.serial('refuses writing through a symlink to a dir inside the layer (parents must be real dirs)', async (t) => {
  await refused(t, [{ path: 'real/', type: 'dir' }, { path: 'link', type: 'symlink', linkname: 'real' }, file('link/file')], /"link\/file" .*parent "link" is a symlink/);
});

test.serial('refuses a symlink deeper in the parents', async (t) => {
  await refused(
    t,
    (box) => [{ path: 'a/b/', type: 'dir' }, { path: 'a/b/c', type: 'symlink', linkname: box.outside }, file('a/b/c/d/e')],
    /parent "a\/b\/c" is a symlink/,
  );
});

test.serial('refuses a symlink dir swapped in mid-archive over a non-empty dir', async (t) => {
  await refused(
    t,
    (box) => [{ path: 'd/', type: 'dir' }, file('d/a', 'a'), { path: 'd', type: 'symlink', linkname: box.outside }, file('d/x')],
    /entry #3 "d" .*would replace the non-empty directory "d"/,
  );
});

test.serial('refuses writing into a dir swapped for a symlink mid-archive (the cached dir fd is dropped)', async (t) => {
  await refused(
    t,
    (box) => [{ path: 'd/', type: 'dir' }, { path: 'd', type: 'symlink', linkname: box.outside }, file('d/x')],
    /entry #3 "d\/x" .*parent "d" is a symlink/,
  );
});

test.serial('refuses writing into a dir swapped for a file mid-archive', async (t) => {
  await refused(t, [{ path: 'd/', type: 'dir' }, file('d', 'now a file'), file('d/x')], /"d\/x" .*parent "d" is not a directory/);
});

// --- Hardlinks ----------------------------------------------------------------

test.serial('refuses a hardlink to outside (../x)', async (t) => {
  await refused(t, [{ path: 'h', type: 'hardlink', linkname: '../secret' }], /"h" .*hardlink target has a "\.\." component/);
});

test.serial('refuses a hardlink to an absolute path', async (t) => {
  await refused(t, (box) => [{ path: 'h', type: 'hardlink', linkname: join(box.outside, 'sentinel') }], /absolute hardlink target/);
});

test.serial('refuses a hardlink to a missing target', async (t) => {
  await refused(t, [{ path: 'h', type: 'hardlink', linkname: 'nope' }], /hardlink target "nope" does not exist in the layer/);
});

test.serial('refuses a hardlink through a symlinked parent', async (t) => {
  await refused(t, (box) => [{ path: 'l', type: 'symlink', linkname: box.outside }, { path: 'h', type: 'hardlink', linkname: 'l/sentinel' }], /parent "l" is a symlink/);
});

test.serial('refuses a hardlink to a directory', async (t) => {
  await refused(t, [{ path: 'd/', type: 'dir' }, { path: 'h', type: 'hardlink', linkname: 'd' }], /hardlink target "d" is a directory/);
});

test.serial('refuses a hardlink to itself', async (t) => {
  await refused(t, [{ path: 'h', type: 'hardlink', linkname: './h' }], /hardlink to itself/);
});

// --- Whiteouts ----------------------------------------------------------------

test.serial('refuses a whiteout naming .. (.wh...)', async (t) => {
  await refused(t, [{ path: 'a/', type: 'dir' }, file('a/.wh...', '')], /"a\/\.wh\.\.\." .*whiteout "\.wh\.\.\." names "\.\."/);
});

test.serial('refuses a whiteout with an absolute path', async (t) => {
  await refused(t, (box) => [file(join(box.outside, '.wh.sentinel'), '')], /absolute path/);
});

test.serial('refuses a whiteout under a planted symlink', async (t) => {
  await refused(t, (box) => [{ path: 'l', type: 'symlink', linkname: box.outside }, file('l/.wh.sentinel', '')], /parent "l" is a symlink/);
});

test.serial('refuses an opaque marker under a planted symlink (no xattr lands outside)', async (t) => {
  await refused(t, (box) => [{ path: 'l', type: 'symlink', linkname: box.outside }, file('l/.wh..wh..opq', '')], /parent "l" is a symlink/);
});

test.serial('refuses overlayfs xattrs carried by the archive itself', async (t) => {
  await refused(t, [{ path: 'f', type: 'file', xattrs: { 'trusted.overlay.redirect': '/etc' } }], /overlayfs xattr "trusted\.overlay\.redirect"/);
  await refused(t, [{ path: 'd/', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y' } }], /overlayfs xattr/);
});

// --- Profile and limits ---------------------------------------------------------

test.serial('refuses a character device where devices are refused', async (t) => {
  await refused(t, [{ path: 'null', type: 'char', devmajor: 1, devminor: 3 }], /"null" .*char device 1:3 is not allowed/, { devices: 'refuse' });
});

test.serial('refuses a block device where devices are refused', async (t) => {
  await refused(t, [{ path: 'sda', type: 'block', devmajor: 8, devminor: 0 }], /block device 8:0 is not allowed/, { devices: 'refuse' });
});

test.serial('refuses a tar bomb beyond maxBytes before writing it', async (t) => {
  const box = await refused(t, [file('a', 'x'.repeat(3000)), file('b', 'x'.repeat(3000))], /entry #2 "b" .*more than 4096 bytes of file data/, { maxBytes: 4096 });
  t.deepEqual(readdirSync(box.layer), ['a'], 'the oversized entry was not started');
});

test.serial('refuses a sparse tar bomb by its real size', async (t) => {
  const box = sandbox(t);
  execFileSync('truncate', ['-s', '1G', join(box.root, 'huge')]);
  const tar = execFileSync('tar', ['-cf', '-', '--sparse', '-C', box.root, 'huge']);
  await refused(t, tar, /"huge" .*more than 1048576 bytes/, { maxBytes: 1 << 20 });
});

test.serial('refuses too many entries', async (t) => {
  await refused(t, ['a', 'b', 'c', 'd', 'e'].map((p) => file(p)), /entry #4 "d" .*more than 3 entries/, { maxEntries: 3 });
});

// --- Broken archives ----------------------------------------------------------

test.serial('refuses an archive truncated inside a header', async (t) => {
  await refused(t, tarArchive([file('a', 'aaa'), file('b', 'bbb')]).subarray(0, 1024 + 100), /truncated inside a header/);
});

test.serial('refuses an archive truncated inside file data', async (t) => {
  await refused(t, tarArchive([file('a', 'x'.repeat(5000))]).subarray(0, 512 + 3000), /entry #1 "a" .*truncated inside the data of entry #1/);
});

test.serial('refuses an archive without the end-of-archive marker', async (t) => {
  await refused(t, tarArchive([file('a')], { omitEndBlocks: true }), /without the end-of-archive marker/);
});

test.serial('refuses a corrupt header checksum', async (t) => {
  const tar = tarArchive([file('a'), file('b')]);
  tar[1027] = tar[1027]! ^ 0x01; // inside the second header's name
  await refused(t, tar, /at byte 1024: header checksum mismatch/);
});

test.serial('refuses entries hidden after a lone zero block', async (t) => {
  await refused(t, Buffer.concat([tarEntry(file('a')), Buffer.alloc(512), tarArchive([file('hidden')])]), /zero block is followed by more entries/);
});

test.serial('refuses an unsupported entry type', async (t) => {
  const tar = tarArchive([file('label')]);
  tar[156] = 0x56; // 'V', a GNU volume label
  await refused(t, fixChecksum(tar), /unsupported type "V"/);
});

test.serial('refuses a malformed PAX record', async (t) => {
  const tar = tarArchive([{ path: 'p', type: 'file', xattrs: { 'user.x': 'y' } }]);
  tar.write('9', 512, 'latin1'); // the record's length digit
  await refused(t, tar, /malformed PAX record/);
});

test.serial('refuses a gzip stream with trailing garbage', async (t) => {
  const gz = Buffer.concat([gzipSync(tarArchive([file('a', 'fine')])), Buffer.from('trailing garbage')]);
  await refused(t, gz, /trailing garbage/, {}, (blob) => decompressedLayerStream(Readable.from([blob]), OCI_LAYER_GZIP));
});

// --- Replacements that must stay inside ------------------------------------------

test.serial('a file entry replaces a planted symlink instead of writing through it', async (t) => {
  const box = await contained(t, (b) => [{ path: 'f', type: 'symlink', linkname: join(b.outside, 'sentinel') }, file('f')]);
  t.true(lstatSync(join(box.layer, 'f')).isFile());
  t.is(readFileSync(join(box.layer, 'f'), 'utf8'), 'pwned');
});

test.serial('a dir entry replaces a planted symlink instead of chmod/chown through it', async (t) => {
  const box = await contained(t, (b) => [{ path: 'd', type: 'symlink', linkname: b.outside }, { path: 'd/', type: 'dir', mode: 0o777, uid: 1234 }]);
  t.true(lstatSync(join(box.layer, 'd')).isDirectory());
  t.is(lstatSync(join(box.layer, 'd')).uid, 1234);
});

test.serial('hardlink, device and fifo entries replace a planted symlink', async (t) => {
  const box = await contained(t, (b) => [
    file('target', 't'),
    { path: 'h', type: 'symlink', linkname: join(b.outside, 'sentinel') },
    { path: 'h', type: 'hardlink', linkname: 'target' },
    { path: 'n', type: 'symlink', linkname: join(b.outside, 'sentinel') },
    { path: 'n', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'p', type: 'symlink', linkname: join(b.outside, 'sentinel') },
    { path: 'p', type: 'fifo', mode: 0o600, uid: 77 },
  ]);
  t.is(lstatSync(join(box.layer, 'h')).ino, lstatSync(join(box.layer, 'target')).ino);
  t.true(lstatSync(join(box.layer, 'n')).isCharacterDevice());
  t.true(lstatSync(join(box.layer, 'p')).isFIFO());
});

test.serial('a whiteout over a planted symlink leaves the symlink and its target alone', async (t) => {
  const box = await contained(t, (b) => [{ path: 'w', type: 'symlink', linkname: join(b.outside, 'sentinel') }, file('.wh.w', '')]);
  t.true(lstatSync(join(box.layer, 'w')).isSymbolicLink());
});

// --- Render mode: what lower layers planted ------------------------------------------

/** /etc as a layer could damage it: the dir, passwd and their xattrs. */
function hostEtc(): string {
  const etc = lstatSync('/etc', { bigint: true });
  const passwd = lstatSync('/etc/passwd', { bigint: true });
  const xattrs = execFileSync('python3', ['-c', 'import os\nprint(sorted(os.listxattr("/etc")), sorted(os.listxattr("/etc/passwd")))'], { encoding: 'utf8' });
  return `${etc.mode} ${etc.mtimeNs} ${readdirSync('/etc').length} ${passwd.mode} ${passwd.mtimeNs} ${readFileSync('/etc/passwd', 'hex')} ${xattrs}`;
}

type Layers = (box: Sandbox) => TarEntry[];

/** Renders `lower` into the layer dir, then `upper` onto it, which must be refused for `reason`; nothing outside (nor /etc) may change. */
async function renderRefused(t: ExecutionContext, lower: Layers, upper: Layers, reason: RegExp): Promise<Sandbox> {
  const box = sandbox(t);
  await applyLayer(chunks(tarArchive(lower(box))), box.layer, { mode: 'render', describe: 'layer sha256:lower' });
  const before = snapshot(box);
  const etc = hostEtc();
  const fds = openFds();
  const err = await t.throwsAsync(applyLayer(chunks(tarArchive(upper(box))), box.layer, { mode: 'render', describe: 'layer sha256:hostile' }));
  t.true(err instanceof ImageError, `an ImageError, not ${String(err)}`);
  t.regex(err!.message, /^layer sha256:hostile: /);
  t.regex(err!.message, reason);
  t.is(snapshot(box), before, 'nothing outside the layer changed');
  t.is(hostEtc(), etc, 'the host /etc is untouched');
  t.is(openFds(), fds, 'no fd left open');
  return box;
}

/** Renders `lower` then `upper`, which must succeed without touching anything outside. */
async function renderContained(t: ExecutionContext, lower: Layers, upper: Layers): Promise<Sandbox> {
  const box = sandbox(t);
  await applyLayer(chunks(tarArchive(lower(box))), box.layer, { mode: 'render' });
  const before = snapshot(box);
  const etc = hostEtc();
  const fds = openFds();
  await applyLayer(chunks(tarArchive(upper(box))), box.layer, { mode: 'render' });
  t.is(snapshot(box), before, 'nothing outside the layer changed');
  t.is(hostEtc(), etc, 'the host /etc is untouched');
  t.is(openFds(), fds, 'no fd left open');
  return box;
}

test.serial('render: refuses a whiteout through a symlink planted by a lower layer', async (t) => {
  await renderRefused(t, (b) => [{ path: 'l', type: 'symlink', linkname: b.outside }], () => [file('l/.wh.sentinel', '')], /entry #1 "l\/\.wh\.sentinel" .*parent "l" is a symlink/);
});

test.serial('render: refuses a whiteout deeper under a lower layer\'s symlink to /', async (t) => {
  await renderRefused(t, () => [{ path: 'root', type: 'symlink', linkname: '/' }], () => [file('root/etc/.wh.passwd', '')], /parent "root" is a symlink/);
});

test.serial('render: refuses a whiteout of .. and of ., and the lower layer stays whole', async (t) => {
  const lower: Layers = () => [{ path: 'a/', type: 'dir' }, file('a/keep', 'k')];
  const box = await renderRefused(t, lower, () => [file('a/.wh...', '')], /whiteout "\.wh\.\.\." names "\.\."/);
  t.is(readFileSync(join(box.layer, 'a/keep'), 'utf8'), 'k');
  await renderRefused(t, lower, () => [file('a/.wh..', '')], /whiteout "\.wh\.\." names "\."/);
  await renderRefused(t, lower, () => [file('.wh...', '')], /names "\.\."/);
});

test.serial('render: refuses an opaque marker under a symlink from a lower layer (the dir it points to is not emptied)', async (t) => {
  await renderRefused(t, (b) => [{ path: 'l', type: 'symlink', linkname: b.outside }], () => [file('l/.wh..wh..opq', '')], /parent "l" is a symlink/);
});

test.serial('render: a lower layer\'s etc -> /etc, then etc/passwd, a deeper file, a whiteout, an opaque marker or a hardlink through etc: refused, the host /etc untouched', async (t) => {
  const lower: Layers = () => [{ path: 'etc', type: 'symlink', linkname: '/etc' }];
  await renderRefused(t, lower, () => [file('etc/passwd', 'pwned::0:0\n')], /entry #1 "etc\/passwd" .*parent "etc" is a symlink/);
  await renderRefused(t, lower, () => [file('etc/.wh.passwd', '')], /parent "etc" is a symlink/);
  await renderRefused(t, lower, () => [file('etc/.wh..wh..opq', '')], /parent "etc" is a symlink/);
  await renderRefused(t, lower, () => [file('etc/ssh/sshd_config', 'PermitRootLogin yes\n')], /parent "etc" is a symlink/);
  await renderRefused(t, lower, () => [{ path: 'h', type: 'hardlink', linkname: 'etc/passwd' }], /parent "etc" is a symlink/);
});

test.serial('render: a whiteout of a lower symlink removes the link, not what it points to', async (t) => {
  const box = await renderContained(
    t,
    (b) => [{ path: 'out', type: 'symlink', linkname: b.outside }, { path: 'etc', type: 'symlink', linkname: '/etc' }, { path: 'f', type: 'symlink', linkname: join(b.outside, 'sentinel') }],
    () => [file('.wh.out', ''), file('.wh.etc', ''), file('.wh.f', '')],
  );
  t.deepEqual(readdirSync(box.layer), []);
});

test.serial('render: whiting out or replacing a lower tree full of symlinks to outside removes the tree only', async (t) => {
  const tree: Layers = (b) => [
    { path: 'd/', type: 'dir' },
    { path: 'd/out', type: 'symlink', linkname: b.outside },
    { path: 'd/sub/', type: 'dir', mode: 0o000 },
    { path: 'd/sub/etc', type: 'symlink', linkname: '/etc' },
    { path: 'd/sub/abs', type: 'symlink', linkname: join(b.outside, 'sentinel') },
    { path: 'd/sub/up', type: 'symlink', linkname: '../../../..' },
    file('d/sub/f', 'f'),
    { path: 'd/h', type: 'hardlink', linkname: 'd/sub/f' },
  ];
  const whiteout = await renderContained(t, tree, () => [file('.wh.d', '')]);
  t.deepEqual(readdirSync(whiteout.layer), []);
  const opaque = await renderContained(t, tree, () => [file('d/.wh..wh..opq', ''), file('d/mine', 'mine')]);
  t.deepEqual(readdirSync(join(opaque.layer, 'd')), ['mine']);
  const replaced = await renderContained(t, tree, (b) => [{ path: 'd', type: 'symlink', linkname: b.outside }]);
  t.true(lstatSync(join(replaced.layer, 'd')).isSymbolicLink());
});

test.serial('render: entries over a lower layer\'s symlinks replace the links', async (t) => {
  const box = await renderContained(
    t,
    (b) => [{ path: 'd', type: 'symlink', linkname: b.outside }, { path: 'f', type: 'symlink', linkname: join(b.outside, 'sentinel') }],
    () => [{ path: 'd/', type: 'dir', mode: 0o777, uid: 1234 }, file('d/x', 'inside'), file('f', 'file')],
  );
  t.true(lstatSync(join(box.layer, 'd')).isDirectory());
  t.is(readFileSync(join(box.layer, 'd/x'), 'utf8'), 'inside');
  t.true(lstatSync(join(box.layer, 'f')).isFile());
});

test.serial('render: a whiteout does not remove through a mount point in the target', async (t) => {
  const box = sandbox(t);
  await applyLayer(chunks(tarArchive([{ path: 'm/', type: 'dir' }])), box.layer, { mode: 'render' });
  execFileSync('mount', ['--bind', box.outside, join(box.layer, 'm')]);
  t.teardown(() => execFileSync('umount', [join(box.layer, 'm')]));
  const before = snapshot(box);
  const err = await t.throwsAsync(applyLayer(chunks(tarArchive([file('.wh.m', '')])), box.layer, { mode: 'render', describe: 'layer sha256:hostile' }));
  t.regex(err!.message, /"m" is a mount point/);
  t.is(snapshot(box), before);
  t.is(readFileSync(join(box.outside, 'sentinel'), 'utf8'), 'untouched');
});

// --- Not the layer's fault ------------------------------------------------------

test.serial('a full filesystem is reported as such, on the entry, with no fd left open', async (t) => {
  const root = tempDir(t, 'skiff-enospc-');
  const layer = join(root, 'layer');
  mkdirSync(layer);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'skiff-enospc', layer]);
  t.teardown(() => execFileSync('umount', [layer]));
  const fds = openFds();
  const err = await t.throwsAsync(applyLayer(chunks(tarArchive([file('small', 'ok'), file('big', 'x'.repeat(1 << 20))])), layer, { checkFreeSpace: false }));
  t.true(err instanceof ImageError);
  t.regex(err!.message, /entry #2 "big" .*ENOSPC/);
  t.regex((err as ImageError).hint ?? '', /free space on that filesystem/);
  t.is(openFds(), fds);
});

test.serial('a file that would take the filesystem below its free-space margin is refused before it is written', async (t) => {
  const root = tempDir(t, 'skiff-margin-');
  const layer = join(root, 'layer');
  mkdirSync(layer);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'skiff-margin', layer]);
  t.teardown(() => execFileSync('umount', [layer]));
  const fds = openFds();
  // 1 MiB, margin 5% (52 KiB): 980 KiB would fit the filesystem but not the margin.
  const err = await t.throwsAsync(applyLayer(chunks(tarArchive([file('small', 'ok'), file('big', 'x'.repeat(980 * 1024))])), layer));
  t.true(err instanceof ImageError);
  t.regex(err!.message, /filesystem of .* must keep 51\.2 KiB free; entry #2 "big" needs 980\.0 KiB/);
  t.regex((err as ImageError).hint ?? '', /free space on that filesystem/);
  t.deepEqual(readdirSync(layer), ['small'], 'big was not started');
  t.is(openFds(), fds);
});

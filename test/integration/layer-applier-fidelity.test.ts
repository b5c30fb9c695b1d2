/**
 * The fidelity matrix (issue 3, "Layer unpack"): each property of a layer
 * built in code survives applyLayer() exactly, checked on the real
 * filesystem (lstat, readlink, and python3's os.getxattr for xattrs). Render
 * mode is checked on three layers applied into one dir, and against an
 * overlay mount of the same layers applied in overlay form.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, type ApplyOptions, type ApplyResult } from '../../image/applier/index.js';
import { tempDir } from '../support/temp-dir.js';
import { tarArchive, type TarEntry } from '../support/tar-writer.js';

async function apply(t: ExecutionContext, archive: Buffer | TarEntry[], options: ApplyOptions = {}, chunk = 64 * 1024): Promise<{ dir: string; result: ApplyResult }> {
  const tar = Buffer.isBuffer(archive) ? archive : tarArchive(archive);
  const dir = join(tempDir(t, 'skiff-applier-'), 'layer');
  mkdirSync(dir);
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const result = await applyLayer(Readable.from(parts), dir, options);
  return { dir, result };
}

/** xattr value as hex, read without following symlinks; null when absent. */
function xattr(path: string, name: string): string | null {
  const out = execFileSync(
    'python3',
    ['-c', 'import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: sys.stdout.write("-")', path, name],
    { encoding: 'utf8' },
  );
  return out === '-' ? null : out;
}
const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');
const mode = (p: string): number => lstatSync(p).mode & 0o7777;

test('regular files and dirs get exact modes: 0777, 1777, 4755, 2755, 0640, 0000, despite the umask', async (t) => {
  const { dir } = await apply(t, [
    { path: 'open', type: 'file', mode: 0o777, content: 'x' },
    { path: 'tmp/', type: 'dir', mode: 0o1777 },
    { path: 'suid', type: 'file', mode: 0o4755, uid: 1000, gid: 1000, content: '#!/bin/sh\n' },
    { path: 'sgid', type: 'file', mode: 0o2755, uid: 0, gid: 50, content: 'x' },
    { path: 'sgid-dir/', type: 'dir', mode: 0o2775, gid: 50 },
    { path: 'private', type: 'file', mode: 0o640 },
    { path: 'nothing', type: 'file', mode: 0o000 },
    { path: 'ro-dir/', type: 'dir', mode: 0o500 },
  ]);
  t.is(mode(join(dir, 'open')), 0o777);
  t.is(mode(join(dir, 'tmp')), 0o1777);
  t.is(mode(join(dir, 'suid')), 0o4755, 'setuid survives the chown to 1000');
  t.is(lstatSync(join(dir, 'suid')).uid, 1000);
  t.is(mode(join(dir, 'sgid')), 0o2755);
  t.is(mode(join(dir, 'sgid-dir')), 0o2775);
  t.is(mode(join(dir, 'private')), 0o640);
  t.is(mode(join(dir, 'nothing')), 0o000);
  t.is(mode(join(dir, 'ro-dir')), 0o500);
  t.is(readFileSync(join(dir, 'suid'), 'utf8'), '#!/bin/sh\n');
});

test('owners of files, dirs, symlinks (the link itself), devices, fifos; ids beyond the octal field via PAX', async (t) => {
  const { dir } = await apply(t, [
    { path: 'd/', type: 'dir', uid: 11, gid: 12 },
    { path: 'd/f', type: 'file', uid: 13, gid: 14 },
    { path: 'd/l', type: 'symlink', linkname: 'f', uid: 15, gid: 16 },
    { path: 'd/abs', type: 'symlink', linkname: '/etc/shadow', uid: 17, gid: 18 },
    { path: 'd/p', type: 'fifo', uid: 19, gid: 20 },
    { path: 'd/big', type: 'file', uid: 3_000_000_000, gid: 3_000_000_001 },
  ]);
  const owner = (p: string): [number, number] => {
    const st = lstatSync(join(dir, p));
    return [st.uid, st.gid];
  };
  t.deepEqual(owner('d'), [11, 12]);
  t.deepEqual(owner('d/f'), [13, 14]);
  t.deepEqual(owner('d/l'), [15, 16]);
  t.deepEqual(owner('d/abs'), [17, 18]);
  t.deepEqual(owner('d/p'), [19, 20]);
  t.deepEqual(owner('d/big'), [3_000_000_000, 3_000_000_001]);
  t.is(lstatSync('/etc/shadow').uid, 0, 'the absolute link target was not chowned');
});

test('mtimes of files, symlinks, devices and directories (set last, after their children), to the nanosecond via PAX', async (t) => {
  const archive = Buffer.concat([
    tarArchive(
      [
        { path: 'a/', type: 'dir', mtime: 1_000_000_000 },
        { path: 'a/b/', type: 'dir', mtime: 1_000_000_100 },
        { path: 'a/b/file', type: 'file', content: 'late child', mtime: 1_200_000_000 },
        { path: 'a/link', type: 'symlink', linkname: 'b/file', mtime: 1_100_000_000 },
        { path: 'a/fifo', type: 'fifo', mtime: 1_100_000_001 },
        { path: 'old', type: 'file', mtime: 0 },
        { path: './', type: 'dir', mtime: 1_300_000_000 },
      ],
      { omitEndBlocks: true },
    ),
    // A PAX mtime with a fraction: a hand-made record ahead of the entry.
    paxEntry('precise', { mtime: '1700000000.123456789' }),
    Buffer.alloc(1024),
  ]);
  const { dir } = await apply(t, archive);
  const ns = (p: string): bigint => lstatSync(join(dir, p), { bigint: true }).mtimeNs;
  t.is(ns('a'), 1_000_000_000_000_000_000n, 'dir mtime kept although children were created later');
  t.is(ns('a/b'), 1_000_000_100_000_000_000n);
  t.is(ns('a/b/file'), 1_200_000_000_000_000_000n);
  t.is(ns('a/link'), 1_100_000_000_000_000_000n, 'the symlink itself, not its target');
  t.is(ns('a/fifo'), 1_100_000_001_000_000_000n);
  t.is(ns('old'), 0n);
  t.is(ns('precise'), 1_700_000_000_123_456_789n);
  t.is(ns('.'), 1_300_000_000_000_000_000n, 'the layer root takes the "./" entry');
});

/** A PAX header with the given records, then an empty file entry. */
function paxEntry(path: string, records: Record<string, string>): Buffer {
  const withPax = tarArchive([{ path, type: 'file', xattrs: { 'user.placeholder': 'x' } }], { omitEndBlocks: true });
  // Rebuild: replace the placeholder xattr record by the wanted records (same writer, same checksums).
  const body = Object.entries(records)
    .map(([k, v]) => {
      const rec = ` ${k}=${v}\n`;
      let n = rec.length + 1;
      while (String(n).length + rec.length !== n) n++;
      return `${n}${rec}`;
    })
    .join('');
  const header = Buffer.from(withPax.subarray(0, 512));
  header.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  data.write(body, 'latin1');
  const entryHeader = withPax.subarray(withPax.length - 512);
  return Buffer.concat([header, data, entryHeader]);
}

test('hardlinks within the layer share the inode, to files and to symlinks', async (t) => {
  const { dir } = await apply(t, [
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, content: 'BB' },
    { path: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' },
    { path: 'usr/bin/', type: 'dir' },
    { path: 'usr/bin/env', type: 'hardlink', linkname: './bin/busybox' },
    { path: 'sl', type: 'symlink', linkname: 'bin/busybox' },
    { path: 'sl2', type: 'hardlink', linkname: 'sl' },
  ]);
  const ino = lstatSync(join(dir, 'bin/busybox')).ino;
  t.is(lstatSync(join(dir, 'bin/sh')).ino, ino);
  t.is(lstatSync(join(dir, 'usr/bin/env')).ino, ino);
  t.is(lstatSync(join(dir, 'bin/busybox')).nlink, 3);
  t.true(lstatSync(join(dir, 'sl2')).isSymbolicLink(), 'a hardlink to a symlink links the symlink');
  t.is(lstatSync(join(dir, 'sl2')).ino, lstatSync(join(dir, 'sl')).ino);
});

test('symlinks are kept verbatim: relative, absolute, dangling, chains a→b→c and through dirs', async (t) => {
  const { dir } = await apply(t, [
    { path: 'c', type: 'file', content: 'end' },
    { path: 'b', type: 'symlink', linkname: 'c' },
    { path: 'a', type: 'symlink', linkname: 'b' },
    { path: 'd/', type: 'dir' },
    { path: 'dlink', type: 'symlink', linkname: 'd/' },
    { path: 'dlink2', type: 'symlink', linkname: 'dlink' },
    { path: 'abs', type: 'symlink', linkname: '/etc/passwd' },
    { path: 'up', type: 'symlink', linkname: '../../../../etc/shadow' },
    { path: 'dangling', type: 'symlink', linkname: 'nowhere/at/all' },
    { path: 'dot', type: 'symlink', linkname: '.' },
  ]);
  t.is(readlinkSync(join(dir, 'a')), 'b');
  t.is(readlinkSync(join(dir, 'b')), 'c');
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'end');
  t.is(readlinkSync(join(dir, 'dlink')), 'd/');
  t.is(readlinkSync(join(dir, 'dlink2')), 'dlink');
  t.is(readlinkSync(join(dir, 'abs')), '/etc/passwd');
  t.is(readlinkSync(join(dir, 'up')), '../../../../etc/shadow');
  t.is(readlinkSync(join(dir, 'dangling')), 'nowhere/at/all');
  t.is(readlinkSync(join(dir, 'dot')), '.');
});

test('character and block devices and FIFOs, with modes and numbers', async (t) => {
  const { dir } = await apply(t, [
    { path: 'dev/', type: 'dir' },
    { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
    { path: 'dev/tty', type: 'char', mode: 0o620, devmajor: 5, devminor: 0, gid: 5 },
    // Block majors 60-63 are for local/experimental use and never handed out: no real disk behind these nodes.
    { path: 'dev/local0', type: 'block', mode: 0o660, devmajor: 60, devminor: 0, gid: 6 },
    { path: 'dev/big', type: 'block', mode: 0o600, devmajor: 61, devminor: 70000 },
    { path: 'run/fifo', type: 'fifo', mode: 0o622 },
  ]);
  const st = (p: string) => lstatSync(join(dir, p));
  t.true(st('dev/null').isCharacterDevice());
  t.is(st('dev/null').rdev, 0x103);
  t.is(mode(join(dir, 'dev/null')), 0o666);
  t.is(mode(join(dir, 'dev/tty')), 0o620);
  t.true(st('dev/local0').isBlockDevice());
  t.is(st('dev/local0').rdev, 0x3c00);
  t.is(st('dev/local0').gid, 6);
  const big = execFileSync('stat', ['-c', '%t:%T', join(dir, 'dev/big')], { encoding: 'utf8' }).trim();
  t.is(big, `${(61).toString(16)}:${(70000).toString(16)}`);
  t.true(st('run/fifo').isFIFO());
  t.is(mode(join(dir, 'run/fifo')), 0o622);
});

test('xattrs: security.capability (after chown and data), user.*, trusted.*, binary values, on files and dirs', async (t) => {
  // VFS_CAP_REVISION_2, cap_net_bind_service (bit 10) permitted + effective.
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const { dir } = await apply(t, [
    { path: 'ping', type: 'file', mode: 0o755, uid: 1000, gid: 1000, content: 'ELF'.repeat(50_000), xattrs: { 'security.capability': cap } },
    { path: 'data', type: 'file', xattrs: { 'user.bin': Buffer.from([0, 1, 2, 0x0a, 0xff]), 'user.empty': '' } },
    { path: 'etc/', type: 'dir', xattrs: { 'trusted.skiff': 'dir-value', 'user.d': 'x' } },
  ]);
  t.is(xattr(join(dir, 'ping'), 'security.capability'), hex(cap));
  t.is(lstatSync(join(dir, 'ping')).uid, 1000);
  t.is(xattr(join(dir, 'data'), 'user.bin'), '0001020aff');
  t.is(xattr(join(dir, 'data'), 'user.empty'), '');
  t.is(xattr(join(dir, 'etc'), 'trusted.skiff'), hex('dir-value'));
  t.is(xattr(join(dir, 'etc'), 'user.d'), hex('x'));
  t.regex(execFileSync('getcap', [join(dir, 'ping')], { encoding: 'utf8' }).trim(), /cap_net_bind_service[=+]ep/);
});

for (const longNames of ['pax', 'gnu'] as const) {
  test(`long names and long link targets (${longNames})`, async (t) => {
    const deep = Array.from({ length: 12 }, (_, i) => `directory-number-${i}`).join('/');
    const target = `/${'t'.repeat(200)}/${'u'.repeat(100)}`;
    const { dir } = await apply(
      t,
      tarArchive(
        [
          { path: `${deep}/`, type: 'dir', mode: 0o750 },
          { path: `${deep}/${'f'.repeat(200)}`, type: 'file', content: 'long' },
          { path: `${deep}/link`, type: 'symlink', linkname: target },
          { path: 'hard', type: 'hardlink', linkname: `${deep}/${'f'.repeat(200)}` },
        ],
        { longNames },
      ),
    );
    t.is(readFileSync(join(dir, deep, 'f'.repeat(200)), 'utf8'), 'long');
    t.is(mode(join(dir, deep)), 0o750);
    t.is(readlinkSync(join(dir, deep, 'link')), target);
    t.is(lstatSync(join(dir, 'hard')).ino, lstatSync(join(dir, deep, 'f'.repeat(200))).ino);
  });
}

for (const [name, format] of [
  ['GNU', ['--format=gnu']],
  ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
  ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
] as const) {
  test(`sparse files (${name}) come back with their holes`, async (t) => {
    const src = tempDir(t);
    const size = 64 * 1024 * 1024;
    const fd = openSync(join(src, 'disk.img'), 'w');
    writeSync(fd, Buffer.alloc(4096, 'A'), 0, 4096, 1024 * 1024);
    writeSync(fd, Buffer.alloc(4096, 'B'), 0, 4096, 40 * 1024 * 1024);
    closeSync(fd);
    execFileSync('truncate', ['-s', String(size), join(src, 'disk.img')]);
    execFileSync('tar', ['-cf', join(src, 'a.tar'), '--sparse', ...format, '-C', src, 'disk.img']);
    const { dir, result } = await apply(t, readFileSync(join(src, 'a.tar')));
    const out = join(dir, 'disk.img');
    t.is(statSync(out).size, size);
    t.is(result.bytes, size, 'the real size counts against maxBytes');
    t.true(statSync(out).blocks * 512 < 1024 * 1024, `holes kept (${statSync(out).blocks} blocks)`);
    t.true(readFileSync(out).equals(readFileSync(join(src, 'disk.img'))));
  });
}

test('OCI whiteouts become 0/0 char devices; the opaque marker becomes trusted.overlay.opaque=y and no file', async (t) => {
  const { dir } = await apply(
    t,
    [
      { path: 'etc/', type: 'dir' },
      { path: 'etc/.wh.motd', type: 'file', uid: 0 },
      { path: 'var/cache/', type: 'dir', mode: 0o755 },
      { path: 'var/cache/.wh..wh..opq', type: 'file' },
      { path: 'var/cache/fresh', type: 'file', content: 'new' },
      { path: '.wh.root-level', type: 'file' },
      { path: 'implicit/.wh..wh..opq', type: 'file' },
      { path: 'implicit/deeper/.wh.gone', type: 'file' },
      { path: 'keep', type: 'file', content: 'same layer' },
      { path: '.wh.keep', type: 'file' },
      { path: 'aufs/.wh..wh.plnk', type: 'dir' },
    ],
    { devices: 'refuse' },
  );
  const wh = lstatSync(join(dir, 'etc/motd'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.is(wh.mode & 0o7777, 0);
  t.true(lstatSync(join(dir, 'root-level')).isCharacterDevice());
  t.true(lstatSync(join(dir, 'implicit/deeper/gone')).isCharacterDevice());
  t.is(xattr(join(dir, 'var/cache'), 'trusted.overlay.opaque'), hex('y'));
  t.is(xattr(join(dir, 'implicit'), 'trusted.overlay.opaque'), hex('y'));
  t.deepEqual(readdirSync(join(dir, 'var/cache')), ['fresh']);
  t.deepEqual(readdirSync(join(dir, 'etc')), ['motd']);
  t.is(readFileSync(join(dir, 'keep'), 'utf8'), 'same layer', 'a whiteout only hides lower layers');
  t.false(existsSync(join(dir, 'aufs/.wh..wh.plnk')), 'AUFS metadata is read past');
  t.false(readdirSync(dir).some((n) => n.startsWith('.wh.')));
});

test('later entries replace earlier ones; a dir over a dir keeps its contents and takes the new metadata', async (t) => {
  const { dir } = await apply(t, [
    { path: 'f', type: 'file', content: 'first' },
    { path: 'f', type: 'file', content: 'second', mode: 0o600 },
    { path: 'l', type: 'symlink', linkname: 'f' },
    { path: 'l', type: 'file', content: 'file over symlink' },
    { path: 'g', type: 'file', content: 'g' },
    { path: 'g', type: 'symlink', linkname: '/etc/passwd' },
    { path: 'd/', type: 'dir', mode: 0o700, uid: 1 },
    { path: 'd/inside', type: 'file', content: 'kept' },
    { path: 'd/', type: 'dir', mode: 0o755, uid: 2, mtime: 1_234_567_890 },
    { path: 'empty/', type: 'dir' },
    { path: 'empty', type: 'file', content: 'file over empty dir' },
    { path: 'x', type: 'file', content: 'x' },
    { path: 'h', type: 'file', content: 'h' },
    { path: 'h', type: 'hardlink', linkname: 'x' },
    { path: 'n', type: 'fifo' },
    { path: 'n', type: 'dir' },
  ]);
  t.is(readFileSync(join(dir, 'f'), 'utf8'), 'second');
  t.is(mode(join(dir, 'f')), 0o600);
  t.true(lstatSync(join(dir, 'l')).isFile());
  t.is(readFileSync(join(dir, 'l'), 'utf8'), 'file over symlink');
  t.is(readlinkSync(join(dir, 'g')), '/etc/passwd');
  t.is(readFileSync(join(dir, 'd/inside'), 'utf8'), 'kept');
  t.is(mode(join(dir, 'd')), 0o755);
  t.is(lstatSync(join(dir, 'd')).uid, 2);
  t.is(lstatSync(join(dir, 'd')).mtimeMs, 1_234_567_890_000);
  t.is(readFileSync(join(dir, 'empty'), 'utf8'), 'file over empty dir');
  t.is(lstatSync(join(dir, 'h')).ino, lstatSync(join(dir, 'x')).ino);
  t.true(lstatSync(join(dir, 'n')).isDirectory());
});

test('parents the archive does not list are made 0755 root; the "./" entry sets the layer root', async (t) => {
  const { dir } = await apply(t, [
    { path: './', type: 'dir', mode: 0o751, uid: 3, gid: 4 },
    { path: './a/b/c/file', type: 'file', content: 'deep' },
  ]);
  t.is(readFileSync(join(dir, 'a/b/c/file'), 'utf8'), 'deep');
  for (const p of ['a', 'a/b', 'a/b/c']) {
    t.is(mode(join(dir, p)), 0o755);
    t.is(lstatSync(join(dir, p)).uid, 0);
  }
  t.is(mode(dir), 0o751);
  t.deepEqual([lstatSync(dir).uid, lstatSync(dir).gid], [3, 4]);
});

test('a name that is not UTF-8 is created byte for byte', async (t) => {
  const archive = tarArchive([{ path: 'cafX', type: 'file', content: 'latin1' }]);
  archive[3] = 0xe9;
  archive.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += archive[i]!;
  archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const { dir } = await apply(t, archive);
  const names = readdirSync(dir, { encoding: 'buffer' });
  t.deepEqual(names, [Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
});

test('the result counts entries and file bytes; chunking of the stream does not matter', async (t) => {
  const entries: TarEntry[] = [
    { path: 'a/', type: 'dir' },
    { path: 'a/one', type: 'file', content: Buffer.alloc(70_000, 1) },
    { path: 'a/two', type: 'file', content: Buffer.alloc(513, 2) },
    { path: 'a/l', type: 'symlink', linkname: 'one' },
  ];
  for (const chunk of [1, 511, 4096, 1 << 20]) {
    const { dir, result } = await apply(t, entries, {}, chunk);
    t.deepEqual(result, { entries: 4, bytes: 70_513, skippedDevices: { count: 0, examples: [] }, copiedUp: 0 });
    t.true(readFileSync(join(dir, 'a/one')).equals(Buffer.alloc(70_000, 1)));
    t.true(readFileSync(join(dir, 'a/two')).equals(Buffer.alloc(513, 2)));
  }
});

test('a real tree archived by GNU tar unpacks identically to GNU tar -xp (metadata, xattrs, links, contents)', async (t) => {
  const work = tempDir(t);
  const src = join(work, 'src');
  mkdirSync(src);
  // A tree with what real layers hold, made by the system's own tools.
  execFileSync('sh', [
    '-c',
    `set -e; cd "${src}"; cp -a /usr/share/zoneinfo/Europe zone; cp -a /usr/share/doc/tar doc;
     mkdir -p bin sbin tmp; cp /bin/ls bin/ping; setcap cap_net_raw+ep bin/ping;
     chmod 1777 tmp; chmod 4755 bin/ping 2>/dev/null || true; ln bin/ping sbin/ping-hard; ln -s ../bin/ping sbin/ping;
     mknod null c 1 3; mkfifo fifo; chown -h 123:456 sbin/ping; python3 -c 'import os; os.setxattr("doc", "user.note", b"hello"); os.setxattr("zone", "trusted.t", b"\\x00\\x01")';
     touch -h -d 2001-02-03T04:05:06.789 sbin/ping zone`,
  ]);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', join(work, 'a.tar'), '-C', src, '.']);
  const gnu = join(work, 'gnu');
  mkdirSync(gnu);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', join(work, 'a.tar'), '-C', gnu]);
  const { dir } = await apply(t, readFileSync(join(work, 'a.tar')));
  const script = `
import os, sys, stat, hashlib
def content(p, st):
    return hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else None
def walk(root):
    res = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns + ['.']:
            p = os.path.normpath(os.path.join(dp, n)); rel = os.path.relpath(p, root)
            st = os.lstat(p)
            x = sorted((k, os.getxattr(p, k, follow_symlinks=False).hex()) for k in os.listxattr(p, follow_symlinks=False))
            res[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, 0 if stat.S_ISDIR(st.st_mode) else st.st_size, st.st_rdev, 0 if stat.S_ISDIR(st.st_mode) else st.st_nlink, os.readlink(p) if stat.S_ISLNK(st.st_mode) else None, x, content(p, st))
    return res
a, b = walk(sys.argv[1]), walk(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
print(len(a), len(bad))
for k in bad[:10]: print(k, a.get(k), b.get(k))
`;
  const out = execFileSync('python3', ['-c', script, gnu, dir], { encoding: 'utf8' });
  t.regex(out, /^\d+ 0\n$/, out);
  t.true(Number(out.split(' ')[0]) > 50, out);
});

test('entries owned 0:0 inside setgid dirs stay 0:0 (the group a setgid dir would hand down is undone)', async (t) => {
  const { dir } = await apply(t, [
    { path: './', type: 'dir', mode: 0o2755, gid: 60 },
    { path: 'top', type: 'file', content: 'x' },
    { path: 'shared/', type: 'dir', mode: 0o2775, gid: 50 },
    { path: 'shared/file', type: 'file', content: 'x' },
    { path: 'shared/sub/', type: 'dir', mode: 0o755 },
    { path: 'shared/link', type: 'symlink', linkname: 'file' },
    { path: 'shared/fifo', type: 'fifo' },
    { path: 'shared/sub/deep', type: 'file' },
    { path: 'other/', type: 'dir', gid: 50 },
    { path: 'other/plain', type: 'file' },
  ]);
  for (const p of ['top', 'shared/file', 'shared/sub', 'shared/link', 'shared/fifo', 'shared/sub/deep', 'other/plain']) {
    t.deepEqual([lstatSync(join(dir, p)).uid, lstatSync(join(dir, p)).gid], [0, 0], p);
  }
  t.is(mode(join(dir, 'shared/sub')), 0o755, 'no setgid bit inherited either');
  t.is(lstatSync(join(dir, 'shared')).gid, 50);
});

test("devices 'skip': no node is made, hardlinks to one go with it, whiteouts and FIFOs still are; all counted", async (t) => {
  const { dir, result } = await apply(t, [
    { path: 'dev/', type: 'dir' },
    { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
    { path: 'dev/zero', type: 'char', mode: 0o666, devmajor: 1, devminor: 5 },
    { path: 'dev/null-again', type: 'hardlink', linkname: 'dev/null' },
    { path: 'dev/.wh.gone', type: 'file' },
    { path: 'run/fifo', type: 'fifo', mode: 0o622 },
  ], { devices: 'skip' });
  t.deepEqual(readdirSync(join(dir, 'dev')).sort(), ['gone'], 'only the whiteout');
  t.true(lstatSync(join(dir, 'dev/gone')).isCharacterDevice());
  t.true(lstatSync(join(dir, 'run/fifo')).isFIFO());
  t.deepEqual(result.skippedDevices, { count: 3, examples: ['dev/null', 'dev/zero', 'dev/null-again'] });
});

// --- Render mode: layers one after another into one dir ----------------------------

/** Applies `layers` bottom to top in render mode into one fresh dir. */
async function render(t: ExecutionContext, layers: TarEntry[][], options: ApplyOptions = {}): Promise<string> {
  const dir = join(tempDir(t, 'skiff-render-'), 'rootfs');
  mkdirSync(dir);
  for (const [i, layer] of layers.entries()) {
    await applyLayer(Readable.from([tarArchive(layer)]), dir, { mode: 'render', describe: `layer ${i + 1}`, ...options });
  }
  return dir;
}

const dirE = (path: string, extra: Partial<TarEntry> = {}): TarEntry => ({ path, type: 'dir', ...extra });
const fileE = (path: string, content: string, extra: Partial<TarEntry> = {}): TarEntry => ({ path, type: 'file', content, ...extra });
const whiteoutE = (path: string): TarEntry => ({ path, type: 'file', content: '' });

test("render mode, devices 'skip': a skipped node still replaces what a lower layer had at its name", async (t) => {
  const dir = await render(t, [
    [dirE('dev/'), fileE('dev/console', 'lower file'), dirE('dev/tree/'), fileE('dev/tree/x', 'x')],
    [{ path: 'dev/console', type: 'char', mode: 0o600, devmajor: 5, devminor: 1 }, { path: 'dev/tree', type: 'char', devmajor: 1, devminor: 3 }],
  ], { devices: 'skip' });
  t.deepEqual(readdirSync(join(dir, 'dev')), []);
});

/** A base, then deletions, opaque dirs (marker before and after entries) and replacements, then more of each. */
const BASE: TarEntry[] = [
  dirE('etc/'), fileE('etc/passwd', 'root:x:0:0\n'), fileE('etc/motd', 'hello\n'), fileE('etc/hostname', 'base\n'),
  dirE('usr/'), dirE('usr/lib/'), fileE('usr/lib/libfoo.so', 'foo-1', { mode: 0o755 }), fileE('usr/lib/libbar.so', 'bar-1', { mode: 0o755, uid: 3 }),
  dirE('var/'), dirE('var/cache/'), dirE('var/cache/a/'), fileE('var/cache/a/x', 'x'), fileE('var/cache/a/y', 'y'), fileE('var/cache/keep', 'lower'),
  { path: 'var/cache/sub', type: 'symlink', linkname: '/etc' },
  dirE('var/log/'), fileE('var/log/old.log', 'old'), dirE('var/log/deep/'), fileE('var/log/deep/er', 'er'),
  dirE('opt/'), dirE('opt/app/'), dirE('opt/app/bin/'), fileE('opt/app/bin/run', 'run', { mode: 0o755 }), dirE('opt/app/lib/', { mode: 0o500 }), fileE('opt/app/lib/z', 'z'),
  { path: 'opt/app/outside', type: 'symlink', linkname: '/etc' },
  { path: 'link', type: 'symlink', linkname: 'etc/passwd' },
  { path: 'dirlink', type: 'symlink', linkname: 'usr/lib' },
  dirE('data/', { mode: 0o700, uid: 5, gid: 5 }), fileE('data/file', 'kept'),
  dirE('run/'), dirE('run/lock/'), fileE('run/lock/pid', '1'),
  dirE('tmp/', { mode: 0o1777 }),
];
const MIDDLE: TarEntry[] = [
  dirE('etc/'), whiteoutE('etc/.wh.motd'),
  whiteoutE('etc/.wh.late'), fileE('etc/late', 'whiteout first, then the entry'),
  fileE('etc/same', 'entry first'), whiteoutE('etc/.wh.same'),
  whiteoutE('.wh.opt'), whiteoutE('.wh.link'),
  dirE('var/'), dirE('var/cache/'), fileE('var/cache/fresh', 'new'), dirE('var/cache/a/', { mode: 0o750 }), fileE('var/cache/a/new', 'n'),
  whiteoutE('var/cache/.wh..wh..opq'),
  dirE('var/log/'), whiteoutE('var/log/.wh..wh..opq'), fileE('var/log/new.log', 'new'),
  { path: 'run', type: 'symlink', linkname: 'var/run' },
  dirE('usr/'), dirE('usr/lib/'), fileE('usr/lib/libfoo.so', 'foo-2', { mode: 0o755 }),
  dirE('ghost/'), whiteoutE('ghost/.wh.nothing'),
];
const TOP: TarEntry[] = [
  dirE('data/', { mode: 0o750, uid: 7, gid: 8, mtime: 1_234_567_890 }),
  dirE('etc/'), fileE('etc/passwd', 'root:x:0:0\nskiff:x:1000:1000\n', { mode: 0o600 }),
  dirE('var/'), dirE('var/cache/'), whiteoutE('var/cache/.wh.fresh'),
  whiteoutE('.wh.dirlink'),
  dirE('opt/'), fileE('opt/new', 'again'),
];

test('render: three layers give the flattened rootfs (deletions, opaque dirs either side of their entries, replacements)', async (t) => {
  const dir = await render(t, [BASE, MIDDLE, TOP]);
  const names = (p: string): string[] => readdirSync(join(dir, p)).sort();
  t.deepEqual(names('.'), ['data', 'etc', 'ghost', 'opt', 'run', 'tmp', 'usr', 'var']);
  t.deepEqual(names('etc'), ['hostname', 'late', 'passwd', 'same'], 'motd whited out; a whiteout after its entry in one layer keeps it');
  t.is(readFileSync(join(dir, 'etc/passwd'), 'utf8'), 'root:x:0:0\nskiff:x:1000:1000\n');
  t.is(mode(join(dir, 'etc/passwd')), 0o600);
  t.deepEqual(names('opt'), ['new'], 'the whole lower tree went, with its 0500 dir; the new entry came after');
  t.deepEqual(names('var/cache'), ['a'], 'opaque (marker after the entries): lower names gone, this layer\'s kept; fresh whited out by the top');
  t.deepEqual(names('var/cache/a'), ['new'], 'below an opaque dir only its own layer\'s entries remain');
  t.is(mode(join(dir, 'var/cache/a')), 0o750);
  t.deepEqual(names('var/log'), ['new.log'], 'opaque (marker before the entries)');
  t.true(lstatSync(join(dir, 'run')).isSymbolicLink(), 'a symlink replaced a lower dir tree');
  t.is(readlinkSync(join(dir, 'run')), 'var/run');
  t.is(readFileSync(join(dir, 'usr/lib/libfoo.so'), 'utf8'), 'foo-2');
  t.is(readFileSync(join(dir, 'usr/lib/libbar.so'), 'utf8'), 'bar-1');
  t.deepEqual(names('data'), ['file'], 'a dir over a dir keeps its contents');
  t.deepEqual([mode(join(dir, 'data')), lstatSync(join(dir, 'data')).uid, lstatSync(join(dir, 'data')).gid], [0o750, 7, 8]);
  t.is(lstatSync(join(dir, 'data')).mtimeMs, 1_234_567_890_000);
  t.deepEqual(names('ghost'), []);
  t.is(mode(join(dir, 'tmp')), 0o1777);
  t.true(lstatSync('/etc').isDirectory() && existsSync('/etc/passwd'), 'whiting out symlinks to /etc removed the links only');
  const all = execFileSync('find', [dir, '-printf', '%y %P\\n'], { encoding: 'utf8' });
  t.notRegex(all, /^c /m, 'no whiteout devices');
  t.notRegex(all, /\.wh\./, 'no whiteout names');
  const xattrs = execFileSync(
    'python3',
    ['-c', 'import os,sys\nfor dp, dns, fns in os.walk(sys.argv[1]):\n  for n in dns + fns + ["."]: print(os.path.join(dp, n), os.listxattr(os.path.join(dp, n), follow_symlinks=False))', dir],
    { encoding: 'utf8' },
  );
  t.notRegex(xattrs, /overlay/, 'no overlay xattrs');
});

test('render: hardlinks into lower-layer files, and chains of them across layers', async (t) => {
  const dir = await render(t, [
    [dirE('usr/'), dirE('usr/lib/'), fileE('usr/lib/libc.so', 'libc', { mode: 0o755 })],
    [dirE('usr/bin/'), { path: 'usr/bin/ld.so', type: 'hardlink', linkname: 'usr/lib/libc.so' }, fileE('usr/bin/ld.so2', 'replaced next'), { path: 'usr/bin/ld.so2', type: 'hardlink', linkname: 'usr/lib/libc.so' }],
    [dirE('sbin/'), { path: 'sbin/ldconfig', type: 'hardlink', linkname: 'usr/bin/ld.so' }],
  ]);
  const ino = lstatSync(join(dir, 'usr/lib/libc.so')).ino;
  for (const p of ['usr/bin/ld.so', 'usr/bin/ld.so2', 'sbin/ldconfig']) t.is(lstatSync(join(dir, p)).ino, ino, p);
  t.is(lstatSync(join(dir, 'usr/lib/libc.so')).nlink, 4);
  t.is(readFileSync(join(dir, 'sbin/ldconfig'), 'utf8'), 'libc');
});

test('render: a file over a lower file with other links leaves those links alone; a non-empty dir of this layer is still not replaced', async (t) => {
  const dir = await render(t, [[fileE('a', 'lower'), { path: 'b', type: 'hardlink', linkname: 'a' }], [fileE('a', 'upper')]]);
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'upper');
  t.is(readFileSync(join(dir, 'b'), 'utf8'), 'lower');
  const err = await t.throwsAsync(render(t, [[dirE('d/')], [fileE('d/mine', 'x'), fileE('d', 'file over my own dir')]]));
  t.regex(err!.message, /layer 2: entry #2 "d" .*would replace the non-empty directory "d"/);
});

test('render: the overlay target must still be empty; render accepts a non-empty one', async (t) => {
  const dir = await render(t, [[fileE('lower', 'x')]]);
  const err = await t.throwsAsync(applyLayer(Readable.from([tarArchive([fileE('f', 'y')])]), dir));
  t.regex(err!.message, /is not empty/);
  await applyLayer(Readable.from([tarArchive([fileE('f', 'y')])]), dir, { mode: 'render' });
  t.deepEqual(readdirSync(dir).sort(), ['f', 'lower']);
});

test('render gives what an overlay mount of the same layers in overlay form shows', async (t) => {
  // Parents listed with their metadata in every layer, as image builders write them, and no
  // hardlinks across layers (overlay form cannot hold those): then both must agree on everything
  // but directory times.
  const layers = [BASE, MIDDLE, TOP];
  const rendered = await render(t, layers);
  const work = tempDir(t, 'skiff-render-oracle-');
  const lowers: string[] = [];
  for (const layer of layers) {
    const { dir } = await apply(t, layer);
    lowers.unshift(dir);
  }
  const mnt = join(work, 'merged');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${lowers.join(':')}`, 'skiff-render-oracle', mnt]);
  t.teardown(() => execFileSync('umount', [mnt]));
  const script = `
import os, sys, stat, hashlib
def walk(root):
    res = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n); rel = os.path.relpath(p, root)
            try: st = os.lstat(p)
            except FileNotFoundError: continue  # a whiteout readdir lists in a dir of one layer only
            isdir = stat.S_ISDIR(st.st_mode)
            x = sorted((k, os.getxattr(p, k, follow_symlinks=False).hex()) for k in os.listxattr(p, follow_symlinks=False) if not k.startswith('trusted.overlay.'))
            data = hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else None
            res[rel] = (st.st_mode, st.st_uid, st.st_gid, None if isdir else st.st_mtime_ns, None if isdir else st.st_size, st.st_rdev, os.readlink(p) if stat.S_ISLNK(st.st_mode) else None, x, data)
    return res
a, b = walk(sys.argv[1]), walk(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
print(len(a), len(bad))
for k in bad[:10]: print(k, a.get(k), b.get(k))
`;
  const out = execFileSync('python3', ['-c', script, mnt, rendered], { encoding: 'utf8' });
  t.regex(out, /^\d+ 0\n$/, out);
  t.true(Number(out.split(' ')[0]) > 20, out);
});

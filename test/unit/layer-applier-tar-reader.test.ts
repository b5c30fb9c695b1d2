import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TarReader, type TarEntry, type TarSink } from '../../image/applier/tar-reader.js';
import { TarFormatError } from '../../image/applier/tar-header.js';
import { parsePax, parseTimestamp } from '../../image/applier/pax-records.js';
import { entryComponents, whiteoutOf } from '../../image/applier/entry-path.js';
import { EntryRefused } from '../../image/applier/entry-refused.js';
import { tempDir } from '../support/temp-dir.js';
import { tarArchive, tarEntry, type TarEntry as WriterEntry } from '../support/tar-writer.js';

interface Read {
  entry: TarEntry;
  data: Buffer;
}

/** Reads an archive fed in chunks of `chunk` bytes; files' data is reassembled by position. */
function readAll(archive: Buffer, chunk = archive.length): Read[] {
  const out: Read[] = [];
  let current: Read | undefined;
  const sink: TarSink = {
    entry(entry) {
      current = { entry, data: Buffer.alloc(entry.size) };
      out.push(current);
    },
    data(buf, position) {
      buf.copy(current!.data, position);
    },
    entryEnd() {
      current = undefined;
    },
  };
  const reader = new TarReader(sink);
  for (let i = 0; i < archive.length; i += chunk) reader.write(archive.subarray(i, i + chunk));
  reader.end();
  return out;
}

const longName = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
const longTarget = `/${'t'.repeat(150)}/target`;
const sample: WriterEntry[] = [
  { path: 'dir/', type: 'dir', mode: 0o1777, uid: 7, gid: 8, mtime: 1_000_000_000 },
  { path: 'dir/file', type: 'file', mode: 0o4755, content: 'hello\n', uid: 1000, gid: 1000 },
  { path: 'dir/link', type: 'symlink', linkname: '/etc/passwd', uid: 5, gid: 6 },
  { path: 'dir/hard', type: 'hardlink', linkname: 'dir/file' },
  { path: 'dir/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: 'dir/sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 0 },
  { path: 'dir/fifo', type: 'fifo', mode: 0o600 },
  { path: longName, type: 'file', content: Buffer.alloc(1500, 'x') },
  { path: 'dir/long-link', type: 'symlink', linkname: longTarget },
  { path: 'dir/big-id', type: 'file', uid: 3_000_000_000, gid: 3_000_000_001 },
  { path: 'dir/xattrs', type: 'file', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'user.nl': 'a\nb\0c' } },
];

for (const longNames of ['pax', 'gnu'] as const) {
  for (const chunk of [1, 7, 511, 512, 513, 100_000]) {
    test(`every entry type reads back exactly (${longNames} long names, ${chunk}-byte chunks)`, (t) => {
      const read = readAll(tarArchive(sample, { longNames }), chunk);
      t.deepEqual(
        read.map((r) => [r.entry.path, r.entry.type]),
        sample.map((e) => [e.path, e.type]),
      );
      const [dir, file, link, hard, nul, sda, fifo, long, longLink, bigId, xattrs] = read.map((r) => r.entry);
      t.is(dir!.mode, 0o1777);
      t.deepEqual([dir!.uid, dir!.gid, dir!.mtime], [7, 8, { sec: 1_000_000_000, nsec: 0 }]);
      t.is(file!.mode, 0o4755);
      t.is(read[1]!.data.toString(), 'hello\n');
      t.deepEqual([link!.linkpath, link!.uid, link!.gid], ['/etc/passwd', 5, 6]);
      t.is(hard!.linkpath, 'dir/file');
      t.deepEqual([nul!.devmajor, nul!.devminor, sda!.devmajor, sda!.devminor], [1, 3, 8, 0]);
      t.is(fifo!.mode, 0o600);
      t.is(long!.size, 1500);
      t.true(read[7]!.data.equals(Buffer.alloc(1500, 'x')));
      t.is(longLink!.linkpath, longTarget);
      if (longNames === 'pax') t.deepEqual([bigId!.uid, bigId!.gid], [3_000_000_000, 3_000_000_001]);
      t.deepEqual([...xattrs!.xattrs.keys()], ['security.capability', 'user.nl']);
      t.deepEqual(xattrs!.xattrs.get('user.nl'), Buffer.from('a\nb\0c'), 'PAX values are binary: newline and NUL kept');
      t.deepEqual(
        read.map((r) => r.entry.index),
        sample.map((_, i) => i + 1),
      );
    });
  }
}

test('a name that is not UTF-8 comes through byte for byte', (t) => {
  const name = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "caf\xe9", latin1, not UTF-8
  const archive = tarArchive([{ path: 'x', type: 'file' }]);
  name.copy(archive, 0);
  archive[1] = 0x61;
  // Recompute the checksum after editing the name.
  archive.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += archive[i]!;
  archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const [read] = readAll(archive);
  t.deepEqual(Buffer.from(read!.entry.path, 'latin1'), name);
});

test('PAX records: exact nanosecond times, empty values unset, malformed records refused', (t) => {
  t.deepEqual(parseTimestamp('mtime', '1700000000.123456789'), { sec: 1_700_000_000, nsec: 123_456_789 });
  t.deepEqual(parseTimestamp('mtime', '-1.5'), { sec: -2, nsec: 500_000_000 });
  t.deepEqual(parseTimestamp('mtime', '12'), { sec: 12, nsec: 0 });
  const rec = (k: string, v: string): string => {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 1;
    while (String(n).length + body.length !== n) n++;
    return `${n}${body}`;
  };
  t.deepEqual(parsePax(Buffer.from(rec('path', 'a') + rec('path', ''))).path, undefined);
  t.is(parsePax(Buffer.from(rec('uid', '70000'))).uid, 70000);
  t.throws(() => parsePax(Buffer.from('5 a=b\n')), { instanceOf: TarFormatError });
  t.throws(() => parsePax(Buffer.from('99 path=x\n')), { instanceOf: TarFormatError });
  t.throws(() => parsePax(Buffer.from(rec('uid', '-1'))), { instanceOf: TarFormatError });
  t.throws(() => parsePax(Buffer.from(rec('path', 'a\0b'))), { instanceOf: TarFormatError, message: /NUL/ });
  const libarchive = parsePax(Buffer.from(rec('LIBARCHIVE.xattr.user.a%3Db', Buffer.from('v').toString('base64'))));
  t.deepEqual(libarchive.xattrs.get('user.a=b'), Buffer.from('v'));
});

function readError(archive: Buffer): Error {
  return readAllError(() => readAll(archive));
}
function readAllError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

test('truncation and corruption are refused, never skipped', (t) => {
  const whole = tarArchive([{ path: 'a', type: 'file', content: 'x'.repeat(1000) }]);
  t.regex(readError(whole.subarray(0, 300)).message, /truncated inside a header/);
  t.regex(readError(whole.subarray(0, 900)).message, /truncated inside the data of entry #1/);
  t.regex(readError(tarArchive([{ path: 'a', type: 'file' }], { omitEndBlocks: true })).message, /without the end-of-archive marker/);
  const bad = Buffer.from(whole);
  bad[10] = 0x41;
  t.regex(readError(bad).message, /checksum/);
  const lone = Buffer.concat([Buffer.alloc(512), tarArchive([{ path: 'b', type: 'file' }])]);
  t.regex(readError(lone).message, /zero block is followed by more entries/);
  // A lone zero block right at the end is accepted (as GNU tar and Go do).
  t.is(readAll(Buffer.concat([tarEntry({ path: 'c', type: 'file' }), Buffer.alloc(512)])).length, 1);
  const volume = tarArchive([{ path: 'v', type: 'file' }]);
  volume[156] = 0x56; // 'V'
  volume.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += volume[i]!;
  volume.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  t.regex(readError(volume).message, /unsupported type "V"/);
});

test('after the end-of-archive marker the rest of the stream is read past', (t) => {
  const archive = Buffer.concat([tarArchive([{ path: 'a', type: 'file', content: 'a' }]), Buffer.from('anything at all')]);
  t.is(readAll(archive, 100).length, 1);
});

test('header-only types ignore their size field, as Go archive/tar does', (t) => {
  const archive = tarArchive([
    { path: 'l', type: 'symlink', linkname: 't' },
    { path: 'f', type: 'file', content: 'f' },
  ]);
  archive.write('00000001000\0', 124, 'latin1'); // size 512 on the symlink
  archive.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += archive[i]!;
  archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  t.deepEqual(
    readAll(archive).map((r) => r.entry.path),
    ['l', 'f'],
  );
});

test('GNU long names with a NUL inside are refused; a terminating NUL is fine', (t) => {
  const ok = tarArchive([{ path: `${'a'.repeat(120)}`, type: 'file' }], { longNames: 'gnu' });
  t.is(readAll(ok)[0]!.entry.path, 'a'.repeat(120));
  const bad = tarArchive([{ path: `${'a'.repeat(60)}\0${'b'.repeat(60)}`, type: 'file' }], { longNames: 'gnu' });
  t.regex(readError(bad).message, /NUL/);
});

/** A file with data at a few offsets and holes between, archived by GNU tar in each sparse format. */
function sparseArchive(t: Parameters<typeof tempDir>[0], format: string[], segments: number): { archive: Buffer; expected: Buffer } {
  const dir = tempDir(t);
  const size = segments * 65536 + 4096;
  const expected = Buffer.alloc(size);
  const fd = openSync(join(dir, 'sparse'), 'w');
  for (let k = 0; k < segments; k++) {
    const data = Buffer.alloc(4096, 0x41 + (k % 26));
    writeSync(fd, data, 0, data.length, k * 65536 + 8192);
    data.copy(expected, k * 65536 + 8192);
  }
  closeSync(fd);
  execFileSync('truncate', ['-s', String(size), join(dir, 'sparse')]);
  execFileSync('tar', ['-cf', join(dir, 'a.tar'), '--sparse', ...format, '-C', dir, 'sparse']);
  return { archive: readFileSync(join(dir, 'a.tar')), expected };
}

const sparseFormats: Array<[string, string[]]> = [
  ['GNU old (S) with extension blocks', ['--format=gnu']],
  ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
  ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
  ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
];
for (const [name, format] of sparseFormats) {
  test(`sparse files: ${name}`, (t) => {
    const { archive, expected } = sparseArchive(t, format, 30);
    for (const chunk of [100_000, 777]) {
      const [read] = readAll(archive, chunk);
      t.is(read!.entry.path, 'sparse');
      t.is(read!.entry.size, expected.length);
      t.truthy(read!.entry.sparse);
      t.true(read!.data.equals(expected));
    }
  });
}

test('entry paths: normalised, and "..", absolute, NUL and empty refused', (t) => {
  t.deepEqual(entryComponents('./usr//bin/'), ['usr', 'bin']);
  t.deepEqual(entryComponents('./'), []);
  t.deepEqual(entryComponents('.'), []);
  for (const bad of ['../x', 'a/../../x', 'a/..', '/etc/passwd', 'a\0b', '']) {
    t.throws(() => entryComponents(bad), { instanceOf: EntryRefused }, bad);
  }
});

test('whiteout names: .wh.NAME, the opaque marker, AUFS metadata, and names that are not names', (t) => {
  t.deepEqual(whiteoutOf('.wh.foo'), { kind: 'whiteout', name: 'foo' });
  t.deepEqual(whiteoutOf('.wh..wh..opq'), { kind: 'opaque' });
  t.deepEqual(whiteoutOf('.wh..wh.plnk'), { kind: 'meta' });
  t.deepEqual(whiteoutOf('foo.wh.'), { kind: 'none' });
  for (const bad of ['.wh...', '.wh..', '.wh.']) t.throws(() => whiteoutOf(bad), { instanceOf: EntryRefused }, bad);
});

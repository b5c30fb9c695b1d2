import test from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp-dir.js';
import { tarArchive, type TarEntry } from '../support/tar-writer.js';

/** GNU tar is the reference reader: what it lists is what we meant to write. */
function gnuList(archive: Buffer): string[] {
  return execFileSync('tar', ['-tvf', '-', '--numeric-owner', '--full-time'], { input: archive, encoding: 'utf8' })
    .trimEnd()
    .split('\n');
}

const longName = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
const entries: TarEntry[] = [
  { path: 'dir/', type: 'dir', mode: 0o1777, uid: 7, gid: 8, mtime: 1_000_000_000 },
  { path: 'dir/file', type: 'file', mode: 0o4755, content: 'hello\n', uid: 1000, gid: 1000 },
  { path: 'dir/link', type: 'symlink', linkname: '/etc/passwd', uid: 5, gid: 6 },
  { path: 'dir/hard', type: 'hardlink', linkname: 'dir/file' },
  { path: 'dir/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: 'dir/sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 0 },
  { path: 'dir/fifo', type: 'fifo', mode: 0o600 },
  { path: longName, type: 'file', content: 'long' },
  { path: 'dir/big-id', type: 'file', uid: 3_000_000_000, gid: 3_000_000_001 },
];

for (const longNames of ['pax', 'gnu'] as const) {
  test(`GNU tar reads every entry type back (${longNames} long names)`, (t) => {
    const lines = gnuList(tarArchive(entries, { longNames }));
    t.is(lines.length, entries.length, lines.join('\n'));
    t.regex(lines[0] ?? '', /^drwxrwxrwt 7\/8 .* 2001-09-09 \S+ dir\/$/);
    t.regex(lines[1] ?? '', /^-rwsr-xr-x 1000\/1000\s+6 .* dir\/file$/);
    t.regex(lines[2] ?? '', /^lrwxrwxrwx 5\/6 .* dir\/link -> \/etc\/passwd$/);
    t.regex(lines[3] ?? '', /^hrw-r--r-- .* dir\/hard link to dir\/file$/);
    t.regex(lines[4] ?? '', /^crw-rw-rw- .* 1,3 .* dir\/null$/);
    t.regex(lines[5] ?? '', /^brw-rw---- .* 8,0 .* dir\/sda$/);
    t.regex(lines[6] ?? '', /^prw------- .* dir\/fifo$/);
    t.true((lines[7] ?? '').endsWith(` ${longName}`));
    if (longNames === 'pax') t.regex(lines[8] ?? '', /3000000000\/3000000001/);
  });
}

test('xattrs travel as SCHILY.xattr PAX records that GNU tar restores', (t) => {
  const dir = tempDir(t);
  const archive = tarArchive([
    { path: 'f', type: 'file', content: 'x', xattrs: { 'user.skiff': 'yes', 'user.bin': Buffer.from([0, 1, 2]) } },
  ]);
  writeFileSync(join(dir, 'a.tar'), archive);
  mkdirSync(join(dir, 'out'));
  execFileSync('tar', ['--xattrs', "--xattrs-include=user.*", '-xf', join(dir, 'a.tar'), '-C', join(dir, 'out')]);
  const read = (name: string): string =>
    execFileSync('python3', ['-c', `import os,sys;sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).hex())`, join(dir, 'out/f'), name], {
      encoding: 'utf8',
    });
  t.is(read('user.skiff'), Buffer.from('yes').toString('hex'));
  t.is(read('user.bin'), '000102');
});

test('paths are written verbatim, hostile ones included', (t) => {
  const lines = gnuList(
    tarArchive([
      { path: '../escape', type: 'file' },
      { path: '/abs', type: 'file' },
    ]),
  );
  t.true((lines[0] ?? '').endsWith(' ../escape'));
  t.true((lines[1] ?? '').endsWith(' /abs'));
});

test('omitEndBlocks makes a truncated archive GNU tar complains about', (t) => {
  const dir = tempDir(t);
  const whole = tarArchive([{ path: 'a', type: 'file', content: 'a' }]);
  const cut = tarArchive([{ path: 'a', type: 'file', content: 'a' }], { omitEndBlocks: true });
  t.is(whole.length - cut.length, 1024);
  const partial = cut.subarray(0, 700);
  writeFileSync(join(dir, 'cut.tar'), partial);
  const err = t.throws(() => execFileSync('tar', ['-tf', join(dir, 'cut.tar')], { stdio: 'pipe' }));
  t.regex(String((err as { stderr?: Buffer }).stderr), /Unexpected EOF/);
});

test('extracting with GNU tar as a check: modes and link targets are exact', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.tar'), tarArchive(entries.slice(0, 3)));
  mkdirSync(join(dir, 'out'));
  execFileSync('tar', ['-xpf', join(dir, 'a.tar'), '-C', join(dir, 'out')]);
  t.is(lstatSync(join(dir, 'out/dir')).mode & 0o7777, 0o1777);
  t.is(readFileSync(join(dir, 'out/dir/file'), 'utf8'), 'hello\n');
  t.is(readlinkSync(join(dir, 'out/dir/link')), '/etc/passwd');
});

/**
 * stage1's seccomp assembler (native/stage1/seccomp.c) against libseccomp (Debian
 * libseccomp-dev, .ci/install-deps): test/fixtures/seccomp-check/check.c is
 * compiled here with stage1's own seccomp sources, checks every syscall
 * number of stage1's table against libseccomp's, and runs stage1's program
 * and libseccomp's for the same rules through one BPF interpreter over every
 * syscall number, foreign arches, x32 and the argument values that matter.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';
import { tempDir } from '../support/temp-dir.js';

interface Report {
  checked: number;
  compared: number;
  newer: string[];
  mismatches: Array<{ name: string; ours: number; libseccomp: number }>;
  diffs: Array<Record<string, unknown>>;
}

test('stage1\'s filter makes the same decisions as libseccomp\'s for the same rules, with the same syscall numbers', (t) => {
  const root = packageRoot();
  const binary = join(tempDir(t, 'skiff-seccomp-check-'), 'check');
  const native = join(root, 'native', 'stage1');
  execFileSync('gcc', [
    '-O1', '-std=gnu11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-iquote', native, '-o', binary,
    join(root, 'test', 'fixtures', 'seccomp-check', 'check.c'),
    ...['seccomp.c', 'seccomp-syscalls.c', 'error.c'].map((f) => join(native, f)),
    '-lseccomp',
  ]);
  const report = JSON.parse(execFileSync(binary, { encoding: 'utf8' })) as Report;
  t.true(report.checked > 300, `${report.checked} names checked`);
  t.deepEqual(report.mismatches, [], 'every number libseccomp knows is the same');
  t.deepEqual(report.diffs, [], 'every decision is the same');
  t.true(report.compared > 100_000, `${report.compared} inputs compared`);
  t.log(`names newer than this libseccomp (numbers from the libc or native/stage1/seccomp-syscalls.c): ${report.newer.join(' ')}`);
});

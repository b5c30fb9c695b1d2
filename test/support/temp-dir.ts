/**
 * A temp dir per test (used as `--dir` and for fixtures), removed at teardown
 * even when the test fails. It refuses to delete a tree that still has
 * something mounted in it: removing through a live mount would delete what the
 * mount shows (a host dir), so a leaked mount is a test failure instead.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => mp !== undefined && (mp === dir || mp.startsWith(prefix)));
}

export function removeTree(dir: string): void {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) {
    throw new Error(`refusing to remove ${dir}: still mounted: ${mounts.join(', ')}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** Makes a temp dir and registers its removal with the test (ava's `t`). */
export function tempDir(t: Teardown, prefix = 'skiff-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => removeTree(dir));
  return dir;
}

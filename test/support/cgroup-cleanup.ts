/** Removing the cgroup parents tests and benches make for their pods, in every hierarchy. */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every cgroup (v1 and v2) mount point of this host. */
export function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4] as string);
}

/** rmdir()s a cgroup subtree bottom-up; returns the dirs that could not be removed (still busy). */
export function removeCgroupTree(path: string): string[] {
  if (!existsSync(path)) return [];
  const left: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) left.push(...removeCgroupTree(join(path, entry.name)));
  }
  try {
    rmdirSync(path);
  } catch {
    left.push(path);
  }
  return left;
}

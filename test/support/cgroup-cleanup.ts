/** Removing the cgroup parents tests and benches make for their pods, in every hierarchy. */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every cgroup mount point of this host: v1 and v2, or only the v1 hierarchies (hybrid host: cpu and cpuacct apart). */
export function cgroupMounts(which: 'all' | 'v1' = 'all'): string[] {
  const fstype = which === 'v1' ? / - cgroup / : / - cgroup2? /;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => fstype.test(l))
    .map((l) => l.split(' ')[4] as string);
}

function removeOnce(path: string): string[] {
  if (!existsSync(path)) return [];
  const left: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) left.push(...removeOnce(join(path, entry.name)));
  }
  try {
    rmdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(path);
  }
  return left;
}

/**
 * rmdir()s a cgroup subtree bottom-up; returns the dirs that could not be removed (still busy).
 * With `retry`, tries again (a dying cgroup is EBUSY for a moment) until nothing is left or
 * `timeoutMs` has passed.
 */
export function removeCgroupTree(path: string): string[];
export function removeCgroupTree(path: string, retry: { timeoutMs: number; delayMs?: number }): Promise<string[]>;
export function removeCgroupTree(path: string, retry?: { timeoutMs: number; delayMs?: number }): string[] | Promise<string[]> {
  if (retry === undefined) return removeOnce(path);
  return (async () => {
    const deadline = Date.now() + retry.timeoutMs;
    for (;;) {
      const left = removeOnce(path);
      if (left.length === 0 || Date.now() >= deadline) return left;
      await sleep(retry.delayMs ?? 20);
    }
  })();
}

/**
 * Per-process scratch space inside the store (same filesystem as blobs/ and
 * layers/, so finished work is moved into place by rename). Directories of
 * writers that died (kill -9) are removed by the next writer.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listStoreDir, type StorePaths } from './store-paths.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes scratch dirs whose owning process is gone. */
export function sweepDeadScratch(paths: StorePaths): void {
  for (const name of listStoreDir(paths.tmp)) {
    const pid = Number.parseInt(name.split('-')[0] ?? '', 10);
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) {
      rmSync(join(paths.tmp, name), { recursive: true, force: true });
    }
  }
}

/** A fresh scratch dir for this process; the caller removes or renames it. */
export function makeScratchDir(paths: StorePaths, label: string): string {
  mkdirSync(paths.tmp, { recursive: true, mode: 0o700 });
  return mkdtempSync(join(paths.tmp, `${process.pid}-${label}-`));
}

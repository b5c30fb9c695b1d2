/**
 * Run plans are a cache (run-plan.ts): one file per command line that ran.
 * `skiff gc` drops the ones that can never be replayed again (made from
 * another image index: an image was fetched, removed or collected since) and
 * keeps at most MAX_PLANS of the rest, the most recently used (the launcher
 * touches a plan each time it replays it). A plan removed by mistake costs
 * one Node start, nothing else.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { storePaths } from '../../image/store/store-paths.js';
import { fileStamp } from '../file-stamp.js';
import { decodeNulPairs } from './nul-pairs.js';

export const MAX_PLANS = 256;

export function runPlansDir(storeDir: string): string {
  return join(storeDir, 'run-plans');
}

function indexStampOf(plan: Buffer): string | undefined {
  return decodeNulPairs(plan).find(([k]) => k === 'index')?.[1];
}

/** Removes stale plans and the least recently used beyond MAX_PLANS; returns how many went. */
export function pruneRunPlans(storeDir: string, max = MAX_PLANS): number {
  const dir = runPlansDir(storeDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const current = fileStamp(storePaths(storeDir).index);
  const kept: Array<{ path: string; used: number }> = [];
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    try {
      // A writer's leftover temp file (a killed CLI) is stale too.
      if (name.startsWith('.') || indexStampOf(readFileSync(path)) !== current) {
        rmSync(path, { force: true });
        removed++;
      } else kept.push({ path, used: statSync(path).mtimeMs });
    } catch {
      // Gone meanwhile (another gc): nothing to do.
    }
  }
  kept.sort((a, b) => b.used - a.used);
  for (const { path } of kept.slice(max)) {
    rmSync(path, { force: true });
    removed++;
  }
  return removed;
}

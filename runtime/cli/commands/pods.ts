/** The pod commands that need no stage1 handoff: stop, rm, gc, cat-manifest (list and status: pod-queries.ts). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POD_FILES, podDir } from '../../pods/pod-dirs.js';
import { gcPods, removePod, stopPod } from '../../pods/pod-lifecycle.js';
import { resolvePodUuid } from '../../pods/pod-uuid.js';
import type { GlobalOptions } from '../global-options.js';
import { printResult } from '../output.js';

export async function stop(global: GlobalOptions, queries: string[], flags: { force: boolean; timeoutMs: number }): Promise<void> {
  const results = [];
  for (const q of queries) results.push(await stopPod(global.dir, q, flags));
  printResult(global.format, results, (rs) => rs.map((r) => `${r.uuid} ${r.outcome}`).join('\n'));
}

export async function rm(global: GlobalOptions, queries: string[]): Promise<void> {
  const removed = [];
  for (const q of queries) removed.push(await removePod(global.dir, q));
  printResult(global.format, removed, (rs) => rs.map((u) => `removed ${u}`).join('\n'));
}

export async function gc(global: GlobalOptions, flags: { gracePeriodMs: number; expirePreparedMs: number; markOnly: boolean }): Promise<void> {
  const result = await gcPods(global.dir, flags);
  printResult(global.format, result, (r) =>
    [...r.marked.map((u) => `marked ${u}`), ...r.deleted.map((u) => `removed ${u}`)].join('\n'),
  );
}

export function catManifest(global: GlobalOptions, query: string): void {
  const location = resolvePodUuid(global.dir, query);
  const text = readFileSync(join(podDir(global.dir, location.state, location.uuid), POD_FILES.manifest), 'utf8');
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

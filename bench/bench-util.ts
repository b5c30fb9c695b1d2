/**
 * Shared pieces of the benchmarks: timing commands, statistics, tmpfs scratch
 * space that is always unmounted, and a markdown table. Benchmarks print what
 * they measured; they never assert timings (tests don't either).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Timing {
  ms: number;
  ok: boolean;
  stderr: string;
}

export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Timing {
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, ok: r.status === 0, stderr: r.stderr ?? String(r.error) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function min(xs: number[]): number {
  return Math.min(...xs);
}

export function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** A scratch dir, on a tmpfs of its own when asked; `cleanup()` unmounts and removes it. */
export function scratch(label: string, onTmpfs: boolean, sizeMb = 4096): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(process.env['SKIFF_BENCH_DIR'] ?? tmpdir(), `skiff-bench-${label}-`));
  if (onTmpfs) execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'skiff-bench', dir]);
  return {
    dir,
    cleanup() {
      if (onTmpfs) spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function freshDir(parent: string, name: string): string {
  const dir = join(parent, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Shared pieces of the benchmarks: timing commands, statistics, tmpfs scratch
 * space that is always unmounted, and a markdown table. Benchmarks print what
 * they measured; they never assert timings (tests don't either).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Timing {
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

/** Quotes argv for hyperfine's `-N` (shell-words) parsing or for sh. */
export function shellJoin(args: string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function cpuTimes(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { idle, total: v.reduce((a, b) => a + b, 0) };
}

/**
 * Waits until the machine is idle (≥ `idleFraction` over one second) or
 * `maxWaitMs` passed; returns the last idle fraction seen and whether it was
 * quiet. The VM is shared: a busy neighbour shows up as noise in every number.
 */
export async function waitQuiet(maxWaitMs = 30_000, idleFraction = 0.9): Promise<{ quiet: boolean; idle: number }> {
  const deadline = Date.now() + maxWaitMs;
  let idle = 0;
  for (;;) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const b = cpuTimes();
    idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    if (idle >= idleFraction) return { quiet: true, idle };
    if (Date.now() > deadline) return { quiet: false, idle };
  }
}

export interface CommandStats {
  median: number;
  min: number;
  times: number[];
  tool: 'hyperfine' | 'node';
}

/**
 * Times `argv` `runs` times after `warmup` runs, with hyperfine (`-N`, no
 * shell) when installed, else with a Node spawnSync loop. Milliseconds.
 * Throws if a run fails.
 */
/** `prepare`, when given, runs (untimed) before every run of `argv`, as hyperfine's --prepare. */
export function benchCommand(argv: string[], runs: number, env: NodeJS.ProcessEnv, jsonFile: string, warmup = 3, prepare?: string[]): CommandStats {
  if (has('hyperfine')) {
    const prep = prepare === undefined ? [] : ['--prepare', shellJoin(prepare)];
    const r = spawnSync('hyperfine', ['-N', '--style', 'none', '--warmup', String(warmup), '--runs', String(runs), ...prep, '--export-json', jsonFile, shellJoin(argv)], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) throw new Error(`hyperfine: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`);
    const result = (JSON.parse(readFileSync(jsonFile, 'utf8')) as { results: Array<{ times: number[] }> }).results[0];
    const times = (result?.times ?? []).map((s) => s * 1000);
    return { median: median(times), min: min(times), times, tool: 'hyperfine' };
  }
  const [cmd, ...args] = argv as [string, ...string[]];
  const times: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    if (prepare !== undefined && !timeCommand(prepare[0] as string, prepare.slice(1), env).ok) throw new Error(`${prepare[0]} (prepare) failed`);
    const t = timeCommand(cmd, args, env);
    if (!t.ok) throw new Error(`${cmd} failed: ${t.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    if (i >= warmup) times.push(t.ms);
  }
  return { median: median(times), min: min(times), times, tool: 'node' };
}

/** Mount points of every cgroup (v1 and v2) hierarchy. */
export { cgroupMounts, removeCgroupTree } from '../test/support/cgroup-cleanup.js';

/**
 * VmRSS (from status), Pss and private (USS: Private_Clean + Private_Dirty,
 * what its exit would free) from smaps_rollup, of a process, in kB.
 */
export function processMemory(pid: number): { rssKb: number; pssKb: number; privateKb: number } {
  const field = (text: string, name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    rssKb: field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS'),
    pssKb: field(rollup, 'Pss'),
    privateKb: field(rollup, 'Private_Clean') + field(rollup, 'Private_Dirty'),
  };
}

/** podman configured only through env-selected files under `podmanDir` (reference/peers.md: no change to /etc). */
export function podmanEnv(podmanDir: string): NodeJS.ProcessEnv {
  // Only what must differ from the defaults: podman's exit command (`podman
  // container cleanup`, run by conmon) does not see CONTAINERS_CONF, so a
  // static_dir or volume_path set here would not match its defaults and the
  // cleanup fails ("database configuration mismatch"): `podman run` then hangs
  // 20 s for the exit state. Left at their defaults they live under graphroot.
  const conf = join(podmanDir, 'containers.conf');
  writeFileSync(
    conf,
    [
      '[containers]',
      // No CAP_SYS_RESOURCE here: podman's defaults (nofile 1048576) fail in setrlimit; conmon runs with NPROC 32768.
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[network]',
      `network_config_dir = "${podmanDir}/networks"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${podmanDir}/tmp"`,
      `image_copy_tmp_dir = "${podmanDir}/tmp"`,
      '',
    ].join('\n'),
  );
  const storage = join(podmanDir, 'storage.conf');
  writeFileSync(storage, `[storage]\ndriver = "overlay"\ngraphroot = "${podmanDir}/graph"\nrunroot = "${podmanDir}/run"\n`);
  return { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage, TMPDIR: join(podmanDir, 'tmp') };
}

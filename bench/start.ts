/**
 * bench/start: how fast a no-op container starts, Skiff against its peers,
 * in the same run on the same machine (issue 4, "Benchmark"):
 *
 *  - `skiff run --net=none` of the cached probe image (`--exec /probe -- exit 0`),
 *    also without the seccomp filter (`--insecure-options=seccomp`) and with a user namespace
 *    (`--private-users`, an auto range claimed per pod) to show what each costs the replayed run,
 *    through the `skiff` launcher (native/launcher: after the first run of a
 *    command line it replays the recorded plan without Node), and the same
 *    run through the Node CLI directly (what a first run of a command line costs),
 *  - `runc run` of an OCI bundle holding the same probe layer (fresh id per run),
 *  - `systemd-nspawn --register=no --keep-unit -D rootfs --quiet`,
 *  - `podman run --rm --runtime runc --network none` (podman configured only
 *    through env-selected files under the temp dir),
 *  - `crun run` if it runs here unmodified (on hybrid cgroups it does not;
 *    its workaround changes host cgroup mounts and is never applied here),
 *  - `node -e 0` as the floor.
 *
 * Then 50 pods started at once (Skiff, and runc run -d), the host-side memory
 * each running Skiff pod costs (stage1 supervisor + pod init), and where
 * Skiff's start time goes (stage0 vs stage1, and a CPU profile of stage0).
 *
 * Run as root after `npm run build`: `node dist/bench/start.js [runs]`. Each round waits for an
 * idle VM up to SKIFF_BENCH_QUIET_MS (default 60000; a shared VM may never be idle).
 * Prints a markdown report and writes it to bench/results/start-<date>.md.
 * Everything it creates (temp dirs, cgroups, bundles, podman storage,
 * containers, pods) is removed at the end, also on failure.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeRootfs, writeFixtureLayout } from '../test/support/fixture-images.js';
import { skiffLauncher } from '../test/support/skiff-cli.js';
import { tarArchive } from '../test/support/tar-writer.js';
import { mountsUnder } from '../test/support/temp-dir.js';
import { cliEntry, packageRoot } from '../runtime/install-paths.js';
import {
  benchCommand,
  cgroupMounts,
  has,
  markdownTable,
  median,
  min,
  podmanEnv,
  processMemory,
  removeCgroupTree,
  shellJoin,
  timeCommand,
  waitQuiet,
  type CommandStats,
} from './bench-util.js';

const runs = Number(process.argv[2] ?? 30);
const CONCURRENT = 50;
const RSS_PODS = 10;
const tag = `skiff-bench-${process.pid}`;
const cgroupParent = `/${tag}`;
const node = process.execPath;
// What the launcher runs on a first run of a command line: the CLI bundle (runtime/cli/build-bundle.ts).
const skiff = cliEntry();
const launcher = skiffLauncher();

/** Host paths the peers create on first use; removed at the end if they were not there before. */
const HOST_STATE = ['/run/runc', '/run/crun', '/run/containers', '/run/libpod', '/var/lib/containers', '/etc/containers/networks', '/run/systemd/nspawn'];
const hostStateBefore = new Set(HOST_STATE.filter((p) => existsSync(p)));
const libpodCgroupsBefore = new Set(cgroupMounts().filter((m) => existsSync(join(m, 'libpod_parent'))));

// Lower case: podman names an image pulled from oci:DIR after DIR, and refuses upper case.
const root = join(process.env['SKIFF_BENCH_DIR'] ?? tmpdir(), `skiff-bench-start-${process.pid}`);
mkdirSync(root, { mode: 0o755 });
const layout = join(root, 'layout');
const store = join(root, 'store');
const image = `oci:${layout}:oci`;
const bundle = join(root, 'bundle');
const nspawnRoot = join(root, 'nspawn-rootfs');
const runcRoot = join(root, 'runc-state');
const crunRoot = join(root, 'crun-state');
const podmanDir = join(root, 'podman');
const jsonDir = join(root, 'json');
const uuidFile = join(root, 'prepared-uuid');

// --net=none unless a row says otherwise: the default network would change the namespace the bench runs in.
// Every row starts from the same minimal environment: NODE_EXTRA_CA_CERTS alone adds ~50 ms to each
// Node start here (and NODE_OPTIONS whatever it loads), to Skiff's Node rows and the node floor alike.
delete process.env['NODE_EXTRA_CA_CERTS'];
delete process.env['NODE_OPTIONS'];
const skiffEnv: NodeJS.ProcessEnv = { ...process.env, SKIFF_CGROUP_PARENT: cgroupParent, SKIFF_NET: 'none' };
const children = new Set<ChildProcess>();
const runcIds = new Set<string>();
const notes: string[] = [];
const problems: string[] = [];

/** How long to wait for an idle VM before a measurement: at most SKIFF_BENCH_QUIET_MS when set (a shared VM may never be idle). */
function quietMs(usual: number): number {
  const cap = Number(process.env['SKIFF_BENCH_QUIET_MS']);
  return Number.isFinite(cap) && cap >= 0 ? Math.min(cap, usual) : usual;
}

function log(msg: string): void {
  process.stderr.write(`[start] ${msg}\n`);
}

function skiffArgs(...args: string[]): string[] {
  return [skiff, '--dir', store, ...args];
}

function runSync(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error) };
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? '';
}

interface PodJson {
  uuid: string;
  state: string;
  pid?: number;
  started?: string;
  apps: Array<{ exit?: { code: number | null; finished?: string } }>;
}

function listPods(): PodJson[] {
  const r = runSync(node, skiffArgs('--format', 'json', 'list'), skiffEnv);
  if (r.code !== 0) throw new Error(`skiff list: ${lastLine(r.stderr)}`);
  return JSON.parse(r.stdout || '[]') as PodJson[];
}

async function listPodsAsync(): Promise<PodJson[]> {
  const child = spawn(node, skiffArgs('--format', 'json', 'list'), { env: skiffEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  return JSON.parse(out || '[]') as PodJson[];
}

function gcPods(): void {
  runSync(node, skiffArgs('gc', '--grace-period=0', '--expire-prepared=0'), skiffEnv);
}

// ---------------------------------------------------------------- setup

function runcConfig(args: string[]): Record<string, unknown> {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Record<string, any>;
  spec['process'].args = args;
  spec['process'].terminal = false;
  return spec;
}

async function setup(): Promise<{ podman: NodeJS.ProcessEnv | undefined; podmanImage: string | undefined }> {
  mkdirSync(jsonDir);
  log(`temp dir ${root}; building the probe image`);
  await writeFixtureLayout(layout);
  const fetched = runSync(node, skiffArgs('fetch', '--quiet', image), skiffEnv);
  if (fetched.code !== 0) throw new Error(`skiff fetch ${image}: ${fetched.stderr}`);

  // The same probe layer, extracted for runc/crun (bundle) and nspawn (own copy: nspawn may write to it).
  const tar = tarArchive(await probeRootfs());
  for (const dir of [join(bundle, 'rootfs'), nspawnRoot]) {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xpf', '-', '-C', dir], { input: tar });
  }
  if (has('runc')) {
    execFileSync('runc', ['spec'], { cwd: bundle });
    const spec = runcConfig(['/probe', 'exit', '0']);
    const ns = ((spec['linux'] as { namespaces: Array<{ type: string }> }).namespaces ?? []).map((n) => n.type).sort();
    if (ns.join(',') !== 'ipc,mount,network,pid,uts') notes.push(`runc spec namespaces: ${ns.join(',')}`);
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
    // A second bundle for `runc run -d … sleep 2`, sharing the (read-only) rootfs.
    const sleepBundle = join(root, 'bundle-sleep');
    mkdirSync(sleepBundle);
    const sleepSpec = runcConfig(['/probe', 'sleep', '2']);
    (sleepSpec['root'] as { path: string }).path = join(bundle, 'rootfs');
    writeFileSync(join(sleepBundle, 'config.json'), JSON.stringify(sleepSpec, null, 2));
  }

  let podman: NodeJS.ProcessEnv | undefined;
  let podmanImage: string | undefined;
  if (has('podman')) {
    mkdirSync(join(podmanDir, 'tmp'), { recursive: true });
    podman = podmanEnv(podmanDir);
    const pulled = runSync('podman', ['pull', '-q', image], podman);
    if (pulled.code !== 0) problems.push(`podman pull ${image}: ${lastLine(pulled.stderr)}`);
    else podmanImage = lastLine(pulled.stdout).slice(0, 12);
  }
  return { podman, podmanImage };
}

// ---------------------------------------------------------------- start latency

interface Row {
  name: string;
  command: string;
  argv: string[];
  /** Run untimed before each timed run (hyperfine --prepare). */
  prepare?: string[];
  env: NodeJS.ProcessEnv;
  times: number[];
  tool?: CommandStats['tool'];
  failure?: string;
  /** Lowest idle fraction seen by the quiet gate before its rounds. */
  minIdle: number;
}

function displayCommand(argv: string[]): string {
  const text = shellJoin(argv).split(`${node} ${skiff}`).join('node skiff.cjs').split(launcher).join('skiff');
  return text.split(root).join('$T');
}

function candidate(name: string, argv: string[], env: NodeJS.ProcessEnv, available = true, prepare?: string[]): Row {
  const row: Row = { name, command: displayCommand(argv), argv, env, times: [], minIdle: 1, ...(prepare === undefined ? {} : { prepare }) };
  if (!available) return { ...row, failure: 'not installed' };
  // One checked run first, so that a runtime that cannot run here is reported with its error.
  if (prepare !== undefined) runSync(prepare[0] as string, prepare.slice(1), env);
  const check = runSync(argv[0] as string, argv.slice(1), env);
  if (check.code !== 0) row.failure = `does not run unmodified here: rc ${check.code}, "${lastLine(check.stderr)}"`;
  return row;
}

/**
 * Times every runtime in rounds (each a hyperfine run of runs/rounds after 3
 * warm-ups), the runtimes interleaved, so that a busy neighbour on the shared
 * VM spreads over all of them instead of landing on one. Each round waits for
 * the VM to be quiet first (up to a minute).
 */
async function measureAll(rows: Row[]): Promise<void> {
  const rounds = runs >= 9 ? 3 : 1;
  const sizes = Array.from({ length: rounds }, (_, r) => Math.floor(runs / rounds) + (r < runs % rounds ? 1 : 0));
  for (let r = 0; r < rounds; r++) {
    for (const row of rows) {
      if (row.failure !== undefined) continue;
      const q = await waitQuiet(quietMs(60_000));
      row.minIdle = Math.min(row.minIdle, q.idle);
      try {
        const stats = benchCommand(row.argv, sizes[r] as number, row.env, join(jsonDir, `${row.name.replace(/\W+/g, '_')}-${r}.json`), 3, row.prepare);
        row.times.push(...stats.times);
        row.tool = stats.tool;
        log(`${row.name} round ${r + 1}/${rounds}: median ${stats.median.toFixed(1)} ms (idle before: ${(q.idle * 100).toFixed(0)}%)`);
      } catch (err) {
        row.failure = (err as Error).message.slice(0, 200);
      }
      if (row.name.startsWith('skiff')) gcPods();
    }
  }
}

/**
 * Issue 10's deltas (seccomp filter, --private-users) are a millisecond or two on a ~10 ms run: on a
 * shared VM a neighbour's burst during one row's round swamps them. So the three replayed runs are
 * also timed in turns, run by run (rotating which goes first), and each delta is the median of the
 * paired differences of a turn, next to the difference of the minimums.
 */
function pairedDeltas(rows: Row[], turns: number): string[] {
  const base = rows.find((r) => r.name === 'skiff');
  const noFilter = rows.find((r) => r.name.startsWith('skiff, no seccomp'));
  const userns = rows.find((r) => r.name === 'skiff --private-users');
  const three = [base, noFilter, userns];
  if (three.some((r) => r === undefined || r.failure !== undefined)) return ['- paired deltas: not measured (a row failed)'];
  const times: number[][] = [[], [], []];
  for (let i = 0; i < turns; i++) {
    for (let k = 0; k < 3; k++) {
      const j = (i + k) % 3;
      const row = three[j] as Row;
      const t = timeCommand(row.argv[0] as string, row.argv.slice(1), row.env);
      if (!t.ok) return [`- paired deltas: ${row.name} failed: ${lastLine(t.stderr)}`];
      (times[j] as number[]).push(t.ms);
    }
    if (i % 10 === 9) gcPods();
  }
  const [b, n, u] = times as [number[], number[], number[]];
  const diffs = (x: number[], y: number[]) => x.map((v, i) => v - (y[i] as number));
  const line = (what: string, x: number[], y: number[], limit: number): string => {
    const d = median(diffs(x, y));
    const m = min(x) - min(y);
    return `- ${what}: median of ${turns} paired differences ${d.toFixed(2)} ms, difference of the minimums ${m.toFixed(2)} ms (goal ≤ ${limit} ms: ${d <= limit ? 'met' : 'NOT met'} by the paired median)`;
  };
  return [
    `- ${turns} turns of the three replayed runs, one after the other (spawnSync each; medians ${median(b).toFixed(1)} / ${median(n).toFixed(1)} / ${median(u).toFixed(1)} ms, minimums ${min(b).toFixed(1)} / ${min(n).toFixed(1)} / ${min(u).toFixed(1)} ms for default / no filter / --private-users)`,
    line('the seccomp filter (default − --insecure-options=seccomp)', b, n, 1),
    line('--private-users (with − without)', u, b, 3),
  ];
}

function runcIdCommand(runtime: string, stateRoot: string, bundleDir: string): string[] {
  // A fresh container id per run: $$ of the (dash) wrapper, which then execs the runtime.
  return ['sh', '-c', `exec ${runtime} --root ${stateRoot} run --bundle ${bundleDir} ${tag}-$$`];
}

// ---------------------------------------------------------------- concurrency

interface Concurrency {
  what: string;
  allRunningMs?: number;
  allRunningHow: string;
  allExitedMs?: number;
  failures: number;
  detail: string;
}

function spawnTracked(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<{ code: number | null; at: number; stderr: string }> } {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; at: number; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code: code ?? (signal === null ? null : -1), at: performance.now(), stderr });
    }),
  );
  return { child, exited };
}

async function skiffConcurrent(): Promise<Concurrency> {
  gcPods();
  await waitQuiet(quietMs(30_000));
  log(`skiff: ${CONCURRENT} pods at once`);
  const podArgs = skiffArgs('run', '--net=none', image, '--exec', '/probe', '--', 'sleep', '2').slice(1);
  // One run first records the plan the 50 then replay (as a unit started again and again would).
  runSync(launcher, podArgs, skiffEnv);
  gcPods();
  const before = new Set(listPods().map((p) => p.uuid));
  const t0Wall = Date.now();
  const t0 = performance.now();
  const started = Array.from({ length: CONCURRENT }, () => spawnTracked(launcher, podArgs, skiffEnv));
  let allExited = false;
  const exits = Promise.all(started.map((s) => s.exited)).then((r) => {
    allExited = true;
    return r;
  });
  // Poll `skiff list` (each poll is itself a Node process competing for the 2 cores).
  let maxRunning = 0;
  let pollAllRunning: number | undefined;
  let polls = 0;
  while (!allExited) {
    const pods = (await listPodsAsync()).filter((p) => !before.has(p.uuid));
    polls++;
    const running = pods.filter((p) => p.state === 'running' && p.pid !== undefined).length;
    maxRunning = Math.max(maxRunning, running);
    if (running === CONCURRENT && pollAllRunning === undefined) pollAllRunning = performance.now() - t0;
    await sleep(50);
  }
  const results = await exits;
  const allExitedMs = Math.max(...results.map((r) => r.at)) - t0;
  const failures = results.filter((r) => r.code !== 0);
  // stage1 records when each pod started running: the last of those is when all had started.
  const pods = listPods().filter((p) => !before.has(p.uuid));
  const startedAt = pods.map((p) => (p.started === undefined ? NaN : Date.parse(p.started) - t0Wall)).filter((x) => !Number.isNaN(x));
  const lastStart = startedAt.length === CONCURRENT ? Math.max(...startedAt) : undefined;
  const firstStart = startedAt.length > 0 ? Math.min(...startedAt) : undefined;
  gcPods();
  return {
    what: `skiff run --net=none … /probe sleep 2 (×${CONCURRENT})`,
    ...(lastStart === undefined ? {} : { allRunningMs: lastStart }),
    allRunningHow: `last pod's stage1 \`started\` stamp (first at ${firstStart?.toFixed(0)} ms); polling \`skiff list\` (${polls} polls) saw ${pollAllRunning === undefined ? `at most ${maxRunning} running at once` : `all ${CONCURRENT} running at ${pollAllRunning.toFixed(0)} ms`}`,
    allExitedMs,
    failures: failures.length,
    detail: failures.length > 0 ? `first failure: ${lastLine(failures[0]?.stderr ?? '')}` : '',
  };
}

function runcList(): Array<{ id: string; status: string }> {
  const r = runSync('runc', ['--root', runcRoot, 'list', '--format', 'json']);
  return (JSON.parse(r.stdout.trim() || 'null') as Array<{ id: string; status: string }> | null) ?? [];
}

async function runcConcurrent(): Promise<Concurrency> {
  await waitQuiet(quietMs(30_000));
  log(`runc: ${CONCURRENT} containers at once (run -d)`);
  const t0 = performance.now();
  const ids = Array.from({ length: CONCURRENT }, (_, i) => `${tag}-cc-${i}`);
  ids.forEach((id) => runcIds.add(id));
  const results = await Promise.all(ids.map((id) => spawnTracked('runc', ['--root', runcRoot, 'run', '-d', '--bundle', join(root, 'bundle-sleep'), id], process.env).exited));
  const allRunningMs = Math.max(...results.map((r) => r.at)) - t0;
  const failures = results.filter((r) => r.code !== 0);
  let allExitedMs: number | undefined;
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const list = runcList().filter((c) => runcIds.has(c.id));
    if (list.every((c) => c.status === 'stopped')) {
      allExitedMs = performance.now() - t0;
      break;
    }
    await sleep(20);
  }
  for (const id of ids) runSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
  return {
    what: `runc run -d … /probe sleep 2 (×${CONCURRENT}), then poll \`runc list\``,
    allRunningMs,
    allRunningHow: 'all `runc run -d` returned (each returns once its container started)',
    ...(allExitedMs === undefined ? {} : { allExitedMs }),
    failures: failures.length,
    detail: failures.length > 0 ? `first failure: ${lastLine(failures[0]?.stderr ?? '')}` : '',
  };
}

// ---------------------------------------------------------------- memory

type Memory = ReturnType<typeof processMemory>;

interface PodMemory {
  supervisor: Memory;
  init: Memory;
  app: Memory | undefined;
}

async function skiffMemory(): Promise<{ pods: PodMemory[]; problems: string[] }> {
  gcPods();
  log(`memory: ${RSS_PODS} pods running /probe sleep 30`);
  const issues: string[] = [];
  const before = new Set(listPods().map((p) => p.uuid));
  const started = Array.from({ length: RSS_PODS }, () =>
    spawnTracked(launcher, skiffArgs('run', '--net=none', image, '--exec', '/probe', '--', 'sleep', '30').slice(1), skiffEnv),
  );
  const ourPids = new Set(started.map((s) => s.child.pid));
  let pods: PodJson[] = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    pods = listPods().filter((p) => !before.has(p.uuid) && p.state === 'running' && p.pid !== undefined);
    if (pods.length === RSS_PODS || Date.now() > deadline) break;
    await sleep(100);
  }
  if (pods.length < RSS_PODS) issues.push(`only ${pods.length} of ${RSS_PODS} pods running after 30 s`);
  await sleep(500); // let the apps settle into their sleep
  const result: PodMemory[] = [];
  for (const pod of pods) {
    const init = pod.pid as number;
    const sup = Number(readFileSync(`/proc/${init}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    const exe = readlinkSync(`/proc/${sup}/exe`);
    if (!ourPids.has(sup)) issues.push(`pod ${pod.uuid}: init ${init}'s parent ${sup} is not a \`skiff run\` we started`);
    if (!exe.endsWith('/skiff-stage1')) issues.push(`pod ${pod.uuid}: supervisor ${sup} runs ${exe}, not skiff-stage1`);
    const appPid = Number(readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0]);
    result.push({ supervisor: processMemory(sup), init: processMemory(init), app: appPid > 0 ? processMemory(appPid) : undefined });
  }
  const uuids = pods.map((p) => p.uuid);
  const stop = runSync(node, skiffArgs('stop', '--force', ...uuids), skiffEnv);
  if (stop.code !== 0) issues.push(`skiff stop --force: ${lastLine(stop.stderr)}`);
  await Promise.race([Promise.all(started.map((s) => s.exited)), sleep(20_000)]);
  gcPods();
  return { pods: result, problems: issues };
}

// ---------------------------------------------------------------- breakdown

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decoded source maps of dist/ files: per generated line, [generated column, source index, source line] segments. */
const sourceMaps = new Map<string, { sources: string[]; lines: Array<Array<[number, number, number]>> } | null>();

function sourceMapOf(file: string): { sources: string[]; lines: Array<Array<[number, number, number]>> } | null {
  if (sourceMaps.has(file)) return sourceMaps.get(file) ?? null;
  let map: { sources: string[]; lines: Array<Array<[number, number, number]>> } | null = null;
  try {
    const raw = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[]; mappings: string };
    const lines: Array<Array<[number, number, number]>> = [];
    let src = 0;
    let srcLine = 0;
    let srcCol = 0;
    let name = 0;
    for (const line of raw.mappings.split(';')) {
      const segs: Array<[number, number, number]> = [];
      let col = 0;
      for (const seg of line.split(',')) {
        if (seg === '') continue;
        const fields: number[] = [];
        let value = 0;
        let shift = 0;
        for (const ch of seg) {
          const digit = B64.indexOf(ch);
          value += (digit & 31) << shift;
          if (digit & 32) shift += 5;
          else {
            fields.push(value & 1 ? -(value >> 1) : value >> 1);
            value = 0;
            shift = 0;
          }
        }
        col += fields[0] ?? 0;
        if (fields.length >= 4) {
          src += fields[1] as number;
          srcLine += fields[2] as number;
          srcCol += fields[3] as number;
          if (fields.length >= 5) name += fields[4] as number;
          segs.push([col, src, srcLine]);
        }
      }
      lines.push(segs);
    }
    map = { sources: raw.sources.map((s) => join(file, '..', s)), lines };
  } catch {
    map = null;
  }
  sourceMaps.set(file, map);
  return map;
}

/** `file:line` of a frame, mapped back to the TypeScript source for Skiff's own dist/ files. */
function frameLocation(url: string, line: number, column: number): string {
  const short = shortUrl(url);
  if (!short.startsWith('dist/')) return `${short}:${line + 1}`;
  const file = url.replace(/^file:\/\//, '');
  const map = sourceMapOf(file);
  const segs = map?.lines[line];
  if (map === null) return `${short}:${line + 1}`;
  if (segs === undefined || segs.length === 0) return `${(map.sources[0] ?? file).replace(`${packageRoot()}/`, '')}:${line === 0 ? 1 : `~${line + 1}(js)`}`;
  let best = segs[0] as [number, number, number];
  for (const seg of segs) if (seg[0] <= column) best = seg;
  return `${(map.sources[best[1]] ?? file).replace(`${packageRoot()}/`, '')}:${best[2] + 1}`;
}

function frameName(cf: ProfileNode['callFrame']): string {
  if (cf.functionName !== '') return cf.functionName;
  return cf.lineNumber === 0 && cf.columnNumber === 0 ? '(module top level)' : '(anonymous)';
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const pkg = packageRoot();
  return url.replace(`file://${pkg}/`, '').replace(/^file:\/\/.*\/node_modules\//, 'node_modules/');
}

function group(url: string): string {
  const u = shortUrl(url);
  if (u.startsWith('node:internal/modules/')) return 'node module loader (node:internal/modules/*)';
  if (u.startsWith('node:')) return 'node internals (other node:*)';
  if (u.startsWith('node_modules/')) return `npm ${u.split('/').slice(1, u.split('/')[1]?.startsWith('@') ? 3 : 2).join('/')}`;
  if (u.startsWith('dist/')) return `skiff ${u.split('/').slice(1, 3).join('/')}`;
  return u;
}

/** Self time by group and function, and inclusive time of Skiff's own functions, in ms. */
/** The package a frame belongs to: a public builtin (node:crypto) or an npm package; undefined for Skiff and node internals. */
function packageOf(url: string): string | undefined {
  if (url.startsWith('node:') && !url.startsWith('node:internal/')) return url;
  const u = shortUrl(url);
  return u.startsWith('node_modules/') ? group(url) : undefined;
}

function analyseProfile(profile: CpuProfile): {
  total: number;
  byGroup: Map<string, number>;
  selfFn: Map<string, number>;
  inclusiveFn: Map<string, number>;
  inclusivePkg: Map<string, number>;
  moduleLoad: number;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byGroup = new Map<string, number>();
  const selfFn = new Map<string, number>();
  const inclusiveFn = new Map<string, number>();
  const inclusivePkg = new Map<string, number>();
  let moduleLoad = 0;
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined) continue;
    const f = node.callFrame;
    const name = frameName(f);
    add(byGroup, f.url === '' ? name : group(f.url), ms);
    add(selfFn, f.url === '' ? `${name} (native)` : `${name} ${frameLocation(f.url, f.lineNumber, f.columnNumber)}`, ms);
    const seen = new Set<string>();
    let inLoader = false;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = (byId.get(id) as ProfileNode).callFrame;
      if (shortUrl(cf.url).startsWith('node:internal/modules/')) inLoader = true;
      const pkg = packageOf(cf.url);
      if (pkg !== undefined && !seen.has(pkg)) {
        add(inclusivePkg, pkg, ms);
        seen.add(pkg);
      }
      if (shortUrl(cf.url).startsWith('dist/')) {
        const key = `${frameName(cf)} ${frameLocation(cf.url, cf.lineNumber, cf.columnNumber)}`;
        if (!seen.has(key)) add(inclusiveFn, key, ms);
        seen.add(key);
      }
    }
    if (inLoader) moduleLoad += ms;
  }
  return { total: (profile.endTime - profile.startTime) / 1000, byGroup, selfFn, inclusiveFn, inclusivePkg, moduleLoad };
}

function top(m: Map<string, number>, n: number): Array<[string, number]> {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

async function breakdown(): Promise<string[]> {
  const out: string[] = [];
  await waitQuiet(quietMs(30_000));
  const version = benchCommand([node, skiff, 'version'], runs, skiffEnv, join(jsonDir, 'version.json'));
  out.push(`- \`skiff version\` (Node start + CLI, no pod code): median ${version.median.toFixed(1)} ms, min ${version.min.toFixed(1)} ms`);

  // stage0 (Node) vs stage1 (C): stage1 is reached through a stamp program that
  // records CLOCK_MONOTONIC (the clock of process.hrtime) and execs the real stage1.
  const stampFile = join(root, 'stamps');
  const stampExe = join(root, 'stamp-exec');
  const realStage1 = join(packageRoot(), 'native', 'build', 'skiff-stage1');
  writeFileSync(
    `${stampExe}.c`,
    `#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\nint main(int argc, char **argv) { struct timespec ts; (void)argc;\n` +
      `clock_gettime(CLOCK_MONOTONIC, &ts); FILE *f = fopen("${stampFile}", "a"); if (f) { fprintf(f, "%lld\\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec); fclose(f); }\n` +
      `execv("${realStage1}", argv); perror("execv"); return 127; }\n`,
  );
  execFileSync('gcc', ['-O2', '-static', '-o', stampExe, `${stampExe}.c`]);
  const runArgs = skiffArgs('run', '--net=none', image, '--exec', '/probe', '--', 'exit', '0');
  const split = async (what: string, argv: string[]): Promise<string> => {
    const stage0: number[] = [];
    const stage1: number[] = [];
    await waitQuiet(quietMs(60_000));
    for (let i = 0; i < 15; i++) {
      rmSync(stampFile, { force: true });
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0] as string, argv.slice(1), { env: { ...skiffEnv, SKIFF_STAGE1: stampExe }, stdio: 'ignore' });
      const t1 = process.hrtime.bigint();
      if (r.status !== 0) throw new Error(`${what} through the stamp program failed`);
      const stamp = BigInt(readFileSync(stampFile, 'utf8').trim());
      if (i < 3) continue; // warm-up (the launcher's first run records its plan)
      stage0.push(Number(stamp - t0) / 1e6);
      stage1.push(Number(t1 - stamp) / 1e6);
    }
    gcPods();
    return (
      `- ${what} split at the execve into stage1 (12 runs): stage0 (spawn → exec of stage1) median ${median(stage0).toFixed(1)} ms ` +
      `(min ${min(stage0).toFixed(1)}); stage1 (namespaces, rootfs, app, teardown, exit) median ${median(stage1).toFixed(1)} ms (min ${min(stage1).toFixed(1)})`
    );
  };
  out.push(await split('`skiff run` (launcher, plan replayed)', [launcher, ...runArgs.slice(1)]));
  out.push(await split('`node skiff.cjs run` (Node CLI, bundled)', [node, ...runArgs]));

  // A CPU profile of stage0. execve() ends the process without writing the profile,
  // so stage1 is pointed at a missing file: stage0 runs in full, then fails at the exec.
  const profDir = join(root, 'prof');
  const profiles: CpuProfile[] = [];
  const wall: number[] = [];
  const bootstrap: number[] = [];
  for (let i = 0; i < 6; i++) {
    await waitQuiet(quietMs(20_000));
    const t0 = process.hrtime.bigint();
    spawnSync(node, ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '100', ...runArgs], {
      env: { ...skiffEnv, SKIFF_STAGE1: join(root, 'no-such-stage1') },
      stdio: 'ignore',
    });
    const t1 = process.hrtime.bigint();
    if (i === 0) continue; // warm-up
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    const profile = JSON.parse(readFileSync(join(profDir, files[0] as string), 'utf8')) as CpuProfile;
    rmSync(profDir, { recursive: true, force: true });
    profiles.push(profile);
    wall.push(Number(t1 - t0) / 1e6);
    bootstrap.push(profile.startTime / 1000 - Number(t0) / 1e6);
  }
  gcPods();
  const merged = profiles.map(analyseProfile);
  const avg = (f: (a: ReturnType<typeof analyseProfile>) => number): number => merged.reduce((s, a) => s + f(a), 0) / merged.length;
  const sumMaps = (f: (a: ReturnType<typeof analyseProfile>) => Map<string, number>): Map<string, number> => {
    const m = new Map<string, number>();
    for (const a of merged) for (const [k, v] of f(a)) m.set(k, (m.get(k) ?? 0) + v / merged.length);
    return m;
  };
  out.push(
    `- CPU profile of stage0 (\`--cpu-prof\`, 100 µs sampling, mean of ${merged.length} runs that stop at the execve): wall ${median(wall).toFixed(1)} ms; ` +
      `${median(bootstrap).toFixed(1)} ms pass before the profiler starts (Node bootstrap), ${avg((a) => a.total).toFixed(1)} ms profiled, ` +
      `of which ${avg((a) => a.moduleLoad).toFixed(1)} ms under the ES module loader (resolve, read, compile, evaluate, incl. top-level code such as koffi.load)`,
  );
  out.push('- Self time by group (ms): ' + top(sumMaps((a) => a.byGroup), 12).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('; '));
  out.push('- Top functions by self time (ms): ' + top(sumMaps((a) => a.selfFn), 12).map(([k, v]) => `\`${k}\` ${v.toFixed(1)}`).join('; '));
  out.push('- Packages by inclusive time (loading and use, ms): ' + top(sumMaps((a) => a.inclusivePkg), 8).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('; '));
  out.push('- Skiff code by inclusive time (ms): ' + top(sumMaps((a) => a.inclusiveFn), 14).map(([k, v]) => `\`${k}\` ${v.toFixed(1)}`).join('; '));
  return out;
}

// ---------------------------------------------------------------- cleanup

let cleanedUp = false;
function cleanup(): string[] {
  if (cleanedUp) return [];
  cleanedUp = true;
  const left: string[] = [];
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (existsSync(store)) {
    spawnSync('sleep', ['0.2']);
    gcPods();
    const pods = existsSync(join(store, 'pods')) ? listPods() : [];
    if (pods.length > 0) left.push(`${pods.length} pods still listed after gc: ${pods.map((p) => `${p.uuid.slice(0, 8)} ${p.state}`).join(', ')}`);
  }
  if (has('runc')) {
    for (const id of runcIds) runSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
    if (existsSync(runcRoot)) {
      const list = runcList();
      if (list.length > 0) left.push(`runc containers left: ${list.map((c) => c.id).join(', ')}`);
    }
  }
  const podmanConf = join(podmanDir, 'containers.conf');
  if (existsSync(podmanConf)) {
    const env = podmanEnv(podmanDir);
    runSync('podman', ['rm', '-a', '-f'], env);
    runSync('podman', ['rmi', '-a', '-f'], env);
  }
  // Cgroups: Skiff's parent, runc's per-container dirs, podman's conmon parent.
  for (const mount of cgroupMounts()) {
    left.push(...removeCgroupTree(join(mount, cgroupParent)));
    if (existsSync(mount)) {
      for (const d of readdirSync(mount)) if (d.startsWith(`${tag}-`)) left.push(...removeCgroupTree(join(mount, d)));
    }
    if (!libpodCgroupsBefore.has(mount)) left.push(...removeCgroupTree(join(mount, 'libpod_parent')));
  }
  // Host state dirs the peers created on first use (they were not there before this run).
  for (const path of HOST_STATE) {
    if (hostStateBefore.has(path) || !existsSync(path)) continue;
    if (mountsUnder(path).length > 0 || readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${path} `)) {
      left.push(`${path}: still mounted, kept`);
    } else if (path === '/run/runc' || path === '/run/crun') {
      try {
        rmdirSync(path);
      } catch {
        left.push(`${path}: not empty, kept`);
      }
    } else {
      rmSync(path, { recursive: true, force: true });
    }
  }
  const mounts = mountsUnder(root);
  for (const m of mounts.reverse()) spawnSync('umount', [m], { stdio: 'ignore' });
  if (mounts.length > 0) left.push(`mounted under the temp dir (unmounted now): ${mounts.join(', ')}`);
  if (mountsUnder(root).length === 0) rmSync(root, { recursive: true, force: true });
  else left.push(`${root}: still mounted, kept`);
  return left;
}

// ---------------------------------------------------------------- main

function versions(): string {
  const v = (cmd: string, args: string[]): string => lastLine(runSync(cmd, args).stdout.split('\n').slice(0, 1).join('')) || 'n/a';
  return [
    `runc ${has('runc') ? v('runc', ['--version']).replace(/^runc version /, '') : 'n/a'}`,
    `crun ${has('crun') ? v('crun', ['--version']).replace(/^crun version /, '') : 'n/a'}`,
    `podman ${has('podman') ? v('podman', ['--version']).replace(/^podman version /, '') : 'n/a'}`,
    `${has('systemd-nspawn') ? v('systemd-nspawn', ['--version']).split(' (')[0] : 'systemd-nspawn n/a'}`,
    `hyperfine ${has('hyperfine') ? v('hyperfine', ['--version']).replace(/^hyperfine /, '') : 'n/a (Node timing loop)'}`,
    `node ${process.version}`,
  ].join(', ');
}

async function main(): Promise<void> {
  const report: string[] = [];
  const date = new Date().toISOString().slice(0, 10);
  try {
    const { podman, podmanImage } = await setup();
    const rows: Row[] = [
      candidate('skiff', [launcher, ...skiffArgs('run', '--net=none', image, '--exec', '/probe', '--', 'exit', '0').slice(1)], skiffEnv),
      // What the default seccomp filter costs a replayed run: the same run without it.
      candidate('skiff, no seccomp filter (--insecure-options=seccomp)', [launcher, ...skiffArgs('--insecure-options=seccomp', 'run', '--net=none', image, '--exec', '/probe', '--', 'exit', '0').slice(1)], skiffEnv),
      // What a user namespace costs it (issue 10): the same run with --private-users (claim, helper, maps, idmapped layer).
      candidate('skiff --private-users', [launcher, ...skiffArgs('run', '--net=none', '--private-users', image, '--exec', '/probe', '--', 'exit', '0').slice(1)], skiffEnv),
      candidate(
        'skiff run-prepared (replayed)',
        ['sh', '-c', `read u < ${uuidFile}; exec ${launcher} --dir ${store} run-prepared "$u"`],
        skiffEnv,
        true,
        [launcher, ...skiffArgs('prepare', '--uuid-file-save', uuidFile, '--net=none', image, '--exec', '/probe', '--', 'exit', '0').slice(1)],
      ),
      candidate('skiff, Node CLI (a first run)', [node, ...skiffArgs('run', '--net=none', image, '--exec', '/probe', '--', 'exit', '0')], skiffEnv),
      candidate('runc', runcIdCommand('runc', runcRoot, bundle), process.env, has('runc')),
      candidate('crun', runcIdCommand('crun', crunRoot, bundle), process.env, has('crun')),
      candidate('systemd-nspawn', ['systemd-nspawn', '--register=no', '--keep-unit', '-D', nspawnRoot, '--quiet', '/probe', 'exit', '0'], process.env, has('systemd-nspawn')),
      podman !== undefined && podmanImage !== undefined
        ? candidate('podman (runc)', ['podman', 'run', '--rm', '--runtime', 'runc', '--network', 'none', '--cgroup-parent', `${cgroupParent}/podman`, podmanImage, '/probe', 'exit', '0'], podman)
        : { name: 'podman (runc)', command: 'podman run --rm --runtime runc --network none …', argv: [], env: {}, times: [], minIdle: 1, failure: podman === undefined ? 'not installed' : 'image not loaded' },
      candidate('node -e 0 (floor)', [node, '-e', '0'], process.env),
    ];
    await measureAll(rows);
    for (const row of rows) {
      if (row.failure === undefined && row.minIdle < 0.9) notes.push(`${row.name}: at least one round started on a busy VM (idle ${(row.minIdle * 100).toFixed(0)}% over the second before)`);
    }
    if (podman !== undefined && podmanImage !== undefined) {
      const ps = runSync('podman', ['ps', '-a', '-q'], podman).stdout.trim();
      if (ps !== '') problems.push(`podman containers left after --rm: ${ps.split('\n').length}`);
    }
    const left = has('runc') ? runcList() : [];
    notes.push(
      `runc run: ${left.length === 0 ? 'no container state left after the runs (`runc run` deletes its container on exit; `runc delete -f` not needed)' : `${left.length} containers left in state: delete needed`}` +
        `; cgroup dirs left: ${cgroupMounts().filter((m) => existsSync(m) && readdirSync(m).some((d) => d.startsWith(`${tag}-`))).length === 0 ? 'none' : 'some (removed at the end)'}`,
    );
    const wrapper = benchCommand(['sh', '-c', 'exec /bin/true'], runs, process.env, join(jsonDir, 'sh.json'));
    notes.push(`runc/crun run through \`sh -c 'exec … id-$$'\` for a fresh id per run; that wrapper costs ${wrapper.median.toFixed(1)} ms (median of \`sh -c 'exec /bin/true'\`), not subtracted`);
    gcPods();

    const med = (r: Row | undefined): number | undefined => (r === undefined || r.failure !== undefined || r.times.length === 0 ? undefined : median(r.times));
    const skiffMed = med(rows[0]);
    const table = markdownTable(
      ['runtime', 'command', 'median ms', 'min ms', 'skiff ÷ this'],
      rows.map((r) => {
        const m = med(r);
        return m === undefined
          ? [r.name, `\`${r.command}\``, r.failure ?? 'no data', '', '']
          : [r.name, `\`${r.command}\``, m.toFixed(1), min(r.times).toFixed(1), skiffMed === undefined ? '' : `${(skiffMed / m).toFixed(2)}×`];
      }),
    );
    const ratio = (name: string): number | undefined => {
      const m = med(rows.find((r) => r.name === name));
      return m === undefined || skiffMed === undefined ? undefined : skiffMed / m;
    };
    const goal = (name: string, limit: number): string => {
      const r = ratio(name);
      return r === undefined ? `${name}: not measured` : `skiff = ${r.toFixed(2)}× ${name} (goal ≤ ${limit.toFixed(1)}×: ${r <= limit ? 'met' : 'NOT met'})`;
    };

    /** What `with` adds over `without` (medians), against a goal in ms. */
    const delta = (what: string, withIt: Row | undefined, without: Row | undefined, limit: number): string => {
      const a = med(withIt);
      const b = med(without);
      if (a === undefined || b === undefined) return `${what}: not measured`;
      const d = a - b;
      return `${what} adds ${d.toFixed(1)} ms (goal ≤ ${limit} ms: ${d <= limit ? 'met' : 'NOT met'})`;
    };
    // More turns settle a millisecond against the machine's noise (SKIFF_BENCH_PAIRED_TURNS; each turn is three ~15 ms runs).
    const paired = pairedDeltas(rows, Number(process.env['SKIFF_BENCH_PAIRED_TURNS'] ?? Math.max(30, runs * 2)));
    const concurrency: Concurrency[] = [await skiffConcurrent()];
    if (has('runc')) concurrency.push(await runcConcurrent());
    const mem = await skiffMemory();
    problems.push(...mem.problems);
    const breakdownLines = await breakdown();

    const perPod: Memory[] = mem.pods.map((p) => ({
      rssKb: p.supervisor.rssKb + p.init.rssKb,
      pssKb: p.supervisor.pssKb + p.init.pssKb,
      privateKb: p.supervisor.privateKb + p.init.privateKb,
    }));
    const stat = (xs: number[]): string => (xs.length === 0 ? 'n/a' : `${median(xs).toFixed(0)} (min ${min(xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`);
    const rssMed = perPod.length === 0 ? undefined : median(perPod.map((p) => p.rssKb));
    const memRow = (label: string, ms: Memory[], bold = false): string[] => {
      const b = (x: string): string => (bold ? `**${x}**` : x);
      return [b(label), b(stat(ms.map((m) => m.rssKb))), b(stat(ms.map((m) => m.pssKb))), b(stat(ms.map((m) => m.privateKb)))];
    };
    report.push(
      `# Start-up: Skiff against its peers (${date})`,
      '',
      `Host: ${release()}, ${readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length} cores, hybrid cgroups; ${versions()}.`,
      `${runs} runs each after 3 warm-ups (${rows[0]?.tool === 'hyperfine' ? '`hyperfine -N`' : 'Node spawnSync loop'}, in ${runs >= 9 ? 3 : 1} interleaved rounds, each after a wait for an idle VM); each run is a fresh container. ` +
        'Image: the probe fixture (busybox-static + /probe, one layer), cached in each runtime; the no-op is `/probe exit 0`.',
      '',
      table,
      '',
      `Goals (issue 4): ${goal('systemd-nspawn', 1.0)}; ${goal('podman (runc)', 0.5)}.`,
      '',
      'Issue 10, what hardening costs a replayed run, timed in turns (see pairedDeltas):',
      '',
      ...paired,
      '',
      `From the table's medians: ${delta('the seccomp filter', rows[0], rows.find((r) => r.name.startsWith('skiff, no seccomp')), 1)}; ` +
        `${delta('--private-users', rows.find((r) => r.name === 'skiff --private-users'), rows[0], 3)}.`,
      '',
      `## ${CONCURRENT} containers started at once`,
      '',
      markdownTable(
        ['what', 'all running ms', 'all exited ms', 'failures', 'how "running" was seen'],
        concurrency.map((c) => [c.what, c.allRunningMs?.toFixed(0) ?? 'n/a', c.allExitedMs?.toFixed(0) ?? 'n/a', `${c.failures}${c.detail ? ` (${c.detail})` : ''}`, c.allRunningHow]),
      ),
      '',
      'Podman was not run 50-wide (~0.2–0.6 s and ~36 MB of client per container on 2 cores).',
      '',
      `## Host-side memory per running Skiff pod (${mem.pods.length} pods running \`/probe sleep 30\`)`,
      '',
      markdownTable(
        ['process (per pod; kB, median (min, max) over the pods)', 'VmRSS', 'Pss', 'Private (USS)'],
        [
          memRow('stage1 supervisor (the `skiff run` PID after its execve)', mem.pods.map((p) => p.supervisor)),
          memRow('pod init (PID 1 of the pod, parent of the app)', mem.pods.map((p) => p.init)),
          memRow('host-side total (supervisor + init)', perPod, true),
          memRow('the app itself (`/probe sleep`, not counted)', mem.pods.flatMap((p) => (p.app ? [p.app] : []))),
        ],
      ),
      '',
      `Goal ≤ 1 MB per pod: ${rssMed === undefined ? 'not measured' : `${rssMed <= 1024 ? 'met' : 'NOT met'} by VmRSS (${rssMed.toFixed(0)} kB, pages of the static stage1 binary and its stack and heap, two processes per pod); ` +
          `by Pss ${median(perPod.map((p) => p.pssKb)).toFixed(0)} kB and private memory ${median(perPod.map((p) => p.privateKb)).toFixed(0)} kB (${median(perPod.map((p) => p.privateKb)) <= 1024 ? 'met' : 'NOT met'})`}. ` +
        'For comparison (reference/peers.md §6, same VM): conmon 2028 kB RSS / 1020 Pss, `crun run` in the foreground 3320 / 1684, `runc run` in the foreground 10432 / 9322, systemd-nspawn 7660 / 6024 (supervisor only, without the container init).',
      '',
      '## Where Skiff\'s start time goes',
      '',
      ...breakdownLines,
      '',
      ...(notes.length > 0 ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    );
  } finally {
    const left = cleanup();
    problems.push(...left.map((l) => `cleanup: ${l}`));
  }
  if (problems.length > 0) report.push('## Problems', '', ...problems.map((p) => `- ${p}`), '');
  const text = report.join('\n');
  process.stdout.write(`${text}\n`);
  const resultsDir = join(packageRoot(), 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `start-${date}.md`), text);
  log(`written to ${join(resultsDir, `start-${date}.md`)}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    for (const l of cleanup()) log(`cleanup: ${l}`);
    process.exit(130);
  });
}

await main();

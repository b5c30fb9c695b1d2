/**
 * Runs the native stage1 directly, as stage0 will: a rendered probe rootfs, a
 * protocol config (native/stage1-protocol.md), a pod dir whose flock is passed
 * in as fd 3, and `skiff-stage1 run CONFIG`. Tests read the exit status, the
 * probe's JSON on stdout and the state files stage1 writes in the pod dir.
 *
 * Everything a test starts is undone at its teardown, also when it fails:
 * stage1 is SIGKILLed by PID (its pod dies with it through PDEATHSIG), and the
 * teardown waits until no process of the pod's pid namespace is left, so the
 * pod dir holds no mount when the temp dir is removed. cgroups made here are
 * removed at teardown too.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tryFlock } from '../../native/bindings/flock.js';
import { packageRoot } from '../../runtime/install-paths.js';
import { MASKED_PATHS, READONLY_PATHS } from '../../runtime/pods/stage1-pairs.js';
import { cgroupMounts, removeCgroupTree } from './cgroup-cleanup.js';
import { probeRootfs } from './fixture-images.js';
import { tarArchive } from './tar-writer.js';
import { removeTree, tempDir, type Teardown } from './temp-dir.js';

export const STAGE1 = join(packageRoot(), 'native', 'build', 'skiff-stage1');
const LOCK_FD = 3;

export interface AppSpec {
  name?: string;
  exec: string;
  args?: string[];
  env?: string[];
  workingDir?: string;
  uid?: number;
  gid?: number;
  groups?: number[];
  /** Comma list without `cap_`; absent: stage1's default (Docker's 14). */
  caps?: string;
  /** A non-root app's process sets; absent: none. */
  ambientCaps?: string;
  noNewPrivs?: boolean;
  rlimits?: string[];
  mounts?: { volume: string; target: string }[];
  readonlyRootfs?: boolean;
  interactive?: boolean;
  /** The `seccomp` value (`none`, or MODE\tERRNO\tSYSCALL,...); absent: stage1's default filter. */
  seccomp?: string;
  /**
   * The app's own root (per-app roots): an overlay of `lower` (FIRST on top; upper and work in
   * POD_DIR/overlay/NAME, as stage0 makes them), or `dir` bound as is. Once an app has one, the pod
   * sends no pod-level rootfs (unless `podRootfs`).
   */
  rootfs?: { lower: string[] } | { dir: string };
}

export interface PodSpec {
  apps: AppSpec[];
  hostname?: string;
  /** `host`, `new` (default) or a netns path. */
  netns?: string;
  /** Use this dir as `rootfs-dir` (bind-mounted) instead of an overlay over the shared rootfs. */
  rootfsDir?: string;
  /** Send the pod-level rootfs even when apps have their own (a mix stage1 must refuse). */
  podRootfs?: boolean;
  cgroups?: string[];
  cgroupCleanup?: string[];
  netnsCleanup?: string[];
  fileCleanup?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOpts?: string[];
  dnsDomain?: string;
  resolvConf?: string;
  hostsEntries?: string[];
  volumes?: { name: string; kind: 'host' | 'empty'; source: string; ro: boolean }[];
  /** Default: stage0's (runtime/pods/stage1-pairs.ts). */
  maskPaths?: string[];
  readonlyPaths?: string[];
  stopTimeout?: number;
  /** Raw pairs appended at the end (hostile or unknown keys). */
  extra?: [string, string][];
}

export interface Pod {
  uuid: string;
  dir: string;
  configPath: string;
  rootfsTarget: string;
  hostname: string;
}

export interface AppExit {
  code: number;
  signal: string | null;
  started: string;
  finished: string;
}

export interface PodState {
  pid?: string;
  stage1Error?: string;
  apps: Record<string, { started?: string; exit?: AppExit }>;
}

export interface PodResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  state: PodState;
}

let rendered: Promise<string> | undefined;
const extracted: string[] = [];
process.once('exit', () => {
  for (const dir of extracted) {
    try {
      removeTree(dir);
    } catch {
      // A leaked mount keeps the dir; the next run's temp dir is a new one.
    }
  }
});

/** Extracts the probe image's layer with GNU tar into a fresh dir. */
export async function renderProbeRootfs(dir?: string): Promise<string> {
  const target = dir ?? mkdtempSync(join(tmpdir(), 'skiff-test-rootfs-'));
  if (dir === undefined) extracted.push(target);
  execFileSync('tar', ['-xpf', '-', '-C', target], { input: tarArchive(await probeRootfs()), maxBuffer: 1 << 26 });
  return target;
}

/** One rendered rootfs per test process, shared read-only as every overlay pod's lower dir. */
export function sharedProbeRootfs(): Promise<string> {
  rendered ??= renderProbeRootfs();
  return rendered;
}

function pair(out: Buffer[], key: string, value: string): void {
  out.push(Buffer.from(`${key}\0${value}\0`));
}

export function encodeConfig(pairs: [string, string][]): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of pairs) pair(out, k, v);
  return Buffer.concat(out);
}

const appName = (a: AppSpec, i: number): string => a.name ?? `app${i}`;

/** POD_DIR/overlay/NAME/upper (or work): an app's own overlay dirs, as stage0 lays them out. */
export function appOverlayDir(pod: Pod, app: string, which: 'upper' | 'work'): string {
  return join(pod.dir, 'overlay', app, which);
}

function configPairs(pod: Pod, spec: PodSpec, lower: string): [string, string][] {
  const p: [string, string][] = [
    ['version', '1'], ['uuid', pod.uuid], ['pod-dir', pod.dir], ['lock-fd', String(LOCK_FD)], ['hostname', pod.hostname],
  ];
  // With per-app roots the rootfs keys go in the app sections instead.
  if (spec.podRootfs ?? !spec.apps.some((a) => a.rootfs !== undefined)) {
    if (spec.rootfsDir !== undefined) p.push(['rootfs-dir', spec.rootfsDir]);
    else p.push(['rootfs-lower', lower], ['rootfs-upper', join(pod.dir, 'upper')], ['rootfs-work', join(pod.dir, 'work')]);
  }
  p.push(['rootfs-target', pod.rootfsTarget], ['netns', spec.netns ?? 'new']);
  const lists: [string, string[] | undefined][] = [
    ['netns-cleanup', spec.netnsCleanup], ['cgroup', spec.cgroups], ['cgroup-cleanup', spec.cgroupCleanup],
    ['file-cleanup', spec.fileCleanup], ['dns', spec.dns], ['dns-search', spec.dnsSearch], ['dns-opt', spec.dnsOpts],
    ['dns-domain', spec.dnsDomain === undefined ? undefined : [spec.dnsDomain]], ['hosts-entry', spec.hostsEntries],
    ['mask-path', spec.maskPaths ?? MASKED_PATHS], ['readonly-path', spec.readonlyPaths ?? READONLY_PATHS],
  ];
  for (const [key, values] of lists) for (const v of values ?? []) p.push([key, v]);
  if (spec.resolvConf !== undefined) p.push(['resolv-conf', spec.resolvConf]);
  for (const v of spec.volumes ?? []) p.push(['volume', `${v.name}\t${v.kind}\t${v.source}\t${v.ro ? 1 : 0}`]);
  if (spec.stopTimeout !== undefined) p.push(['stop-timeout', String(spec.stopTimeout)]);
  spec.apps.forEach((a, i) => {
    const name = appName(a, i);
    p.push(['app', name], ['exec', a.exec]);
    for (const arg of a.args ?? []) p.push(['arg', arg]);
    for (const e of a.env ?? ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']) p.push(['env', e]);
    if (a.workingDir !== undefined) p.push(['working-dir', a.workingDir]);
    if (a.uid !== undefined) p.push(['uid', String(a.uid)]);
    if (a.gid !== undefined) p.push(['gid', String(a.gid)]);
    for (const g of a.groups ?? []) p.push(['supplementary-gid', String(g)]);
    if (a.caps !== undefined) p.push(['caps', a.caps]);
    if (a.ambientCaps !== undefined) p.push(['ambient-caps', a.ambientCaps]);
    if (a.noNewPrivs !== undefined) p.push(['no-new-privs', a.noNewPrivs ? '1' : '0']);
    for (const r of a.rlimits ?? []) p.push(['rlimit', r]);
    for (const m of a.mounts ?? []) p.push(['mount', `${m.volume}\t${m.target}`]);
    if (a.readonlyRootfs !== undefined) p.push(['readonly-rootfs', a.readonlyRootfs ? '1' : '0']);
    if (a.interactive !== undefined) p.push(['interactive', a.interactive ? '1' : '0']);
    if (a.seccomp !== undefined) p.push(['seccomp', a.seccomp]);
    if (a.rootfs !== undefined && 'dir' in a.rootfs) p.push(['rootfs-dir', a.rootfs.dir]);
    else if (a.rootfs !== undefined) {
      for (const l of a.rootfs.lower) p.push(['rootfs-lower', l]);
      p.push(['rootfs-upper', appOverlayDir(pod, name, 'upper')], ['rootfs-work', appOverlayDir(pod, name, 'work')]);
    }
  });
  return [...p, ...(spec.extra ?? [])];
}

let podCounter = 0;

/** Makes the pod dir (upper, work, rootfs target) and writes POD_DIR/stage1.conf. */
export async function createPod(t: Teardown, spec: PodSpec): Promise<Pod> {
  const lower = spec.rootfsDir === undefined ? await sharedProbeRootfs() : '';
  const dir = tempDir(t, 'skiff-test-pod-');
  const uuid = `00000000-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(podCounter++).padStart(6, '0')}`;
  const pod: Pod = { uuid, dir, configPath: join(dir, 'stage1.conf'), rootfsTarget: join(dir, 'rootfs'), hostname: spec.hostname ?? `skiff-${uuid.slice(-8)}` };
  for (const sub of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, sub));
  spec.apps.forEach((a, i) => {
    if (a.rootfs === undefined || 'dir' in a.rootfs) return;
    for (const which of ['upper', 'work'] as const) mkdirSync(appOverlayDir(pod, appName(a, i), which), { recursive: true });
  });
  writeFileSync(pod.configPath, encodeConfig(configPairs(pod, spec, lower)), { mode: 0o600 });
  return pod;
}

/** Takes the pod lock as stage0 does: an O_RDONLY fd on the pod dir, flock(LOCK_EX). */
function lockPodDir(dir: string): number {
  const fd = openSync(dir, 'r');
  if (!tryFlock(fd, 'exclusive', dir)) {
    closeSync(fd);
    throw new Error(`flock ${dir}: already locked`);
  }
  return fd;
}

/** Is the pod dir's lock free (no stage1 holds it)? */
export function podLockFree(dir: string): boolean {
  try {
    closeSync(lockPodDir(dir));
    return true;
  } catch {
    return false;
  }
}

function readPodState(pod: Pod): PodState {
  const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
  const state: PodState = { apps: {} };
  const pid = read(join(pod.dir, 'pid'));
  const error = read(join(pod.dir, 'stage1-error'));
  if (pid !== undefined) state.pid = pid;
  if (error !== undefined) state.stage1Error = error;
  const appsDir = join(pod.dir, 'apps');
  for (const name of existsSync(appsDir) ? readdirSync(appsDir) : []) {
    const started = read(join(appsDir, name, 'started'));
    const exit = read(join(appsDir, name, 'exit'));
    state.apps[name] = {};
    if (started !== undefined) state.apps[name].started = started;
    if (exit !== undefined) state.apps[name].exit = JSON.parse(exit) as AppExit;
  }
  return state;
}

/** The pid namespace inode of a process, or undefined once it is gone. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // gone
  }
}

/**
 * PIDs (host view) of the live processes in the given pid namespace. Zombies
 * are dead: an orphaned PID 1 waits for the host's init to reap it, which on
 * some hosts takes seconds.
 */
export function processesInNamespace(ns: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (pidNamespace(Number(entry)) === ns && !isZombie(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export interface RunningPod {
  pod: Pod;
  child: ChildProcess;
  /** stage1's PID (stage0's, in production). */
  pid: number;
  /** Resolves when stage1 has exited. */
  result: Promise<PodResult>;
  /** The next line of stdout, parsed as JSON. */
  nextJson(): Promise<Record<string, any>>;
  /** Waits for POD_DIR/pid and returns PID 1's host PID. */
  waitForPid1(): Promise<number>;
}

/** Starts stage1 on a created pod; the test's teardown kills it by PID if it is still running. */
export interface StartOptions {
  stdin?: 'ignore' | 'pipe';
  /** Runs stage1 through this command line (it must exec `"$0" "$@"`), e.g. to start it with signals ignored. */
  prefix?: string[];
}

export function startPod(t: Teardown, pod: Pod, options: StartOptions = {}): RunningPod {
  const lockFd = lockPodDir(pod.dir);
  const [command, ...args] = [...(options.prefix ?? []), STAGE1, 'run', pod.configPath];
  let child: ChildProcess;
  try {
    child = spawn(command!, args, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe', lockFd] });
  } finally {
    closeSync(lockFd); // stage1 holds its own copy: the lock now lives as long as stage1
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn ${STAGE1} failed`);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let namespace: string | undefined;
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
    // PDEATHSIG takes PID 1, and the kernel the rest of the pod: wait until they are gone.
    if (namespace !== undefined) await waitFor('the pod processes to die', () => processesInNamespace(namespace!).length === 0);
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const result = exited.then(([code, signal]) => ({ code, signal, stdout, stderr, state: readPodState(pod) }));
  return {
    pod,
    child,
    pid,
    result,
    async nextJson() {
      const next = await lines.next();
      if (next.done) throw new Error(`stage1 stdout ended; stderr: ${stderr}`);
      return JSON.parse(next.value as string) as Record<string, any>;
    },
    async waitForPid1() {
      const path = join(pod.dir, 'pid');
      const text = await waitFor('POD_DIR/pid', () => (existsSync(path) ? readFileSync(path, 'utf8') : undefined));
      const pid1 = Number(text.trim());
      namespace = pidNamespace(pid1) ?? namespace;
      return pid1;
    },
  };
}

/** Creates a pod, runs it to the end (SIGKILLed after timeoutMs) and collects everything. */
export async function runPod(t: Teardown, spec: PodSpec, timeoutMs = 20_000): Promise<PodResult & { pod: Pod }> {
  const pod = await createPod(t, spec);
  const running = startPod(t, pod);
  const timer = setTimeout(() => process.kill(running.pid, 'SIGKILL'), timeoutMs);
  const result = await running.result;
  clearTimeout(timer);
  return { ...result, pod };
}

/** The first stdout line of a result as JSON (the probe prints one JSON object per line). */
export function firstJson(result: { stdout: string; stderr: string }): Record<string, any> {
  const line = result.stdout.split('\n')[0] ?? '';
  try {
    return JSON.parse(line) as Record<string, any>;
  } catch {
    throw new Error(`no JSON on stdout: ${JSON.stringify(result.stdout)}; stderr: ${result.stderr}`);
  }
}

/** A probe app: `/probe ARGS...`. */
export function probe(args: string[], app: Partial<AppSpec> = {}): AppSpec {
  return { name: 'probe', exec: '/probe', args, ...app };
}

export interface TestCgroups {
  /** One dir per v1 hierarchy, keyed by its mount dir's name (cpu, memory, pids, systemd...). */
  dirs: Map<string, string>;
  all: string[];
}

let cgroupCounter = 0;

/**
 * A fresh cgroup in every v1 hierarchy, `<mount>/skiff-test-<pid>-<n>`, removed
 * at teardown (after the pod: teardowns run last-registered first). cpuset
 * needs its cpus and mems set before a task may join.
 */
export function testCgroups(t: Teardown): TestCgroups {
  const name = `skiff-test-${process.pid}-${cgroupCounter++}`;
  const dirs = new Map<string, string>();
  t.teardown(async () => {
    const left = [];
    for (const dir of dirs.values()) left.push(...(await removeCgroupTree(dir, { timeoutMs: 5_000 })));
    if (left.length > 0) throw new Error(`cgroups left behind: ${left.join(', ')}`);
  });
  for (const mount of cgroupMounts('v1')) {
    const dir = join(mount, name);
    mkdirSync(dir);
    dirs.set(mount.split('/').pop()!, dir);
    if (existsSync(join(mount, 'cpuset.cpus'))) {
      writeFileSync(join(dir, 'cpuset.cpus'), readFileSync(join(mount, 'cpuset.cpus')));
      writeFileSync(join(dir, 'cpuset.mems'), readFileSync(join(mount, 'cpuset.mems')));
    }
  }
  // Tests check that teardown removed every one of `all`: with none, those checks would pass by default.
  if (dirs.size === 0) throw new Error('no v1 cgroup hierarchy on this host');
  return { dirs, all: [...dirs.values()] };
}

// Integration tests start real servers (docker-registry, etcd) as children. On a shared machine
// where we run as root, a leaked server keeps a port and a temp dir forever, so every child is
// tracked here: stopped by its own PID only (SIGTERM, then SIGKILL), its temp dir removed, and a
// synchronous reaper on process exit catches whatever a crashed test left behind.
//
// The reaper removes a dir only once its process is really gone: SIGKILL is asynchronous, and a
// multi-threaded server (the Go registry) keeps running its threads for a few ms after the
// signal, long enough to recreate files in a dir that rmSync has just emptied. No event loop
// runs in an exit hook, so it polls /proc and sleeps with Atomics.wait, bounded by EXIT_REAP_MS.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, fstatSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STOP_GRACE_MS = 5_000;
const LOG_TAIL_BYTES = 4_096;
/** How long the exit hook waits, for all its SIGKILLed children together, before removing dirs anyway. */
const EXIT_REAP_MS = 1_000;
const EXIT_POLL_MS = 5;

export interface ManagedProcessOptions {
  /** Short label used in error messages, e.g. 'docker-registry'. */
  name: string;
  command: string;
  args: readonly string[];
  /** stdout and stderr are appended here. */
  logPath: string;
  /** The server's own temp dir; removed after the process is gone (on stop and at exit). */
  ownedDir?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface WaitOptions {
  timeoutMs: number;
  /** What we are waiting for, for the timeout message: 'GET /v2/ answers 200'. */
  what: string;
  intervalMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every process started here and not yet stopped; the exit-time reaper walks it. */
const live = new Set<ManagedProcess>();

process.on('exit', () => ManagedProcess.killAllNowSync());

/** A fresh `skiff-test-<label>-XXXXXX` directory under the OS temp dir. */
export function makeServerDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `skiff-test-${label}-`));
}

/** `mkdir -p`; returns the path. */
export async function mkdirp(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}

/** This process's env without the variables starting with `prefix` (servers that read them as flags or config overrides). */
export function scrubbedEnv(prefix: string): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith(prefix)));
}

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly ownedDir: string | undefined;
  #exit: ExitStatus | undefined;
  #exited: Promise<ExitStatus>;
  #stopping: Promise<void> | undefined;

  private constructor(opts: ManagedProcessOptions, child: ChildProcess, pid: number) {
    this.name = opts.name;
    this.pid = pid;
    this.logPath = opts.logPath;
    this.ownedDir = opts.ownedDir;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /** Spawns the child and resolves once the kernel has started it (or rejects if it could not). */
  static async start(opts: ManagedProcessOptions): Promise<ManagedProcess> {
    const logFd = openSync(opts.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(opts.command, opts.args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', logFd, logFd],
        detached: false,
      });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(logFd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new Error(`${opts.name}: could not start ${opts.command}: ${err.message}`, { cause: err })),
      );
    });
    if (child.pid === undefined) throw new Error(`${opts.name}: spawned without a PID`);
    const proc = new ManagedProcess(opts, child, child.pid);
    live.add(proc);
    return proc;
  }

  /** Set once the child has exited. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** The last few KB of the server's log, for error messages. */
  logTail(maxBytes = LOG_TAIL_BYTES): string {
    let fd: number;
    try {
      fd = openSync(this.logPath, 'r');
    } catch {
      return '(no log)';
    }
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, maxBytes);
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      const text = buf.toString('utf8');
      return length < size ? `…${text.slice(text.indexOf('\n') + 1)}` : text;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Polls `check` until it returns true. Fails at once if the process exits, and after
   * `timeoutMs` otherwise; both errors carry the log tail and the last check error.
   */
  async waitUntil(check: (signal: AbortSignal) => Promise<boolean>, opts: WaitOptions): Promise<void> {
    const started = Date.now();
    const deadline = started + opts.timeoutMs;
    const interval = opts.intervalMs ?? 50;
    let lastError: unknown;
    const died = this.#exited.then((status) => ({ died: status }));
    for (;;) {
      if (this.#exit) throw this.#earlyExitError(opts.what, this.#exit, lastError);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), remaining);
      try {
        const outcome = await Promise.race([
          check(abort.signal).then((ok) => ({ ok })),
          died,
          new Promise<{ timedOut: true }>((resolve) =>
            abort.signal.addEventListener('abort', () => resolve({ timedOut: true }), { once: true }),
          ),
        ]);
        if ('died' in outcome) throw this.#earlyExitError(opts.what, outcome.died, lastError);
        if ('ok' in outcome && outcome.ok) return;
      } catch (err) {
        if (this.#exit) throw this.#earlyExitError(opts.what, this.#exit, err);
        lastError = err;
      } finally {
        clearTimeout(timer);
        abort.abort();
      }
      const pause = Math.min(interval, deadline - Date.now());
      if (pause > 0) {
        const outcome = await Promise.race([sleep(pause), died]);
        if (outcome && 'died' in outcome) throw this.#earlyExitError(opts.what, outcome.died, lastError);
      }
    }
    throw new Error(
      `${this.name} (pid ${this.pid}): timed out after ${opts.timeoutMs} ms waiting until ${opts.what}` +
        describeLastError(lastError) +
        `\n--- log tail (${this.logPath}) ---\n${this.logTail()}`,
    );
  }

  /**
   * SIGTERM, up to 5 s grace, then SIGKILL; then removes the owned dir (unless keepDir).
   * Idempotent, and "already exited" is success.
   */
  stop(options: { keepDir?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.keepDir ?? false);
    return this.#stopping;
  }

  async #stop(keepDir = false): Promise<void> {
    if (!this.#exit) {
      this.#signal('SIGTERM');
      const graceful = await Promise.race([this.#exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
      if (!graceful) {
        this.#signal('SIGKILL');
        await this.#exited;
      }
    }
    live.delete(this);
    // keepDir: a restart (etcd's data dir), where the next process takes the dir over.
    if (this.ownedDir !== undefined && !keepDir) await rm(this.ownedDir, { recursive: true, force: true });
  }

  /**
   * Last resort from the exit hook, where no awaiting is possible: SIGKILLs every live process,
   * waits until each is gone (EXIT_REAP_MS at most, for all together), then removes its dir.
   * All are signalled first so that they die in parallel.
   */
  static killAllNowSync(): void {
    const procs = [...live];
    for (const proc of procs) if (!proc.#exit) proc.#signal('SIGKILL');
    const deadline = Date.now() + EXIT_REAP_MS;
    for (const proc of procs) proc.#reapSync(deadline);
  }

  /** The exit hook's work for this process alone (see killAllNowSync). */
  killNowSync(): void {
    if (!this.#exit) this.#signal('SIGKILL');
    this.#reapSync(Date.now() + EXIT_REAP_MS);
  }

  #reapSync(deadline: number): void {
    // Once 'exit' has fired the PID is reaped and may be someone else's: nothing to wait for.
    if (!this.#exit) waitGoneSync(this.pid, deadline);
    live.delete(this);
    if (this.ownedDir === undefined) return;
    try {
      rmSync(this.ownedDir, { recursive: true, force: true });
    } catch {
      // Only if the process outlived the bound (stuck in the kernel); nothing more can be done at exit.
    }
  }

  #signal(signal: NodeJS.Signals): void {
    // By PID only, never the process group: the child is ours, its group is the test runner's.
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  #earlyExitError(what: string, status: ExitStatus, lastError: unknown): Error {
    const how = status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
    return new Error(
      `${this.name} (pid ${this.pid}) exited with ${how} before ${what}` +
        describeLastError(lastError) +
        `\n--- log tail (${this.logPath}) ---\n${this.logTail()}`,
    );
  }
}

/**
 * Whether every thread of process `pid` has finished. A zombie counts as gone: our children are
 * not reaped while the exit hook runs (reaping needs the event loop), so a dead child stays `Z`.
 * But the leader turns `Z` as soon as its own thread exits, while the other threads are still
 * running out their syscalls, so a zombie is gone only once it is down to its last thread.
 */
function processGoneSync(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // ENOENT or ESRCH: reaped. Anything else: /proc cannot tell, and the exit must not stall on it.
    return true;
  }
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const threads = Number(fields[17]); // field 20, num_threads
  return (state === 'Z' || state === 'X') && threads <= 1;
}

/** Polls until `pid` is gone or `deadline` (epoch ms) passes; sleeps without an event loop. */
function waitGoneSync(pid: number, deadline: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!processGoneSync(pid)) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    Atomics.wait(cell, 0, 0, Math.min(EXIT_POLL_MS, left));
  }
}

function describeLastError(err: unknown): string {
  if (err === undefined) return '';
  return `; last check error: ${err instanceof Error ? err.message : String(err)}`;
}

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(resolve, ms, undefined));
}

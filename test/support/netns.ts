/**
 * Throwaway network namespaces ("hosts") for tests, made with iproute2 (tests
 * may use any tool; Skiff itself must not). Commands run inside one through
 * nsenter --net, which keeps this process's /sys and cgroup mounts. Each one
 * is deleted at teardown, and any still alive when the test process exits is deleted then, so a failed
 * or crashed test leaves no namespace behind.
 *
 * Deleting a netns also deletes every interface inside it, so whatever a test
 * created in one goes with it; the kernel finishes that asynchronously.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Teardown } from './temp-dir.js';

const execFileAsync = promisify(execFile);
const live = new Set<string>();
let counter = 0;

process.once('exit', () => {
  for (const name of live) {
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch {
      // Already gone: nothing to do.
    }
  }
});

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Netns {
  name: string;
  /** The bind-mounted namespace file (`/run/netns/NAME`), for setns. */
  path: string;
  /** Runs a command inside the namespace and waits for it. Never throws on a non-zero exit. */
  run(command: string, args?: string[]): Promise<RunResult>;
  /** Starts a long-running command inside the namespace; the caller stops it. */
  spawn(command: string, args?: string[], options?: SpawnOptions): ChildProcess;
  destroy(): Promise<void>;
}

export async function createNetns(prefix = 'skt'): Promise<Netns> {
  const name = `${prefix}-${process.pid}-${counter++}`;
  await execFileAsync('ip', ['netns', 'add', name]);
  live.add(name);
  // A fresh netns has loopback down; most tests want it up.
  await execFileAsync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const path = `/run/netns/${name}`;
  return {
    name,
    path,
    async run(command, args = []) {
      try {
        const { stdout, stderr } = await execFileAsync('nsenter', [`--net=${path}`, '--', command, ...args]);
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code?: unknown; stdout?: string; stderr?: string };
        if (typeof e.code !== 'number') throw err;
        return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
    spawn(command, args = [], options = {}) {
      return spawn('nsenter', [`--net=${path}`, '--', command, ...args], options);
    },
    async destroy() {
      if (!live.has(name)) return;
      live.delete(name);
      if (existsSync(path)) await execFileAsync('ip', ['netns', 'delete', name]);
    },
  };
}

/** A netns removed at the end of the test (ava's `t`), also when it fails. */
export async function testNetns(t: Teardown, prefix?: string): Promise<Netns> {
  const ns = await createNetns(prefix);
  t.teardown(() => ns.destroy());
  return ns;
}

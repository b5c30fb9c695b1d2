/**
 * A store with the probe image in it, for pod tests through the CLI: the
 * fixture written as an OCI layout and fetched, so no registry is needed.
 * Pods get their cgroups under a test parent (SKIFF_CGROUP_PARENT), removed
 * at teardown with everything else the test left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupMounts, removeCgroupTree } from './cgroup-cleanup.js';
import { writeFixtureLayout } from './fixture-images.js';
import { runSkiff, skiffLauncher, type SkiffResult } from './skiff-cli.js';
import { tempDir, type Teardown } from './temp-dir.js';

export interface PodStore {
  dir: string;
  image: string;
  env: NodeJS.ProcessEnv;
  cgroupParent: string;
  skiff(args: string[], input?: string): Promise<SkiffResult>;
  /** Starts a long-running skiff command; killed (SIGKILL, by PID) at teardown. */
  start(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; exited: Promise<number | null> };
}

let counter = 0;

export async function podStore(t: Teardown): Promise<PodStore> {
  const root = tempDir(t, 'skiff-pods-');
  const layout = join(root, 'layout');
  await writeFixtureLayout(layout);
  const dir = join(root, 'store');
  const cgroupParent = `/skiff-test-${process.pid}-${counter++}`;
  const env = { SKIFF_CGROUP_PARENT: cgroupParent, SKIFF_TEST_INHERITED: 'inherited' };
  const image = `oci:${layout}:oci`;
  const fetched = await runSkiff(['--dir', dir, 'fetch', '--quiet', image], { env });
  if (fetched.code !== 0) throw new Error(`fetch of the probe image failed: ${fetched.stderr}`);
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
        await once(child, 'exit');
      }
    }
    // Give PDEATHSIG'd pods a moment to die, then collect what is left.
    await sleep(100);
    await runSkiff(['--dir', dir, 'gc', '--grace-period=0', '--expire-prepared=0'], { env });
    for (const mount of cgroupMounts()) removeCgroupTree(join(mount, cgroupParent));
  });
  return {
    dir,
    image,
    env,
    cgroupParent,
    skiff: (args, input) => runSkiff(['--dir', dir, ...args], { env, ...(input === undefined ? {} : { input }) }),
    start(args) {
      const child = spawn(skiffLauncher(), ['--dir', dir, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      // Like a shell: a signal death is 128 + the signal's number.
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128 + constants.signals[signal]))),
      );
      return { child, output: () => ({ stdout, stderr }), exited };
    },
  };
}

/** Waits until `skiff status` shows the pod running with a pid; returns its UUID. The deadline only bounds a failure: a loaded host (CI shares its cores) may take long to start a pod. */
export async function waitRunning(store: PodStore, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await store.skiff(['--format', 'json', 'list']);
    const pods = JSON.parse(list.stdout || '[]') as Array<{ uuid: string; state: string; pid?: number }>;
    const running = pods.find((p) => p.state === 'running' && p.pid !== undefined);
    if (running !== undefined) return running.uuid;
    if (Date.now() > deadline) throw new Error(`no running pod after ${timeoutMs} ms: ${list.stdout} ${list.stderr}`);
    await sleep(50);
  }
}

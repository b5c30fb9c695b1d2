/**
 * Runs the built `skiff` as a user would: the native launcher
 * (native/build/skiff, which replays recorded `run` plans and execs Node on
 * dist/runtime/cli/main.js for everything else), and collects its exit code
 * and output.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';

export interface SkiffResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The TypeScript CLI itself, for tests that must run Node directly. */
export function skiffBin(): string {
  return join(packageRoot(), 'dist', 'runtime', 'cli', 'main.js');
}

/** The `skiff` command users run (package.json "bin"). */
export function skiffLauncher(): string {
  return join(packageRoot(), 'native', 'build', 'skiff');
}

/**
 * The environment a test's skiff runs with. Pods get `--net=none` unless the test says otherwise
 * (SKIFF_NET, or --net): the `default` network would make a bridge and NAT rules in whatever
 * netns skiff runs in, and tests change only namespaces they made (`netns`).
 */
export function skiffEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, SKIFF_NET: 'none', ...env };
}

/** argv[0] and the rest, run inside `netns` (a /run/netns path) when given: nsenter --net (iproute2's netns exec would remount /sys and hide the cgroup mounts). */
export function skiffCommand(args: string[], netns?: string): [string, string[]] {
  return netns === undefined ? [skiffLauncher(), args] : ['nsenter', [`--net=${netns}`, '--', skiffLauncher(), ...args]];
}

export function runSkiff(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; netns?: string } = {},
): Promise<SkiffResult> {
  return new Promise((resolve, reject) => {
    const [command, argv] = skiffCommand(args, options.netns);
    const child = spawn(command, argv, {
      env: skiffEnv(options.env),
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A pod that never reads its stdin may be gone before the input is written (EPIPE): not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

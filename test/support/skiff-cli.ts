/**
 * Runs the built `skiff` CLI (dist/runtime/cli/main.js) as a user would, and
 * collects its exit code and output.
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

export function skiffBin(): string {
  return join(packageRoot(), 'dist', 'runtime', 'cli', 'main.js');
}

export function runSkiff(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<SkiffResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [skiffBin(), ...args], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs a shell command on a terminal of its own, as a user's shell would: util-linux `script`
 * gives it a pty and relays our pipe to it.
 *
 * The pipe stays open until the command has exited. At EOF on its stdin `script` "types" ^D
 * into the terminal; a program that has just switched that terminal to raw mode may then read
 * it as a NUL (the kernel keeps a cooked EOF as '\0'), which no user's terminal ever does by
 * itself. Tests that want an EOF typed say so in `input`.
 */
import { spawn } from 'node:child_process';

export interface TerminalRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function underTerminal(command: string, opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<TerminalRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env === undefined ? {} : { env: opts.env }) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdin.on('error', () => { /* the command may exit before it reads */ });
    if (opts.input !== undefined) child.stdin.write(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (status) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ status, stdout, stderr });
    });
  });
}

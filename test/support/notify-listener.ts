/**
 * A systemd-style NOTIFY_SOCKET for tests: a python3 AF_UNIX datagram listener (Node has no
 * AF_UNIX datagram sockets) bound to a path or, with a leading '@', an abstract name. `next()`
 * resolves to the next datagram; `close()` ends the listener (by its PID). Killed at teardown.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Teardown } from './temp-dir.js';

const SCRIPT = [
  'import socket,sys,json',
  's=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)',
  's.bind(sys.argv[1].replace("@","\\0",1))',
  'print("bound",flush=True)',
  'while True: print(json.dumps(s.recv(65536).decode()),flush=True)',
].join('\n');

export interface NotifyListener {
  next(): Promise<string>;
  close(): void;
}

export async function notifyListener(t: Teardown, address: string): Promise<NotifyListener> {
  const child = spawn('python3', ['-c', SCRIPT, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const close = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  };
  t.teardown(close);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'bound') throw new Error(`notify listener did not bind ${address}`);
  return {
    async next() {
      const line = await lines.next();
      if (line.done === true) throw new Error('notify listener ended');
      return JSON.parse(line.value as string) as string;
    },
    close,
  };
}

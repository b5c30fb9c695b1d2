/** sd_notify without libsystemd (native/bindings/sd-notify.ts): the datagram a test-side listener receives, path and abstract sockets. */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sdNotify } from '../../native/bindings/sd-notify.js';
import { tempDir } from '../support/temp-dir.js';

/** A python3 AF_UNIX datagram listener bound to `address` ('\0…' for abstract): prints "bound", then each datagram as JSON. */
async function listener(address: string) {
  const script = 'import socket,sys,json\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1].replace("@","\\0",1))\nprint("bound",flush=True)\nprint(json.dumps(s.recv(4096).decode()),flush=True)\n';
  const child = spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const it = lines[Symbol.asyncIterator]();
  if ((await it.next()).value !== 'bound') throw new Error('listener did not bind');
  return { next: async () => JSON.parse((await it.next()).value as string) as string, done: once(child, 'exit') };
}

test('READY=1 and friends reach a path socket as one datagram', async (t) => {
  const path = join(tempDir(t), 'notify');
  const l = await listener(path);
  t.true(sdNotify('READY=1\nSTATUS=lease 198.18.1.0/24\nMAINPID=42', path));
  t.is(await l.next(), 'READY=1\nSTATUS=lease 198.18.1.0/24\nMAINPID=42');
  await l.done;
});

test('an abstract socket (@name) too; no NOTIFY_SOCKET: nothing sent, false', async (t) => {
  const name = `@skiff-test-notify-${process.pid}`;
  const l = await listener(name);
  t.true(sdNotify('STOPPING=1', name));
  t.is(await l.next(), 'STOPPING=1');
  await l.done;
  t.false(sdNotify('READY=1', ''));
  t.false(sdNotify('READY=1', undefined));
});

test('a socket nobody listens on is an error naming it', (t) => {
  const path = join(tempDir(t), 'nobody');
  t.throws(() => sdNotify('READY=1', path), { message: /sendto .*nobody: ENOENT/ });
});

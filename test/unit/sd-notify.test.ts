/** sd_notify without libsystemd (native/bindings/sd-notify.ts): the datagram a test-side listener receives, path and abstract sockets. */
import test from 'ava';
import { join } from 'node:path';
import { sdNotify } from '../../native/bindings/sd-notify.js';
import { notifyListener } from '../support/notify-listener.js';
import { tempDir } from '../support/temp-dir.js';

test('READY=1 and friends reach a path socket as one datagram', async (t) => {
  const path = join(tempDir(t), 'notify');
  const l = await notifyListener(t, path);
  t.true(sdNotify('READY=1\nSTATUS=lease 198.18.1.0/24\nMAINPID=42', path));
  t.is(await l.next(), 'READY=1\nSTATUS=lease 198.18.1.0/24\nMAINPID=42');
});

test('an abstract socket (@name) too; no NOTIFY_SOCKET: nothing sent, false', async (t) => {
  const name = `@skiff-test-notify-${process.pid}`;
  const l = await notifyListener(t, name);
  t.true(sdNotify('STOPPING=1', name));
  t.is(await l.next(), 'STOPPING=1');
  t.false(sdNotify('READY=1', ''));
});

test('a socket nobody listens on is an error naming it', (t) => {
  const path = join(tempDir(t), 'nobody');
  t.throws(() => sdNotify('READY=1', path), { message: /sendto .*nobody: ENOENT/ });
});

import test from 'ava';
import { fstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { syncfsInPool } from '../../native/bindings/syncfs.js';
import { BackgroundWriteback } from '../../image/store/background-writeback.js';
import { tempDir } from '../support/temp-dir.js';

// Serial: the write-back in flight is one per process by design, shared by every instance.
test.serial('writes back on a timer while unpacking, one at a time; stop waits for the one in flight, then no more', async (t) => {
  const dir = tempDir(t, 'skiff-writeback-');
  let calls = 0;
  let inFlight = 0;
  let most = 0;
  let release: (() => void) | undefined;
  let fd = -1;
  const writeback = new BackgroundWriteback(dir, {
    intervalMs: 5,
    sync: async (f) => {
      fd = f;
      calls++;
      most = Math.max(most, ++inFlight);
      // A slow disk: the timer fires many times while this one runs.
      await new Promise<void>((resolve) => (release = resolve));
      inFlight--;
    },
  });
  await sleep(50);
  t.is(calls, 1, 'no second write-back while one runs');
  let stopped = false;
  const stopping = writeback.stop().then(() => (stopped = true));
  await sleep(20);
  t.false(stopped, 'stop waits for the write-back in flight');
  t.notThrows(() => fstatSync(fd), 'its fd is still open meanwhile');
  release!();
  await stopping;
  t.throws(() => fstatSync(fd), { code: 'EBADF' }, 'then the fd is closed');
  await sleep(30);
  t.is(calls, 1, 'none after stop');
  t.is(most, 1);
  await writeback.stop();
});

test.serial('several unpacks at once share one write-back at a time (the pool keeps threads for the work)', async (t) => {
  let inFlight = 0;
  let most = 0;
  let calls = 0;
  const sync = async (): Promise<void> => {
    calls++;
    most = Math.max(most, ++inFlight);
    await sleep(15);
    inFlight--;
  };
  const all = [1, 2, 3].map(() => new BackgroundWriteback(tempDir(t, 'skiff-writeback-'), { intervalMs: 3, sync }));
  await sleep(100);
  await Promise.all(all.map((w) => w.stop()));
  t.true(calls >= 2, `${calls} write-backs`);
  t.is(most, 1);
});

test.serial('a failing write-back is not the unpack\'s business: the timer goes on, stop resolves', async (t) => {
  const dir = tempDir(t, 'skiff-writeback-');
  let calls = 0;
  const writeback = new BackgroundWriteback(dir, {
    intervalMs: 5,
    sync: async () => {
      calls++;
      throw new Error('EIO');
    },
  });
  await sleep(60);
  await writeback.stop();
  t.true(calls >= 2, `${calls} tries`);
});

test.serial('syncfs on a pool thread: 0 for a real filesystem, -1 for a bad fd', async (t) => {
  const dir = tempDir(t, 'skiff-writeback-');
  writeFileSync(join(dir, 'f'), 'data');
  const writeback = new BackgroundWriteback(dir, { intervalMs: 1_000_000 });
  t.is(await syncfsInPool((writeback as unknown as { fd: number }).fd), 0);
  await writeback.stop();
  t.is(await syncfsInPool(-1), -1);
});

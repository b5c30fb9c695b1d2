/**
 * gc.lock (store-paths.ts): whatever reads or stores blobs and layers that no
 * image record names yet (a fetch, an extract, a pod being prepared) holds it
 * shared; `image rm` and `image gc` hold it exclusive while they sweep, so
 * they never remove what such a command is using. Taking it also puts back
 * the modes of the store's root-only dirs (private-dirs.ts).
 */
import { mkdirSync } from 'node:fs';
import { lockPath } from '../../native/bindings/flock.js';
import { ensurePrivateDirs } from './private-dirs.js';
import type { StorePaths } from './store-paths.js';
import { lockWaitNotice } from '../../runtime/lock-wait-notice.js';

/** Runs `fn` holding gc.lock in `mode`, waiting up to ten minutes for it. */
export async function withGcLock<T>(paths: StorePaths, mode: 'shared' | 'exclusive', fn: () => T | Promise<T>): Promise<T> {
  mkdirSync(paths.root, { recursive: true, mode: 0o711 });
  ensurePrivateDirs(paths);
  const lock = await lockPath(paths.gcLock, mode, { timeoutMs: 10 * 60_000, what: `the image store ${paths.root}`, onWait: lockWaitNotice(`the image store ${paths.root}`) });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

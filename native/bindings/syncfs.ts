/**
 * syncfs(2): flushes the whole filesystem a tree lives on. Used before a
 * freshly unpacked layer or rendered rootfs is renamed into place, so that
 * after a power loss what is visible under its final name is whole, without
 * an fsync per file (thousands of them).
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { check, libc } from './libc.js';

const syncfsFn = libc.func('int syncfs(int)');

export function syncTree(dir: string): void {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    check('syncfs', syncfsFn(fd) as number, dir);
  } finally {
    closeSync(fd);
  }
}

/** syncfs(fd) on a thread of libuv's pool; resolves with its return value (errors are the caller's to judge). */
export function syncfsInPool(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    (syncfsFn as unknown as { async: (fd: number, cb: (err: unknown, ret: number) => void) => void }).async(fd, (err, ret) =>
      err ? reject(err as Error) : resolve(ret),
    );
  });
}

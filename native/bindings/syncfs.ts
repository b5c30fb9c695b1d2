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

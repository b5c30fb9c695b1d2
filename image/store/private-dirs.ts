/**
 * layers/ and tmp/ are root-only (0700), as containerd's snapshot root is.
 *
 * Layer dirs hold what images carry with the images' own modes: device nodes
 * (`c 1:3 0666`, or a host disk's numbers), setuid binaries, world-writable
 * dirs. Pods need them as they are (the pod's rootfs is mounted nodev), but
 * no other host user may reach them: with layers/ 0700 nothing under it can
 * be opened by anyone but root, whatever its own mode. Nothing else needs
 * the path: stage1 mounts as root, and overlayfs reads its lower dirs with
 * the mounter's credentials. tmp/ holds layers being unpacked (and removed),
 * so it gets the same mode.
 *
 * Stores made before this had layers/ 0755 (a mkdir through the umask):
 * every command that takes gc.lock puts 0700 back, at the cost of two lstats.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StorePaths } from './store-paths.js';

export const PRIVATE_DIR_MODE = 0o700;

/** Makes layers/ and tmp/ (the store root must exist), or gives them back their 0700. */
export function ensurePrivateDirs(paths: StorePaths): void {
  for (const dir of [dirname(paths.layers), paths.tmp]) {
    let mode: number;
    try {
      mode = lstatSync(dir).mode & 0o7777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // mkdir's mode goes through the umask, which can only take bits away from 0700.
      mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
      continue;
    }
    if (mode !== PRIVATE_DIR_MODE) chmodSync(dir, PRIVATE_DIR_MODE);
  }
}

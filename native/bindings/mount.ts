/** umount2 through the native binding (for netns bind mounts left by a killed stage1). */
import { check, ERRNO, libc } from './libc.js';

const MNT_DETACH = 2;
const umount2 = libc.func('int umount2(const char *target, int flags)');

/** Detaches a mount; "not mounted" and "no such path" are success. */
export function unmountDetached(path: string): void {
  check('umount2', umount2(path, MNT_DETACH) as number, path, [ERRNO.EINVAL, ERRNO.ENOENT]);
}

/**
 * A fingerprint of a store's layers and blobs: every property a write, chmod,
 * chown or xattr change would alter (ctime included), so "the pod left the
 * store byte-for-byte unchanged" is one string comparison.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function storeState(dir: string): string {
  const script = `
import os, sys, stat, hashlib
for top in sys.argv[1:]:
    for dp, dns, fns in sorted(os.walk(top)):
        for n in sorted(dns + fns):
            p = os.path.join(dp, n); st = os.lstat(p)
            data = hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else ''
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ''
            print(p, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, link, data, sorted(os.listxattr(p, follow_symlinks=False)))
`;
  return execFileSync('python3', ['-c', script, join(dir, 'layers'), join(dir, 'blobs')], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

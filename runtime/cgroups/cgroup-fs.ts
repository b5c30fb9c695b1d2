/**
 * CgroupFs: the only way the cgroup drivers touch cgroupfs (STYLE.md point 2).
 *
 * Five calls, synchronous, failing like node:fs does (an Error with an errno
 * `code` such as EBUSY, and `syscall`), so the drivers branch on codes and the
 * fake (fake-cgroup-fs.ts) can throw the very same shapes. cgroupfs operations
 * are quick kernel calls that never wait on a disk, so sync I/O is fine.
 *
 * writeFile opens the control file O_WRONLY without O_CREAT or O_TRUNC:
 * cgroupfs refuses to create files (EACCES), and a missing control file must
 * say ENOENT (the controller is not enabled there), not something misleading.
 * Each value goes out in one write(2), as the kernel parses per write.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';

export interface CgroupFs {
  /** Creates one cgroup dir: EEXIST if present, ENOENT if its parent is missing. */
  mkdir(path: string): void;
  /** Removes one cgroup dir: ENOENT if gone, EBUSY while it has processes or child cgroups. */
  rmdir(path: string): void;
  /** Reads a whole control file (or /proc/self/cgroup). */
  readFile(path: string): string;
  /** Writes a value to an existing control file in one write(2). */
  writeFile(path: string, value: string): void;
  exists(path: string): boolean;
}

export const realCgroupFs: CgroupFs = {
  mkdir(path) {
    mkdirSync(path);
  },
  rmdir(path) {
    rmdirSync(path);
  },
  readFile(path) {
    return readFileSync(path, 'utf8');
  },
  writeFile(path, value) {
    const fd = openSync(path, constants.O_WRONLY);
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  },
  exists(path) {
    return existsSync(path);
  },
};

/** The errno name of a node:fs (or fake) failure, or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Why one entry cannot be applied. Thrown deep in the applier with only the
 * reason; apply-layer.ts adds the layer and the entry and turns it into the
 * ImageError the caller sees.
 */
import { errnoName, lastErrno } from '../../native/bindings/libc.js';
import { NativeError } from '../../runtime/errors.js';

export class EntryRefused extends Error {}

/** A system call failed for a reason we did not expect: say which call, on what, with the errno. */
export function syscallFailed(syscall: string, what: string, errno = lastErrno()): EntryRefused {
  const name = errnoName(errno);
  return new EntryRefused(`${syscall} ${what}: ${name}`, { cause: new NativeError(syscall, errno, name, { path: what }) });
}

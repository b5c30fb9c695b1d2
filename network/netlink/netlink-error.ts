/**
 * The one place a netlink failure becomes a typed error. The kernel answers a
 * request with an NLMSG_ERROR carrying a negative errno; kernel-netlink.ts
 * reads that number from the message itself (so nothing parses the package's
 * "Request rejected: EEXIST" text on the normal path). fromPackageError()
 * covers what the package raises itself: sendmsg/recvmsg failures (they carry
 * errno and code) and, as a fallback, its "Request rejected: NAME" message.
 * Callers branch on `errnoName` (or `errno`) and never on message text.
 */
import { constants } from 'node:os';
import { NetworkError } from '../../runtime/errors.js';

const errnoByName = constants.errno as Record<string, number>;
const nameByErrno = new Map<number, string>();
for (const [name, value] of Object.entries(errnoByName)) if (!nameByErrno.has(value)) nameByErrno.set(value, name);
// Linux gives ENOTSUP and EOPNOTSUPP one number; the kernel's netlink code (and `ip`) say EOPNOTSUPP.
nameByErrno.set(errnoByName['EOPNOTSUPP']!, 'EOPNOTSUPP');

export function errnoNameOf(errno: number): string {
  return nameByErrno.get(errno) ?? `errno ${errno}`;
}

/** What the user can do about the common ones. */
const HINTS: Record<string, string> = {
  EPERM: 'changing the network needs CAP_NET_ADMIN (run as root)',
  EEXIST: 'it already exists: delete it first, or ask for replace',
  ENODEV: 'no such link; check the name or index',
  EOPNOTSUPP: 'the kernel refuses this for that kind of link (is the module loaded?)',
};

/** The kernel (or the socket) refused a netlink request. Exit 254. */
export class NetlinkError extends NetworkError {
  /** Positive errno (17 for EEXIST); 0 when the failure carried none. */
  readonly errno: number;
  /** 'EEXIST', 'ENODEV', ...; 'EUNKNOWN' when the failure carried no errno. */
  readonly errnoName: string;
  /** What was asked, e.g. `create bridge skiff0`. */
  readonly operation: string;

  constructor(operation: string, errno: number, options: { cause?: unknown; input?: string } = {}) {
    const errnoName = errno === 0 ? 'EUNKNOWN' : errnoNameOf(errno);
    const hint = HINTS[errnoName];
    super(`netlink: ${operation}: ${errnoName}`, {
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(hint === undefined ? {} : { hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.errno = errno;
    this.errnoName = errnoName;
    this.operation = operation;
  }
}

/** Wraps whatever the netlink package threw into a NetlinkError for `operation`. */
export function fromPackageError(operation: string, err: unknown): NetlinkError {
  if (err instanceof NetlinkError) return err;
  const e = err as { errno?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.errno === 'number' && e.errno !== 0) return new NetlinkError(operation, Math.abs(e.errno), { cause: err });
  if (typeof e?.code === 'string' && errnoByName[e.code] !== undefined) {
    return new NetlinkError(operation, errnoByName[e.code]!, { cause: err });
  }
  const rejected = typeof e?.message === 'string' ? /^Request rejected: (\S+)$/.exec(e.message) : null;
  if (rejected !== null) {
    const name = rejected[1]!;
    const errno = errnoByName[name] ?? (/^-?\d+$/.test(name) ? Math.abs(Number(name)) : 0);
    return new NetlinkError(operation, errno, { cause: err });
  }
  return new NetlinkError(operation, 0, { cause: err });
}

/** The errnos that mean "the thing to delete is already gone", per object kind. */
const GONE = new Set(['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL']);

export function isGone(err: unknown): boolean {
  return err instanceof NetlinkError && GONE.has(err.errnoName);
}

/** Runs a delete; with `missingOk`, "already gone" resolves to false. */
export async function deleting(missingOk: boolean | undefined, run: () => Promise<void>): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (err) {
    if (missingOk === true && isGone(err)) return false;
    throw err;
  }
}

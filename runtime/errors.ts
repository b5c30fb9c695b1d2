/**
 * Skiff's one error hierarchy.
 *
 * Every failure carries a literal `code` (callers branch on it), the input it
 * failed on (an image reference, a pod UUID, a path), what to do next, and the
 * underlying `cause`. The library throws these and never prints; only the CLI
 * entry turns them into one line on stderr and an exit code (exit-codes.ts).
 */

export interface SkiffErrorOptions {
  /** The input the operation failed on: an image reference, a UUID, a path. */
  input?: string;
  /** What the user can do about it, phrased as an instruction. */
  hint?: string;
  cause?: unknown;
}

export type SkiffErrorCode =
  | 'E_USAGE'
  | 'E_NOT_FOUND'
  | 'E_INVALID_STATE'
  | 'E_LOCK_HELD'
  | 'E_IMAGE'
  | 'E_VERIFY'
  | 'E_REGISTRY'
  | 'E_NETWORK'
  | 'E_NATIVE'
  | 'E_CGROUP'
  | 'E_INTERNAL';

export class SkiffError extends Error {
  readonly code: SkiffErrorCode;
  readonly input: string | undefined;
  readonly hint: string | undefined;

  constructor(code: SkiffErrorCode, message: string, options: SkiffErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.input = options.input;
    this.hint = options.hint;
    this.name = new.target.name;
  }
}

/** The command line was wrong: unknown flag, missing argument, bad value. Exit 2. */
export class UsageError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_USAGE', message, options);
  }
}

export class NotFoundError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_NOT_FOUND', message, options);
  }
}

/** A pod or image is in a state that does not allow the operation. */
export class InvalidStateError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_INVALID_STATE', message, options);
  }
}

/** Another process holds the lock on a pod, a store or a lease. */
export class LockHeldError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_LOCK_HELD', message, options);
  }
}

export class ImageError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_IMAGE', message, options);
  }
}

/** Content did not match its digest: nothing of it was stored. */
export class VerifyError extends SkiffError {
  readonly expected: string;
  readonly actual: string;
  constructor(message: string, expected: string, actual: string, options: SkiffErrorOptions = {}) {
    super('E_VERIFY', `${message} (expected ${expected}, got ${actual})`, options);
    this.expected = expected;
    this.actual = actual;
  }
}

export class RegistryError extends SkiffError {
  readonly status: number | undefined;
  constructor(message: string, options: SkiffErrorOptions & { status?: number } = {}) {
    super('E_REGISTRY', message, options);
    this.status = options.status;
  }
}

export class NetworkError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_NETWORK', message, options);
  }
}

/** A system call failed: says which, on what, and with which errno. */
export class NativeError extends SkiffError {
  readonly errno: number;
  readonly errnoName: string;
  readonly syscall: string;
  readonly path: string | undefined;
  constructor(
    syscall: string,
    errno: number,
    errnoName: string,
    options: SkiffErrorOptions & { path?: string } = {},
  ) {
    const where = options.path === undefined ? '' : ` ${options.path}`;
    super('E_NATIVE', `${syscall}${where}: ${errnoName}`, { input: options.path, ...options });
    this.errno = errno;
    this.errnoName = errnoName;
    this.syscall = syscall;
    this.path = options.path;
  }
}

export class CgroupError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_CGROUP', message, options);
  }
}

/** Wraps anything that is not a SkiffError, so the CLI has one shape to print. */
export function asSkiffError(err: unknown): SkiffError {
  if (err instanceof SkiffError) return err;
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException;
    if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
      return new NativeError(sys.syscall, typeof sys.errno === 'number' ? -sys.errno : 0, sys.code, {
        ...(sys.path === undefined ? {} : { path: sys.path }),
        cause: err,
      });
    }
    return new SkiffError('E_INTERNAL', err.message, {
      cause: err,
      hint: 'this is a bug in skiff; rerun with --debug and report the stack',
    });
  }
  return new SkiffError('E_INTERNAL', String(err), {
    hint: 'this is a bug in skiff; rerun with --debug and report it',
  });
}

/**
 * The one line the CLI prints: what failed, on which input, and what to do.
 * Example: `skiff: fetch docker://127.0.0.1:5000/app: manifest unknown; check the tag`
 */
export function formatErrorLine(err: SkiffError, command?: string): string {
  const head = command === undefined ? 'skiff' : `skiff ${command}`;
  const input = err.input === undefined || err.message.includes(err.input) ? '' : ` ${err.input}`;
  const hint = err.hint === undefined ? '' : `; ${err.hint}`;
  const message = hint === '' ? err.message : err.message.replace(/\.$/, '');
  return `${head}:${input} ${message}${hint}`.replace(/\s*\n\s*/g, ' ');
}

/**
 * What can go wrong talking to a KvStore, typed so the daemon can branch: an unavailable store
 * is retried with backoff (the data path stays as it is), refused credentials are not.
 */
import { NetworkError, SkiffError, type SkiffErrorOptions } from '../../runtime/errors.js';

/** Every endpoint failed; `reasons` has one entry per endpoint, in the order tried. */
export class KvUnavailableError extends NetworkError {
  readonly reasons: ReadonlyArray<{ endpoint: string; reason: string }>;
  constructor(what: string, reasons: ReadonlyArray<{ endpoint: string; reason: string }>, options: SkiffErrorOptions = {}) {
    const detail = reasons.map((r) => `${r.endpoint}: ${r.reason}`).join('; ');
    super(`${what}: no etcd endpoint answered (${detail})`, {
      hint: 'check that etcd is running and reachable, and --etcd-endpoints',
      ...options,
    });
    this.reasons = reasons;
  }
}

/** etcd refused our identity: wrong user or password, no credentials where auth is on, no permission. */
export class KvAuthError extends NetworkError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super(message, { hint: 'check --etcd-username and --etcd-password (and the user\'s role)', ...options });
  }
}

/** etcd answered with an error we do not expect (bad request, too large, ...). */
export class KvRequestError extends NetworkError {
  /** The gRPC status code etcd gave (5 not found, 11 out of range...), if any. */
  readonly grpcCode: number | undefined;
  readonly httpStatus: number | undefined;
  constructor(message: string, options: SkiffErrorOptions & { grpcCode?: number; httpStatus?: number } = {}) {
    super(message, options);
    this.grpcCode = options.grpcCode;
    this.httpStatus = options.httpStatus;
  }
}

/** The embedded store's files are not what it wrote (not a torn tail, which is repaired). */
export class KvCorruptError extends SkiffError {
  constructor(message: string, options: SkiffErrorOptions = {}) {
    super('E_INVALID_STATE', message, {
      hint: 'the embedded kv store is damaged; move the directory aside to start empty (leases are re-acquired)',
      ...options,
    });
  }
}

/**
 * Internal to the watch loops: the revision asked for was compacted away (etcd's
 * compact_revision). Never leaves a KvStore: the watch turns it into a `resync` event.
 */
export class KvCompactedError extends Error {
  readonly compactRevision: number;
  constructor(compactRevision: number) {
    super(`revision compacted (compact revision ${compactRevision})`);
    this.compactRevision = compactRevision;
    this.name = 'KvCompactedError';
  }
}

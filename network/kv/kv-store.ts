/**
 * The key-value store the overlay coordinates through: etcd (v3 JSON gateway) or an embedded file
 * store, one contract (test/support/kv-contract.ts runs against both).
 *
 * The model is etcd v3's, because flannel nodes share the same etcd: one global revision counter
 * that every change bumps; each key carries the revision that created it, the one that last
 * changed it and how many times it changed since creation; keys may hang on a lease (a TTL the
 * owner keeps alive) and vanish, with DELETE events, when the lease is revoked or expires. Keys
 * and values are strings (UTF-8); etcd's base64 is the adapter's business.
 *
 * Conditional writes (createIfAbsent, compareAndSwap) return a KvConflict instead of throwing:
 * losing a race is a normal outcome the caller branches on (flannel turned it into a hard error).
 */

/** etcd lease IDs are int64: kept as decimal strings, past Number's precision. */
export type LeaseId = string;

export interface KeyValue {
  key: string;
  value: string;
  /** The revision of the change that created the key (this incarnation of it). */
  createRevision: number;
  /** The revision of the last change to the key. */
  modRevision: number;
  /** 1 on creation, +1 on each change. */
  version: number;
  /** The lease the key is attached to, if any. */
  lease?: LeaseId;
}

export interface ListResult {
  /** Sorted by key (byte order). */
  kvs: KeyValue[];
  /** The store's revision the list was read at: watch from revision + 1 to miss nothing. */
  revision: number;
}

export interface Lease {
  id: LeaseId;
  /** Seconds: granted on grantLease, left on keepAlive (etcd may round a small TTL up). */
  ttl: number;
}

export interface WriteOptions {
  /** Attach the key to this lease. */
  lease?: LeaseId;
  /**
   * Grant a fresh lease of this many seconds and attach the key to it; on a conflict the lease
   * is revoked again. The granted lease is returned in the result.
   */
  ttl?: number;
}

export interface WriteOk {
  ok: true;
  kv: KeyValue;
  /** The lease granted for `ttl`, if one was asked for. */
  lease?: Lease;
}

/** A conditional write lost: `current` is what is there now (undefined: the key is absent). */
export interface KvConflict {
  ok: false;
  current: KeyValue | undefined;
}

export type WriteResult = WriteOk | KvConflict;

export type WatchEvent =
  | { type: 'put'; revision: number; kv: KeyValue; prevKv?: KeyValue }
  | { type: 'delete'; revision: number; key: string; prevKv?: KeyValue }
  /**
   * Events were lost (the revision to resume from was compacted away): here is the complete
   * current list under the prefix at `revision`; replace what you had with it. Events after it
   * follow as usual.
   */
  | { type: 'resync'; revision: number; kvs: KeyValue[] };

export interface WatchOptions {
  /**
   * The first revision to deliver (usually list().revision + 1). Omitted: changes from now on.
   * A revision that is already compacted gives a `resync` event first.
   */
  fromRevision?: number;
  /** Ends the watch; the iterator then finishes without an error. */
  signal?: AbortSignal;
  /**
   * Told about each transient failure the watch retries through (an etcd down, a dropped stream),
   * for a log line; the watch itself goes on, resuming from the last revision it delivered.
   */
  onRetry?: (err: Error) => void;
}

export interface KvStore {
  readonly kind: 'etcd' | 'embedded';
  /** Where the store is, for messages: the endpoints or the directory. */
  readonly describe: string;

  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with `prefix` ('' for all keys). */
  list(prefix: string): Promise<ListResult>;
  /** Unconditional write. */
  put(key: string, value: string, options?: { lease?: LeaseId }): Promise<KeyValue>;
  /** Writes only if the key does not exist. */
  createIfAbsent(key: string, value: string, options?: WriteOptions): Promise<WriteResult>;
  /** Writes only if the key exists with this modRevision. */
  compareAndSwap(key: string, value: string, modRevision: number, options?: WriteOptions): Promise<WriteResult>;
  /**
   * Deletes the key (only if its modRevision is `modRevision`, when given); true when a key was
   * deleted, false when it was absent or had changed.
   */
  delete(key: string, options?: { modRevision?: number }): Promise<boolean>;
  /**
   * Changes under `prefix`, in revision order, as an async iterator. Survives store outages
   * (resumes from the last delivered revision) and compaction (a `resync` event). Breaking out of
   * the loop or aborting the signal ends it; a non-transient failure (credentials refused) is
   * thrown from the iterator.
   */
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent>;

  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Renews the lease; undefined when it no longer exists (expired or revoked). */
  keepAlive(id: LeaseId): Promise<Lease | undefined>;
  /** Seconds left, or undefined when the lease no longer exists. */
  timeToLive(id: LeaseId): Promise<number | undefined>;
  /** Revokes the lease and deletes its keys; false when it did not exist. */
  revokeLease(id: LeaseId): Promise<boolean>;

  /** Drops the history before `revision` (watches resuming from earlier get a resync). */
  compact(revision: number): Promise<void>;
  /** Releases connections, files and timers; open watches end. */
  close(): Promise<void>;
}

/** The end of the key range holding every key that starts with `prefix` (etcd's range_end). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // Empty prefix or all 0xff: etcd's "\0" means "to the end of the keyspace".
  return Buffer.from([0]);
}

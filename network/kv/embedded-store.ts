/**
 * KvStore in a directory, for one machine without etcd: the same semantics (a global revision,
 * create revisions and versions, leases with TTLs, conditional writes, watches with history and
 * resync), shared by every process that opens the same directory (several netns "hosts" on one
 * machine), crash-safe. The journal (embedded-journal.ts) does the file work; this file maps the
 * KvStore operations onto journal records.
 *
 * Lease expiry is wall-clock and checked on every access: whoever touches the store after a
 * lease's time (a read, a write, a watch's timer) records the expiry under the lock, so the
 * lease's keys vanish with DELETE events at one revision, as etcd revokes them.
 */
import { randomBytes } from 'node:crypto';
import { UsageError } from '../../runtime/errors.js';
import { Journal, type JournalOptions, type Tx } from './embedded-journal.js';
import { ChangeNotifier } from './embedded-watch.js';
import { KvCorruptError, KvRequestError } from './kv-errors.js';
import type {
  KeyValue,
  KvStore,
  Lease,
  LeaseId,
  ListResult,
  WatchEvent,
  WatchOptions,
  WriteOptions,
  WriteResult,
} from './kv-store.js';
import { WatchChannel } from './watch-channel.js';

const GRPC_NOT_FOUND = 5;
const GRPC_OUT_OF_RANGE = 11;
const WATCH_BACKOFF_MAX_MS = 5_000;

export class EmbeddedKvStore implements KvStore {
  readonly kind = 'embedded';
  readonly #journal: Journal;
  readonly #notifier: ChangeNotifier;
  readonly #watches = new Set<WatchChannel<WatchEvent>>();
  #closed = false;

  private constructor(journal: Journal) {
    this.#journal = journal;
    this.#notifier = new ChangeNotifier(journal.dir);
  }

  /** Opens (creating if needed) the store in `dir`, e.g. `<--dir>/kv`. Options: tests' small thresholds. */
  static async open(dir: string, options: JournalOptions = {}): Promise<EmbeddedKvStore> {
    return new EmbeddedKvStore(await Journal.open(dir, options));
  }

  get describe(): string {
    return `embedded store ${this.#journal.dir}`;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const state = await this.#read();
    const kv = state.keys.get(key);
    return kv === undefined ? undefined : { ...kv };
  }

  async list(prefix: string): Promise<ListResult> {
    const state = await this.#read();
    return { kvs: state.list(prefix).map((kv) => ({ ...kv })), revision: state.revision };
  }

  put(key: string, value: string, options: { lease?: LeaseId } = {}): Promise<KeyValue> {
    return this.#transact((tx) => putRecord(tx, key, value, options.lease, `put ${key}`));
  }

  createIfAbsent(key: string, value: string, options: WriteOptions = {}): Promise<WriteResult> {
    return this.#conditionalPut(key, value, (current) => current === undefined, options, `create ${key}`);
  }

  compareAndSwap(key: string, value: string, modRevision: number, options: WriteOptions = {}): Promise<WriteResult> {
    return this.#conditionalPut(key, value, (current) => (current?.modRevision ?? 0) === modRevision, options, `update ${key}`);
  }

  delete(key: string, options: { modRevision?: number } = {}): Promise<boolean> {
    return this.#transact((tx) => {
      const current = tx.state.keys.get(key);
      if (current === undefined) return false;
      if (options.modRevision !== undefined && current.modRevision !== options.modRevision) return false;
      tx.append({ t: 'del', r: tx.state.revision + 1, k: [key] });
      return true;
    });
  }

  watch(prefix: string, options: WatchOptions = {}): AsyncIterable<WatchEvent> {
    const channel = new WatchChannel<WatchEvent>((push, signal) => this.#watchLoop(prefix, options, push, signal), options.signal);
    this.#watches.add(channel);
    return channel;
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    const ttl = leaseTtl(ttlSeconds);
    return this.#transact((tx) => ({ id: grant(tx, ttl), ttl }));
  }

  keepAlive(id: LeaseId): Promise<Lease | undefined> {
    return this.#transact((tx) => {
      const lease = tx.state.leases.get(id);
      if (lease === undefined) return undefined;
      tx.append({ t: 'keep', id, exp: Date.now() + lease.ttl * 1000 });
      return { id, ttl: lease.ttl };
    });
  }

  async timeToLive(id: LeaseId): Promise<number | undefined> {
    const lease = (await this.#read()).leases.get(id);
    return lease === undefined ? undefined : Math.max(0, Math.ceil((lease.expiresAt - Date.now()) / 1000));
  }

  revokeLease(id: LeaseId): Promise<boolean> {
    return this.#transact((tx) => {
      const lease = tx.state.leases.get(id);
      if (lease === undefined) return false;
      const keys = [...lease.keys].sort();
      tx.append(keys.length > 0 ? { t: 'revoke', id, r: tx.state.revision + 1, k: keys } : { t: 'revoke', id, k: [] });
      return true;
    });
  }

  compact(revision: number): Promise<void> {
    return this.#transact((tx) => {
      if (revision > tx.state.revision) {
        throw new KvRequestError(`compact to revision ${revision}: the store is only at revision ${tx.state.revision}`, { grpcCode: GRPC_OUT_OF_RANGE });
      }
      if (revision > tx.state.compactRevision) this.#journal.compact(revision);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#watches) w.end();
    this.#watches.clear();
    this.#notifier.close();
    // Writes already queued still run before the file is closed.
    await this.#journal.idle();
    this.#journal.close();
  }

  /** The latest state, with any lease past its time expired first. */
  async #read() {
    this.#assertOpen();
    this.#journal.refresh(false);
    if (this.#journal.state.expired(Date.now()).length > 0) await this.#transact(() => undefined);
    return this.#journal.state;
  }

  async #transact<T>(fn: (tx: Tx) => T): Promise<T> {
    this.#assertOpen();
    const before = this.#journal.state.revision;
    const result = await this.#journal.transact(fn);
    if (this.#journal.state.revision !== before) this.#notifier.notify();
    return result;
  }

  async #conditionalPut(
    key: string,
    value: string,
    holds: (current: KeyValue | undefined) => boolean,
    options: WriteOptions,
    what: string,
  ): Promise<WriteResult> {
    checkWriteOptions(options, what);
    const ttl = options.ttl === undefined ? undefined : leaseTtl(options.ttl);
    return this.#transact((tx): WriteResult => {
      const current = tx.state.keys.get(key);
      if (!holds(current)) return { ok: false, current: current === undefined ? undefined : { ...current } };
      if (ttl === undefined) return { ok: true, kv: putRecord(tx, key, value, options.lease, what) };
      const id = grant(tx, ttl);
      return { ok: true, kv: putRecord(tx, key, value, id, what), lease: { id, ttl } };
    });
  }

  async #watchLoop(prefix: string, options: WatchOptions, push: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const wake = this.#notifier.subscribe();
    let next = options.fromRevision;
    let failures = 0;
    try {
      while (!signal.aborted && !this.#closed) {
        let waitMs = Number.POSITIVE_INFINITY;
        try {
          const state = await this.#read();
          next ??= state.revision + 1;
          if (next < state.compactRevision) {
            push({ type: 'resync', revision: state.revision, kvs: state.list(prefix).map((kv) => ({ ...kv })) });
          } else {
            for (const event of state.eventsFrom(next)) {
              const key = event.type === 'put' ? event.kv.key : event.key;
              if (key.startsWith(prefix)) push(event);
            }
          }
          // A watch from a future revision waits for it.
          next = Math.max(next, state.revision + 1);
          failures = 0;
          const expiry = state.nextExpiry();
          if (expiry !== undefined) waitMs = expiry - Date.now() + 1;
        } catch (err) {
          if (err instanceof KvCorruptError || signal.aborted || this.#closed) throw err;
          failures++;
          options.onRetry?.(err instanceof Error ? err : new Error(String(err)));
          waitMs = Math.min(100 * 2 ** (failures - 1), WATCH_BACKOFF_MAX_MS);
        }
        await wake.wait(waitMs, signal);
      }
    } finally {
      wake.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new UsageError(`${this.describe} is closed`);
  }
}

function putRecord(tx: Tx, key: string, value: string, lease: LeaseId | undefined, what: string): KeyValue {
  if (lease !== undefined && !tx.state.leases.has(lease)) {
    throw new KvRequestError(`${what}: lease ${lease} not found (expired or revoked)`, { grpcCode: GRPC_NOT_FOUND });
  }
  const r = tx.state.revision + 1;
  tx.append(lease === undefined ? { t: 'put', r, k: key, v: value } : { t: 'put', r, k: key, v: value, l: lease });
  return { ...tx.state.keys.get(key)! };
}

/** A new lease ID: a random positive int64, as etcd's look. */
function grant(tx: Tx, ttl: number): LeaseId {
  let id: string;
  do {
    id = (randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn).toString();
  } while (id === '0' || tx.state.leases.has(id));
  tx.append({ t: 'grant', id, ttl, exp: Date.now() + ttl * 1000 });
  return id;
}

function checkWriteOptions(options: WriteOptions, what: string): void {
  if (options.ttl !== undefined && options.lease !== undefined) {
    throw new UsageError(`${what}: give a lease or a TTL, not both`);
  }
}

function leaseTtl(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`a lease TTL must be a positive number of seconds, not ${seconds}`);
  return Math.ceil(seconds);
}

/**
 * The embedded store's state as one process sees it: the journal's records applied in order.
 * Applying is deterministic (no clock, no randomness): every process that reads the same journal
 * holds the same keys, revisions and lease table. Decisions that depend on time (a lease has
 * expired) are made by a writer under the lock and recorded as a `revoke`, so they replay the same.
 *
 * `history` holds the put/delete events of every revision since the journal's snapshot, which is
 * what a watch resuming from an older revision is served from (like etcd's MVCC history until
 * compaction).
 */
import type { LeaseState, LogRecord } from './embedded-log.js';
import type { KeyValue, LeaseId, WatchEvent } from './kv-store.js';

export type HistoryEvent = Exclude<WatchEvent, { type: 'resync' }>;

interface LiveLease extends LeaseState {
  keys: Set<string>;
}

export class KvState {
  /** The revision of the last change (1 for an empty store, as in etcd). */
  revision = 1;
  /** Watches must start at or after this revision; earlier ones were compacted away. */
  compactRevision = 0;
  readonly keys = new Map<string, KeyValue>();
  readonly leases = new Map<LeaseId, LiveLease>();
  readonly history: HistoryEvent[] = [];

  static fromSnapshot(snap: Extract<LogRecord, { t: 'snap' }>): KvState {
    const state = new KvState();
    state.revision = snap.rev;
    state.compactRevision = snap.compact;
    for (const lease of snap.leases) state.leases.set(lease.id, { ...lease, keys: new Set() });
    for (const kv of snap.kvs) {
      state.keys.set(kv.key, kv);
      if (kv.lease !== undefined) state.leases.get(kv.lease)?.keys.add(kv.key);
    }
    return state;
  }

  snapshot(compact: number): Extract<LogRecord, { t: 'snap' }> {
    return {
      t: 'snap',
      rev: this.revision,
      compact,
      kvs: [...this.keys.values()].sort((a, b) => compareKeys(a.key, b.key)),
      leases: [...this.leases.values()].map(({ id, ttl, expiresAt }) => ({ id, ttl, expiresAt })),
    };
  }

  apply(record: LogRecord): void {
    switch (record.t) {
      case 'snap':
        throw new Error('a snapshot record can only start a journal');
      case 'put': {
        const prev = this.keys.get(record.k);
        const kv: KeyValue = {
          key: record.k,
          value: record.v,
          createRevision: prev?.createRevision ?? record.r,
          modRevision: record.r,
          version: (prev?.version ?? 0) + 1,
        };
        if (record.l !== undefined) kv.lease = record.l;
        if (prev?.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(record.k);
        if (record.l !== undefined) this.leases.get(record.l)?.keys.add(record.k);
        this.keys.set(record.k, kv);
        this.revision = record.r;
        this.history.push(prev === undefined ? { type: 'put', revision: record.r, kv } : { type: 'put', revision: record.r, kv, prevKv: prev });
        return;
      }
      case 'del':
        this.#deleteKeys(record.k, record.r);
        return;
      case 'grant':
        this.leases.set(record.id, { id: record.id, ttl: record.ttl, expiresAt: record.exp, keys: new Set() });
        return;
      case 'keep': {
        const lease = this.leases.get(record.id);
        if (lease !== undefined) lease.expiresAt = record.exp;
        return;
      }
      case 'revoke':
        this.leases.delete(record.id);
        if (record.r !== undefined) this.#deleteKeys(record.k, record.r);
        return;
    }
  }

  /** Leases past their expiry at `now`, soonest first. */
  expired(now: number): LiveLease[] {
    return [...this.leases.values()].filter((l) => l.expiresAt <= now).sort((a, b) => a.expiresAt - b.expiresAt);
  }

  /** When the next lease expires (ms since the epoch), if any. */
  nextExpiry(): number | undefined {
    let soonest: number | undefined;
    for (const l of this.leases.values()) if (soonest === undefined || l.expiresAt < soonest) soonest = l.expiresAt;
    return soonest;
  }

  list(prefix: string): KeyValue[] {
    return [...this.keys.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => compareKeys(a.key, b.key));
  }

  /** History events at `from` and later (history is in revision order). */
  eventsFrom(from: number): HistoryEvent[] {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid]!.revision < from) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  #deleteKeys(keys: readonly string[], revision: number): void {
    for (const key of keys) {
      const prev = this.keys.get(key);
      if (prev === undefined) continue;
      if (prev.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(key);
      this.keys.delete(key);
      this.history.push({ type: 'delete', revision, key, prevKv: prev });
    }
    this.revision = revision;
  }
}

/** etcd orders keys by their bytes; UTF-16 order differs for characters past the BMP. */
export function compareKeys(a: string, b: string): number {
  if (SURROGATE.test(a) || SURROGATE.test(b)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  // Without surrogates, UTF-16 code unit order is UTF-8 byte order.
  return a < b ? -1 : a > b ? 1 : 0;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * A watch on etcd through the gateway: one streaming POST /v3/watch whose response is
 * newline-delimited JSON, one `{"result": WatchResponse}` per line (the first says `created`).
 *
 * Resuming: every delivered event moves `next` to its revision + 1, and so does a progress
 * notification (asked for with progress_notify: etcd then vouches that everything up to its
 * header revision was sent, which keeps an idle watch from falling behind a compaction). When the
 * stream drops (etcd restarted, an endpoint died) the watch is re-created from `next` on whichever
 * endpoint answers, with backoff, forever until aborted: the daemon's data path must survive an
 * etcd outage. When `next` was compacted away etcd cancels the watch with compact_revision: then
 * the prefix is listed afresh, handed out as one `resync` event, and the watch goes on after it.
 * (flannel #2470: its watch never recovered from compaction and hot-looped.)
 */
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeKv, headerRevision, int64, toBase64, type RawEvent, type RawHeader } from './etcd-json.js';
import { classifyError, isStaleToken, type EtcdTransport } from './etcd-transport.js';
import { KvAuthError, KvCompactedError, KvRequestError } from './kv-errors.js';
import { prefixRangeEnd, type ListResult, type WatchEvent, type WatchOptions } from './kv-store.js';
import { WatchChannel } from './watch-channel.js';

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** Cancels for a stale token in a row before the credentials count as refused. */
const MAX_AUTH_RETRIES = 2;

interface RawWatchResponse {
  header?: RawHeader;
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
  events?: RawEvent[];
}

export function etcdWatch(
  transport: EtcdTransport,
  prefix: string,
  options: WatchOptions,
  list: (prefix: string) => Promise<ListResult>,
): WatchChannel<WatchEvent> {
  return new WatchChannel<WatchEvent>(async (push, signal) => {
    const key = Buffer.from(prefix, 'utf8');
    const rangeEnd = prefixRangeEnd(key);
    let next = options.fromRevision;
    let failures = 0;
    let authRetries = 0;
    while (!signal.aborted) {
      try {
        const createRequest: Record<string, unknown> = {
          key: toBase64(key.length === 0 ? Buffer.from([0]) : key),
          range_end: toBase64(rangeEnd),
          prev_kv: true,
          progress_notify: true,
        };
        if (next !== undefined) createRequest['start_revision'] = String(next);
        const body = await transport.stream('/v3/watch', { create_request: createRequest }, `watch ${prefix}`, signal);
        let reopen = false;
        for await (const line of ndjsonLines(body)) {
          const msg = JSON.parse(line) as { result?: RawWatchResponse; error?: { message?: string; code?: number; error?: string } };
          if (msg.error !== undefined) {
            const text = msg.error.message ?? msg.error.error ?? 'watch stream error';
            throw new Error(`watch stream error from etcd: ${text}`);
          }
          const res = msg.result ?? {};
          if (res.canceled) {
            const compacted = int64(res.compact_revision);
            if (compacted > 0) throw new KvCompactedError(compacted);
            const reason = res.cancel_reason ?? 'no reason given';
            if (isStaleToken({ error: reason }) && authRetries < MAX_AUTH_RETRIES) {
              authRetries++;
              transport.invalidateToken();
              reopen = true;
              break;
            }
            throw classifyError(`watch ${prefix}`, `etcd cancelled the watch: ${reason}`, undefined);
          }
          if (res.created) {
            failures = 0;
            authRetries = 0;
            if (next === undefined) next = headerRevision(res) + 1;
            continue;
          }
          // One message holds all the events of a revision (a txn, a lease revoke deleting several
          // keys share one): `next` moves past them only once the whole message is delivered.
          const from = next ?? 0;
          const events = (res.events ?? []).map(decodeEvent).filter((e) => e.revision >= from);
          for (const event of events) push(event);
          const last = events.at(-1);
          if (last !== undefined) next = last.revision + 1;
          else if (res.events === undefined && next !== undefined) next = Math.max(next, headerRevision(res) + 1);
        }
        if (!reopen) throw new Error('etcd closed the watch stream');
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof KvAuthError || err instanceof KvRequestError) throw err;
        if (err instanceof KvCompactedError) {
          try {
            const fresh = await list(prefix);
            push({ type: 'resync', revision: fresh.revision, kvs: fresh.kvs });
            next = fresh.revision + 1;
            failures = 0;
            continue;
          } catch (listErr) {
            if (signal.aborted) return;
            if (listErr instanceof KvAuthError) throw listErr;
            err = listErr;
          }
        }
        failures++;
        options.onRetry?.(err instanceof Error ? err : new Error(String(err)));
        const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (failures - 1), BACKOFF_MAX_MS) * (0.8 + 0.4 * Math.random());
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          return;
        }
      }
    }
  }, options.signal);
}

function decodeEvent(raw: RawEvent): WatchEvent {
  const kv = decodeKv(raw.kv ?? {});
  const prevKv = raw.prev_kv === undefined ? undefined : decodeKv(raw.prev_kv);
  if (raw.type === 'DELETE') {
    return { type: 'delete', revision: kv.modRevision, key: kv.key, ...(prevKv ? { prevKv } : {}) };
  }
  return { type: 'put', revision: kv.modRevision, kv, ...(prevKv ? { prevKv } : {}) };
}

async function* ndjsonLines(body: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of body) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') yield line;
    }
  }
  if (pending.trim() !== '') yield pending.trim();
}

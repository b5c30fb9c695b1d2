/**
 * The one KvStore contract, run against every implementation (test/unit/kv-embedded.test.ts,
 * test/integration/kv-etcd.test.ts), so the embedded store cannot drift from etcd. Each test
 * works under its own random key prefix; compaction is store-wide, so callers register these as
 * serial tests when they share one store between tests.
 *
 * No timing assertions: every wait for an event is bounded and fails with what did arrive.
 */
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { KvRequestError } from '../../network/kv/kv-errors.js';
import type { KvStore, WatchEvent } from '../../network/kv/kv-store.js';

export interface KvFixture {
  store: KvStore;
  /** Another client on the same data (another process, for the embedded store). */
  other(): Promise<KvStore>;
}

export type Register = (title: string, impl: (t: ExecutionContext) => Promise<void>) => void;

/** Long enough for etcd's lease checker (every 500 ms) after a 2 s lease, on a busy 2-core box. */
const EXPIRY_WAIT_MS = 20_000;
const EVENT_WAIT_MS = 10_000;

export function uniquePrefix(): string {
  return `/skiff-test/${randomBytes(5).toString('hex')}/`;
}

/** Pulls `count` events from the iterator, failing after `timeoutMs` with what arrived so far. */
export async function takeEvents(
  it: AsyncIterator<WatchEvent>,
  count: number,
  timeoutMs = EVENT_WAIT_MS,
): Promise<WatchEvent[]> {
  const got: WatchEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    const next = await Promise.race([it.next(), timeout]);
    clearTimeout(timer);
    if (next === 'timeout') throw new Error(`waited ${timeoutMs} ms for ${count} watch events, got ${got.length}: ${JSON.stringify(got)}`);
    if (next.done) throw new Error(`the watch ended after ${got.length} of ${count} events: ${JSON.stringify(got)}`);
    got.push(next.value);
  }
  return got;
}

export function watchIterator(store: KvStore, prefix: string, t: ExecutionContext, fromRevision?: number): AsyncIterator<WatchEvent> {
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const opts = fromRevision === undefined ? { signal: abort.signal } : { signal: abort.signal, fromRevision };
  return store.watch(prefix, opts)[Symbol.asyncIterator]();
}

/** An event as a short string: "put a=1@5", "delete a@6", "resync [a=1]@7" (keys relative to prefix). */
export function brief(event: WatchEvent, prefix: string, withRevision = false): string {
  const at = withRevision ? `@${event.revision}` : '';
  const rel = (key: string): string => (key.startsWith(prefix) ? key.slice(prefix.length) : key);
  switch (event.type) {
    case 'put':
      return `put ${rel(event.kv.key)}=${event.kv.value}${at}`;
    case 'delete':
      return `delete ${rel(event.key)}${at}`;
    case 'resync':
      return `resync [${event.kvs.map((kv) => `${rel(kv.key)}=${kv.value}`).join(',')}]${at}`;
  }
}

export function kvContract(name: string, register: Register, open: (t: ExecutionContext) => Promise<KvFixture>): void {
  const test = (title: string, impl: (t: ExecutionContext) => Promise<void>): void => register(`${name}: ${title}`, impl);

  test('get, put and list: revisions and versions move like etcd, list takes exactly the prefix', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    t.is(await store.get(`${p}a`), undefined);
    const a1 = await store.put(`${p}a`, 'one');
    t.like(a1, { key: `${p}a`, value: 'one', version: 1 });
    t.is(a1.createRevision, a1.modRevision);
    t.is(a1.lease, undefined);
    const a2 = await store.put(`${p}a`, 'two');
    t.like(a2, { value: 'two', version: 2, createRevision: a1.createRevision });
    t.true(a2.modRevision > a1.modRevision);
    t.deepEqual(await store.get(`${p}a`), a2);
    await store.put(`${p}b/c`, 'three');
    await store.put(`${p.slice(0, -1)}x`, 'outside');
    const listed = await store.list(p);
    t.deepEqual(listed.kvs.map((kv) => [kv.key.slice(p.length), kv.value]), [['a', 'two'], ['b/c', 'three']]);
    t.true(listed.revision >= Math.max(...listed.kvs.map((kv) => kv.modRevision)));
    const empty = await store.list(`${p}nothing/`);
    t.deepEqual(empty.kvs, []);
    t.is(empty.revision, listed.revision);
  });

  test('createIfAbsent: the first wins, the second gets a conflict with the current value; free again after delete', async (t) => {
    const { store } = await open(t);
    const key = `${uniquePrefix()}subnet`;
    const first = await store.createIfAbsent(key, 'mine');
    t.true(first.ok);
    if (!first.ok) return;
    t.like(first.kv, { key, value: 'mine', version: 1 });
    const second = await store.createIfAbsent(key, 'theirs');
    t.false(second.ok);
    t.deepEqual(second.ok ? undefined : second.current, first.kv);
    t.is((await store.get(key))?.value, 'mine');
    t.true(await store.delete(key));
    const third = await store.createIfAbsent(key, 'again');
    t.true(third.ok);
    t.like(third.ok ? third.kv : undefined, { value: 'again', version: 1 });
  });

  test('compareAndSwap by modRevision: the current revision wins, a stale one conflicts; 0 matches an absent key', async (t) => {
    const { store } = await open(t);
    const key = `${uniquePrefix()}k`;
    const absent = await store.compareAndSwap(key, 'x', 5);
    t.deepEqual(absent, { ok: false, current: undefined });
    const created = await store.compareAndSwap(key, 'v1', 0);
    t.true(created.ok);
    if (!created.ok) return;
    const swapped = await store.compareAndSwap(key, 'v2', created.kv.modRevision);
    t.true(swapped.ok);
    if (!swapped.ok) return;
    t.like(swapped.kv, { value: 'v2', version: 2, createRevision: created.kv.createRevision });
    t.deepEqual(await store.get(key), swapped.kv);
    const stale = await store.compareAndSwap(key, 'v3', created.kv.modRevision);
    t.false(stale.ok);
    t.deepEqual(stale.ok ? undefined : stale.current, swapped.kv);
  });

  test('delete: true once, false when absent; a stale modRevision keeps the key', async (t) => {
    const { store } = await open(t);
    const key = `${uniquePrefix()}k`;
    t.false(await store.delete(key));
    const kv = await store.put(key, 'v');
    const newer = await store.put(key, 'w');
    t.false(await store.delete(key, { modRevision: kv.modRevision }));
    t.is((await store.get(key))?.value, 'w');
    t.true(await store.delete(key, { modRevision: newer.modRevision }));
    t.is(await store.get(key), undefined);
    t.false(await store.delete(key));
  });

  test('UTF-8 keys and values round-trip: non-ASCII, newlines, JSON, empty value', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    const cases: Array<[string, string]> = [
      [`${p}ünï/κλειδί`, 'välue ✓ 🚀'],
      [`${p}json`, JSON.stringify({ PublicIP: '198.19.0.2', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } })],
      [`${p}lines`, 'a\nb\r\nc\u0000d'],
      [`${p}empty`, ''],
    ];
    for (const [k, v] of cases) await store.put(k, v);
    for (const [k, v] of cases) t.is((await store.get(k))?.value, v, k);
    const listed = await store.list(p);
    t.deepEqual(listed.kvs.map((kv) => kv.key).sort(), cases.map(([k]) => k).sort());
  });

  test('two clients racing createIfAbsent on the same keys: exactly one winner per key', async (t) => {
    const { store, other } = await open(t);
    const second = await other();
    const p = uniquePrefix();
    const keys = Array.from({ length: 20 }, (_, i) => `${p}subnets/198.18.${i}.0-24`);
    const results = await Promise.all(
      keys.flatMap((k) => [store.createIfAbsent(k, 'one'), second.createIfAbsent(k, 'two')]),
    );
    for (let i = 0; i < keys.length; i++) {
      const [a, b] = [results[2 * i]!, results[2 * i + 1]!];
      t.true(a.ok !== b.ok, `${keys[i]}: exactly one of the two creates wins`);
      const winner = a.ok ? 'one' : 'two';
      t.is((await store.get(keys[i]!))?.value, winner);
      const loser = a.ok ? b : a;
      t.is(loser.ok ? undefined : loser.current?.value, winner);
    }
  });

  test('watch from a past revision replays history in order with prevKv, then delivers live changes from another client', async (t) => {
    const { store, other } = await open(t);
    const second = await other();
    const p = uniquePrefix();
    const start = (await store.list(p)).revision + 1;
    await store.put(`${p}a`, '1');
    await store.put(`${p}a`, '2');
    await store.put(`${p.slice(0, -1)}-elsewhere`, 'not watched');
    await store.delete(`${p}a`);
    const it = watchIterator(store, p, t, start);
    const past = await takeEvents(it, 3);
    t.deepEqual(past.map((e) => brief(e, p)), ['put a=1', 'put a=2', 'delete a']);
    const [, put2, del] = past;
    t.is(put2?.type === 'put' ? put2.prevKv?.value : undefined, '1');
    t.is(del?.type === 'delete' ? del.prevKv?.value : undefined, '2');
    t.true(past[0]!.revision < past[1]!.revision && past[1]!.revision < past[2]!.revision);
    await second.put(`${p}b`, 'live');
    const [live] = await takeEvents(it, 1);
    t.is(brief(live!, p), 'put b=live');
    t.like(live?.type === 'put' ? live.kv : undefined, { version: 1, value: 'live' });
  });

  test('watch without fromRevision sees only later changes; abort and return() both end it at once', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    await store.put(`${p}before`, 'x');
    const abort = new AbortController();
    const watch = store.watch(p, { signal: abort.signal });
    // The watch exists once watch() returned on the embedded store; on etcd once it is created:
    // write until the first change shows up, then check nothing older came with it.
    const it = watch[Symbol.asyncIterator]();
    let marker = 0;
    let first: WatchEvent | undefined;
    const pending = it.next();
    while (first === undefined && marker < 50) {
      await store.put(`${p}after`, String(++marker));
      const got = await Promise.race([pending, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (got !== undefined && !got.done) first = got.value;
    }
    t.truthy(first, 'a change after watch() arrives');
    t.regex(brief(first!, p), /^put after=\d+$/);
    abort.abort();
    const end = await Promise.race([it.next(), new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), EVENT_WAIT_MS))]);
    t.not(end, 'stuck');
    // return() (what a break out of for-await calls) ends a loop waiting on a quiet prefix at once.
    const quiet = store.watch(`${p}quiet/`);
    const loop = (async () => {
      for await (const _ of quiet) break;
      return 'ended';
    })();
    await (quiet as AsyncIterableIterator<WatchEvent>).return?.();
    t.is(await Promise.race([loop, new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), EVENT_WAIT_MS))]), 'ended');
  });

  test('leases: grant, attach, keepAlive, timeToLive; revoke deletes the keys with DELETE events; a gone lease is undefined/false', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    const lease = await store.grantLease(60);
    t.true(lease.ttl >= 60);
    t.regex(lease.id, /^[1-9][0-9]*$/);
    const start = (await store.list(p)).revision + 1;
    const created = await store.createIfAbsent(`${p}leased`, 'v', { lease: lease.id });
    t.true(created.ok);
    t.is(created.ok ? created.kv.lease : undefined, lease.id);
    await store.put(`${p}plain`, 'p');
    await store.put(`${p}leased-too`, 'w', { lease: lease.id });
    t.is((await store.get(`${p}leased`))?.lease, lease.id);
    const kept = await store.keepAlive(lease.id);
    t.deepEqual(kept, { id: lease.id, ttl: lease.ttl });
    const left = await store.timeToLive(lease.id);
    t.true(left !== undefined && left > 0 && left <= lease.ttl);
    const it = watchIterator(store, p, t, start);
    await takeEvents(it, 3);
    t.true(await store.revokeLease(lease.id));
    // Both keys go in one revision, as etcd revokes them: both events arrive, in key order.
    const gone = await takeEvents(it, 2);
    t.deepEqual(gone.map((e) => brief(e, p)), ['delete leased', 'delete leased-too']);
    t.is(gone[0]!.revision, gone[1]!.revision);
    t.is(await store.get(`${p}leased`), undefined);
    t.is((await store.get(`${p}plain`))?.value, 'p');
    t.false(await store.revokeLease(lease.id));
    t.is(await store.keepAlive(lease.id), undefined);
    t.is(await store.timeToLive(lease.id), undefined);
    const err = await t.throwsAsync(store.put(`${p}x`, 'v', { lease: lease.id }));
    t.true(err instanceof KvRequestError, String(err));
  });

  test('createIfAbsent with a TTL: the key vanishes with a DELETE event when its lease expires', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    const start = (await store.list(p)).revision + 1;
    const created = await store.createIfAbsent(`${p}short`, 'v', { ttl: 2 });
    t.true(created.ok);
    if (!created.ok) return;
    t.truthy(created.lease);
    t.is(created.kv.lease, created.lease?.id);
    const lost = await store.createIfAbsent(`${p}short`, 'w', { ttl: 2 });
    t.false(lost.ok);
    const it = watchIterator(store, p, t, start);
    const events = await takeEvents(it, 2, EXPIRY_WAIT_MS);
    t.deepEqual(events.map((e) => brief(e, p)), ['put short=v', 'delete short']);
    t.is(await store.get(`${p}short`), undefined);
    t.is(await store.keepAlive(created.lease!.id), undefined);
  });

  test('compaction: a watch from a compacted revision starts with a resync holding the full list, then goes on', async (t) => {
    const { store } = await open(t);
    const p = uniquePrefix();
    const start = (await store.list(p)).revision + 1;
    await store.put(`${p}a`, '1');
    await store.put(`${p}b`, '1');
    await store.put(`${p}a`, '2');
    await store.delete(`${p}b`);
    const now = (await store.list(p)).revision;
    await store.compact(now);
    await store.compact(now); // idempotent
    const it = watchIterator(store, p, t, start);
    const [resync] = await takeEvents(it, 1);
    t.is(resync?.type, 'resync');
    t.is(brief(resync!, p), 'resync [a=2]');
    t.true(resync!.revision >= now);
    await store.put(`${p}c`, '3');
    const [after] = await takeEvents(it, 1);
    t.is(brief(after!, p), 'put c=3');
    // A watch from after the compaction needs no resync.
    const it2 = watchIterator(store, p, t, now + 1);
    const [first] = await takeEvents(it2, 1);
    t.is(brief(first!, p), 'put c=3');
  });
}


/**
 * The KvStore's pieces that need no store: etcd's proto3 JSON (int64 strings, omitted
 * defaults, base64), endpoint and TLS option rules, prefix range ends, and the watch iterator's
 * ending. The stores themselves are tested by the contract (kv-embedded, kv-etcd).
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UsageError } from '../../runtime/errors.js';
import { decodeKv, int64, leaseId, toBase64 } from '../../network/kv/etcd-json.js';
import { loadTls, parseEndpoints } from '../../network/kv/etcd-endpoints.js';
import { classifyError, endpointFailed, EtcdTransport, isStaleToken } from '../../network/kv/etcd-transport.js';
import { KvAuthError, KvRequestError, KvUnavailableError } from '../../network/kv/kv-errors.js';
import { prefixRangeEnd } from '../../network/kv/kv-store.js';
import { WatchChannel } from '../../network/kv/watch-channel.js';
import { tempDir } from '../support/temp-dir.js';

test('etcd JSON: int64 strings become numbers, omitted fields their defaults, lease "0" no lease', (t) => {
  t.deepEqual(decodeKv({ key: toBase64('/k'), create_revision: '7', mod_revision: '9', version: '3', value: toBase64('ü') }), {
    key: '/k',
    value: 'ü',
    createRevision: 7,
    modRevision: 9,
    version: 3,
  });
  // A DELETE event's kv: only key and mod_revision; an empty value is omitted altogether.
  t.deepEqual(decodeKv({ key: toBase64('/k'), mod_revision: '10' }), { key: '/k', value: '', createRevision: 0, modRevision: 10, version: 0 });
  t.is(decodeKv({ key: toBase64('/k'), lease: '7587883245830049830' }).lease, '7587883245830049830');
  t.is(leaseId('0'), undefined);
  t.is(int64(undefined), 0);
  t.throws(() => int64('9223372036854775807'), { message: /integer/ });
});

test('prefix range ends: last byte + 1, trailing 0xff dropped, empty or all-0xff prefix means the whole keyspace', (t) => {
  t.deepEqual(prefixRangeEnd(Buffer.from('/a/')), Buffer.from('/a0'));
  t.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff])), Buffer.from([0x62]));
  t.deepEqual(prefixRangeEnd(Buffer.alloc(0)), Buffer.from([0]));
  t.deepEqual(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]));
});

test('endpoints: bare host:port is https when TLS files are given, http otherwise; http with TLS files is refused', (t) => {
  t.deepEqual(parseEndpoints(['127.0.0.1:2379'], false).map(String), ['http://127.0.0.1:2379/']);
  t.deepEqual(parseEndpoints(['127.0.0.1:2379, https://h:1'], true).map(String), ['https://127.0.0.1:2379/', 'https://h:1/']);
  t.throws(() => parseEndpoints(['http://127.0.0.1:2379'], true), { instanceOf: UsageError, message: /plain http, but TLS files were given/ });
  t.throws(() => parseEndpoints(['unix:///run/etcd.sock'], false), { instanceOf: UsageError, message: /scheme unix:/ });
  t.throws(() => parseEndpoints([' , '], false), { instanceOf: UsageError, message: /no etcd endpoint/ });
});

test('TLS options: a CA alone is TLS; a certificate without its key is a usage error; an unreadable file names itself', (t) => {
  const dir = tempDir(t, 'skiff-kv-');
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'CA');
  t.deepEqual(loadTls({ endpoints: [], caFile: ca }), { ca: 'CA' });
  t.is(loadTls({ endpoints: [] }), undefined);
  t.throws(() => loadTls({ endpoints: [], certFile: ca }), { instanceOf: UsageError, message: /--etcd-certfile was given without its pair/ });
  t.throws(() => loadTls({ endpoints: [], caFile: join(dir, 'nope') }), { instanceOf: UsageError, message: /cannot read the etcd CA file .*nope/ });
});

test('an endpoint going away is retried, not reported as a failed request: 5xx, UNAVAILABLE, DEADLINE_EXCEEDED, and the CANCELLED (408) etcd\'s gateway answers while etcd shuts down', async (t) => {
  t.true(endpointFailed(503, {}));
  t.true(endpointFailed(400, { code: 14 }));
  t.true(endpointFailed(400, { code: 4 }));
  t.true(endpointFailed(408, { code: 1 }));
  t.false(endpointFailed(400, { code: 3 }), 'a bad request is the request\'s fault');
  t.false(endpointFailed(404, { code: 5 }));
  // What the gateway said to a watch during a restart (a CI run lost its watch to it): KvUnavailableError, which the watch retries.
  const gateway = createServer((_req, res) => {
    res.writeHead(408, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'grpc: the client connection is closing', code: 1, message: 'grpc: the client connection is closing' }));
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  t.teardown(() => gateway.close());
  const transport = new EtcdTransport({ endpoints: [`http://127.0.0.1:${(gateway.address() as AddressInfo).port}`] });
  t.teardown(() => transport.close());
  const err = await t.throwsAsync(transport.stream('/v3/watch', {}, 'watch /x/', new AbortController().signal));
  t.true(err instanceof KvUnavailableError, String(err));
  t.regex(err!.message, /client connection is closing/);
});

test('etcd errors: credentials problems are KvAuthError, stale tokens are recognised, the rest KvRequestError with the gRPC code', (t) => {
  t.true(classifyError('get /a', 'etcdserver: user name is empty', 3) instanceof KvAuthError);
  t.true(classifyError('get /a', 'etcdserver: authentication failed, invalid user ID or password', 3) instanceof KvAuthError);
  t.true(classifyError('get /a', 'etcdserver: permission denied', 7) instanceof KvAuthError);
  const other = classifyError('put /a', 'etcdserver: requested lease not found', 5);
  t.true(other instanceof KvRequestError);
  t.is((other as KvRequestError).grpcCode, 5);
  t.true(isStaleToken({ code: 16, error: 'etcdserver: invalid auth token' }));
  t.true(isStaleToken({ error: 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token' }));
  t.false(isStaleToken({ code: 3, error: 'etcdserver: user name is empty' }));
  const down = new KvUnavailableError('get /a', [
    { endpoint: 'http://127.0.0.1:1', reason: 'ECONNREFUSED' },
    { endpoint: 'https://127.0.0.1:2', reason: 'HTTP 503: etcdserver: no leader' },
  ]);
  t.is(down.message, 'get /a: no etcd endpoint answered (http://127.0.0.1:1: ECONNREFUSED; https://127.0.0.1:2: HTTP 503: etcdserver: no leader)');
});

test('watch channel: queued events are delivered in order; return() ends a pending next() at once and aborts the producer', async (t) => {
  let producerSignal: AbortSignal | undefined;
  const channel = new WatchChannel<number>(async (push, signal) => {
    producerSignal = signal;
    push(1);
    push(2);
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
  });
  t.deepEqual(await channel.next(), { value: 1, done: false });
  t.deepEqual(await channel.next(), { value: 2, done: false });
  const pending = channel.next();
  await channel.return();
  t.deepEqual(await pending, { value: undefined, done: true });
  t.true(producerSignal?.aborted);
});

test('watch channel: a producer failure reaches the consumer after the events before it; an outer abort ends quietly', async (t) => {
  const failing = new WatchChannel<number>(async (push) => {
    push(1);
    throw new Error('credentials refused');
  });
  const seen: number[] = [];
  await t.throwsAsync(
    (async () => {
      for await (const n of failing) seen.push(n);
    })(),
    { message: 'credentials refused' },
  );
  t.deepEqual(seen, [1]);
  const abort = new AbortController();
  const quiet = new WatchChannel<number>((_push, signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())), abort.signal);
  const next = quiet.next();
  abort.abort();
  t.deepEqual(await next, { value: undefined, done: true });
});

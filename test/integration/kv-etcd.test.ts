/**
 * The etcd KvStore against a real etcd 3.4 (Debian's etcd-server) through its JSON gateway: the
 * shared contract on plain HTTP and on TLS with client certificates, then what only a networked
 * store has: endpoint failover (a dead endpoint first; the endpoint under a live watch dying),
 * TLS with a CA alone, user/password auth (also across an etcd restart, which forgets tokens), a
 * watch resumed after etcd restarts, and "every endpoint down" errors naming each endpoint.
 *
 * Tests on the shared etcd (one per mode) run serially: some compact it, which would hand a
 * concurrent test's watch a resync it does not expect.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { EtcdKvStore } from '../../network/kv/etcd-store.js';
import { KvAuthError, KvUnavailableError } from '../../network/kv/kv-errors.js';
import type { KvStore } from '../../network/kv/kv-store.js';
import type { EtcdOptions } from '../../network/kv/etcd-endpoints.js';
import { startEtcd, type EtcdServer } from '../support/etcd-server.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { freePort } from '../support/free-port.js';
import { brief, kvContract, takeEvents, uniquePrefix, watchIterator } from '../support/kv-contract.js';

const servers = new Map<'plain' | 'tls', Promise<EtcdServer>>();

/** One etcd per mode for the contract tests, started on first use, stopped after the file. */
function shared(mode: 'plain' | 'tls'): Promise<EtcdServer> {
  let server = servers.get(mode);
  if (server === undefined) {
    server = startEtcd({ tls: mode === 'tls' });
    servers.set(mode, server);
  }
  return server;
}

test.after.always(async () => {
  await Promise.all([...servers.values()].map(async (s) => (await s).stop()));
});

function optionsFor(etcd: EtcdServer, extra: Partial<EtcdOptions> = {}): EtcdOptions {
  const tls = etcd.tls
    ? { caFile: etcd.caCertPath!, certFile: etcd.clientCertPath!, keyFile: etcd.clientKeyPath! }
    : {};
  return { endpoints: [etcd.endpoint], ...tls, ...extra };
}

function openStore(t: ExecutionContext, options: EtcdOptions): KvStore {
  const store = new EtcdKvStore(options);
  t.teardown(() => store.close());
  return store;
}

for (const mode of ['plain', 'tls'] as const) {
  kvContract(`etcd ${mode}`, (title, impl) => test.serial(title, impl), async (t) => {
    const etcd = await shared(mode);
    return { store: openStore(t, optionsFor(etcd)), other: async () => openStore(t, optionsFor(etcd)) };
  });
}

test.serial('failover: a dead endpoint first costs nothing but a refused connection; all dead names each endpoint', async (t) => {
  const etcd = await shared('plain');
  const dead = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const store = openStore(t, { endpoints: [dead[0]!, etcd.endpoint] });
  const key = `${uniquePrefix()}k`;
  await store.put(key, 'v');
  t.is((await store.get(key))?.value, 'v');
  const none = openStore(t, { endpoints: dead });
  const err = await t.throwsAsync(none.get(key));
  t.true(err instanceof KvUnavailableError, String(err));
  const reasons = (err as KvUnavailableError).reasons;
  t.deepEqual(reasons.map((r) => r.endpoint), dead);
  for (const r of reasons) t.regex(r.reason, /ECONNREFUSED/);
});

test.serial('failover: an endpoint answering 503 is passed over, and the one that answered is asked first from then on', async (t) => {
  const etcd = await shared('plain');
  const sick = await startFaultProxy(etcd.endpoint, () => ({
    kind: 'status',
    status: 503,
    body: JSON.stringify({ error: 'etcdserver: no leader', code: 14 }),
  }));
  t.teardown(() => sick.stop());
  const store = openStore(t, { endpoints: [sick.url, etcd.endpoint] });
  const key = `${uniquePrefix()}k`;
  await store.put(key, 'v');
  t.is(sick.requests.length, 1);
  t.is((await store.get(key))?.value, 'v');
  t.is(sick.requests.length, 1, 'the second call went straight to the endpoint that answered');
  const onlySick = openStore(t, { endpoints: [sick.url] });
  const err = await t.throwsAsync(onlySick.get(key));
  t.true(err instanceof KvUnavailableError, String(err));
  t.regex(err!.message, /HTTP 503: etcdserver: no leader/);
});

test.serial('failover: a watch whose endpoint dies goes on through the next endpoint from where it was', async (t) => {
  const etcd = await shared('plain');
  const proxy = await startTcpProxy(etcd.endpoint);
  t.teardown(() => proxy.stop());
  const viaProxy = openStore(t, { endpoints: [proxy.endpoint, etcd.endpoint] });
  const direct = openStore(t, { endpoints: [etcd.endpoint] });
  const p = uniquePrefix();
  const it = watchIterator(viaProxy, p, t, (await direct.list(p)).revision + 1);
  await direct.put(`${p}a`, '1');
  t.deepEqual((await takeEvents(it, 1)).map((e) => brief(e, p)), ['put a=1']);
  t.true(proxy.connections() > 0, 'the watch went through the first endpoint');
  await proxy.stop();
  await direct.put(`${p}b`, '2');
  await direct.put(`${p}a`, '3');
  t.deepEqual((await takeEvents(it, 2)).map((e) => brief(e, p)), ['put b=2', 'put a=3']);
  t.is((await viaProxy.get(`${p}b`))?.value, '2');
});

test.serial('TLS: a CA alone is enough against an etcd that asks no client certificate, also for a bare host:port', async (t) => {
  const etcd = await startEtcd({ tls: true, clientCertAuth: false });
  t.teardown(() => etcd.stop());
  const hostPort = etcd.endpoint.replace(/^https:\/\//, '');
  const store = openStore(t, { endpoints: [hostPort], caFile: etcd.caCertPath! });
  t.is(store.describe, `etcd ${etcd.endpoint}`);
  const key = `${uniquePrefix()}k`;
  await store.put(key, 'over tls');
  t.is((await store.get(key))?.value, 'over tls');
  // Against client-cert-auth, a CA alone is refused in the handshake: the error says so per endpoint.
  const strict = await shared('tls');
  const noCert = openStore(t, { endpoints: [strict.endpoint], caFile: strict.caCertPath! });
  const err = await t.throwsAsync(noCert.get(key));
  t.true(err instanceof KvUnavailableError, String(err));
  t.is((err as KvUnavailableError).reasons.length, 1);
});

test('auth: user and password give a token; a wrong password or none is a KvAuthError; a restart (tokens lost) is survived, also by a watch', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  await etcd.enableAuth('s3cret');
  const anonymous = openStore(t, { endpoints: [etcd.endpoint] });
  const noUser = await t.throwsAsync(anonymous.get('/x'));
  t.true(noUser instanceof KvAuthError, String(noUser));
  t.regex(noUser!.message, /authentication enabled/);
  const wrong = openStore(t, { endpoints: [etcd.endpoint], username: 'root', password: 'nope' });
  const refused = await t.throwsAsync(wrong.put('/x', 'y'));
  t.true(refused instanceof KvAuthError, String(refused));
  const refusedWatch = await t.throwsAsync(takeEvents(watchIterator(wrong, '/', t), 1));
  t.true(refusedWatch instanceof KvAuthError, String(refusedWatch));

  const store = openStore(t, { endpoints: [etcd.endpoint], username: 'root', password: 's3cret' });
  const p = uniquePrefix();
  await store.put(`${p}a`, '1');
  const it = watchIterator(store, p, t, (await store.list(p)).revision + 1);
  await store.put(`${p}b`, '2');
  t.deepEqual((await takeEvents(it, 1)).map((e) => brief(e, p)), ['put b=2']);
  await etcd.restart();
  await store.put(`${p}c`, '3');
  t.deepEqual((await takeEvents(it, 1)).map((e) => brief(e, p)), ['put c=3']);
  t.is((await store.get(`${p}a`))?.value, '1');
});

test('restart: calls fail with KvUnavailableError while etcd is down; the watch resumes from its last revision and loses nothing', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const store = openStore(t, { endpoints: [etcd.endpoint] });
  const writer = openStore(t, { endpoints: [etcd.endpoint] });
  const p = uniquePrefix();
  const retries: string[] = [];
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const it = store
    .watch(p, { fromRevision: (await store.list(p)).revision + 1, signal: abort.signal, onRetry: (e) => retries.push(e.message) })
    [Symbol.asyncIterator]();
  await writer.put(`${p}a`, '1');
  t.deepEqual((await takeEvents(it, 1)).map((e) => brief(e, p)), ['put a=1']);
  await etcd.restart(async () => {
    const err = await t.throwsAsync(writer.put(`${p}down`, 'x'));
    t.true(err instanceof KvUnavailableError, String(err));
  });
  // Written right after the restart, possibly before the watch has reconnected: still delivered.
  await writer.put(`${p}b`, '2');
  await writer.delete(`${p}a`);
  const events = await takeEvents(it, 2, 30_000);
  t.deepEqual(events.map((e) => brief(e, p)), ['put b=2', 'delete a']);
  t.true(retries.length > 0, 'the watch reported its retries');
  t.log(`watch retries: ${retries.length}; first: ${retries[0]}`);
});

test.serial('a watch on an idle prefix resyncs after compaction past its start, and nothing is replayed twice', async (t) => {
  const etcd = await shared('plain');
  const store = openStore(t, optionsFor(etcd));
  const p = uniquePrefix();
  await store.put(`${p}keep`, 'k');
  const from = (await store.list(p)).revision;
  await store.put(`${p}keep`, 'k2');
  const current = await store.put(`${uniquePrefix()}elsewhere`, 'x');
  await store.compact(current.modRevision);
  const it = watchIterator(store, p, t, from);
  const [first] = await takeEvents(it, 1);
  t.is(brief(first!, p), 'resync [keep=k2]');
  await store.put(`${p}new`, 'n');
  const [second] = await takeEvents(it, 1);
  t.is(brief(second!, p), 'put new=n');
});

interface TcpProxy {
  endpoint: string;
  connections(): number;
  /** Closes the listener and cuts every connection, as a dying endpoint does. */
  stop(): Promise<void>;
}

/** A TCP forwarder on 127.0.0.1 in front of `target` (http://host:port): an endpoint we can kill. */
async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((client) => {
    count++;
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    connections: () => count,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}

// Proves the test harness's real servers: they answer, they enforce TLS and auth the way the
// tests that build on them assume, and stopping them leaves nothing behind (no PID, no port, no
// temp dir). If these fail, every registry and etcd test after them is suspect.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { startEtcd, type EtcdServer } from '../support/etcd-server.js';
import { ManagedProcess, makeServerDir } from '../support/managed-process.js';
import { startRegistry } from '../support/registry-server.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function assertGone(t: ExecutionContext, s: { pid: number; dir: string }, port: number): Promise<void> {
  t.false(pidAlive(s.pid), `pid ${s.pid} still alive`);
  t.true(await portRefuses(port), `port ${port} still open`);
  t.false(existsSync(s.dir), `${s.dir} still exists`);
}

const portOf = (hostOrUrl: string) => Number(new URL(hostOrUrl.includes('//') ? hostOrUrl : `http://${hostOrUrl}`).port);

test('plain registry answers /v2/, stores blobs in its temp dir, and stop leaves nothing', async (t) => {
  const started = Date.now();
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  t.log(`registry started in ${Date.now() - started} ms`);

  t.regex(registry.host, /^127\.0\.0\.1:\d+$/);
  t.is(registry.url, `http://${registry.host}`);
  t.is(registry.dispatcher instanceof Agent, true);
  t.deepEqual(registry.authHeader(), {});
  t.true(registry.storageDir.startsWith(registry.dir));
  t.regex(readFileSync(registry.logPath, 'utf8'), new RegExp(`listening on ${registry.host.replace(/\./g, '\\.')}`));

  const v2 = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher });
  t.is(v2.statusCode, 200);
  t.is(v2.headers['docker-distribution-api-version'], 'registry/2.0');
  await v2.body.dump();

  const blob = Buffer.from('skiff harness blob\n');
  const hex = createHash('sha256').update(blob).digest('hex');
  // distribution 2.8 ignores ?digest= on POST and always opens an upload session (202).
  const session = await request(`${registry.url}/v2/harness/probe/blobs/uploads/`, {
    method: 'POST',
    dispatcher: registry.dispatcher,
  });
  await session.body.dump();
  t.is(session.statusCode, 202);
  const location = new URL(String(session.headers['location']), registry.url);
  location.searchParams.set('digest', `sha256:${hex}`);
  const upload = await request(location, {
    method: 'PUT',
    dispatcher: registry.dispatcher,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.length) },
    body: blob,
  });
  await upload.body.dump();
  t.is(upload.statusCode, 201);
  const stored = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  t.deepEqual(readFileSync(stored), blob);

  const port = portOf(registry.host);
  await registry.stop();
  await registry.stop(); // idempotent
  await assertGone(t, registry, port);
});

test('TLS registry answers over https with the CA and refuses a client without it', async (t) => {
  const started = Date.now();
  const registry = await startRegistry({ tls: true });
  t.teardown(() => registry.stop());
  t.log(`TLS registry started in ${Date.now() - started} ms`);

  t.true(registry.tls);
  t.is(registry.url, `https://${registry.host}`);
  t.regex(registry.caCertPem ?? '', /BEGIN CERTIFICATE/);
  t.true(registry.caCertPath !== undefined && existsSync(registry.caCertPath));

  const ok = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher });
  t.is(ok.statusCode, 200);
  await ok.body.dump();

  const stranger = new Agent();
  t.teardown(() => stranger.close());
  const refused = await t.throwsAsync(request(`${registry.url}/v2/`, { dispatcher: stranger }));
  t.regex(String((refused as NodeJS.ErrnoException | undefined)?.code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);

  const port = portOf(registry.host);
  await registry.stop();
  await assertGone(t, registry, port);
});

test('htpasswd registry (plain http) answers 401 without or with wrong credentials, 200 with', async (t) => {
  const registry = await startRegistry({ auth: { username: 'skiff', password: 's3cret' } });
  t.teardown(() => registry.stop());

  const anonymous = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher });
  t.is(anonymous.statusCode, 401);
  t.is(anonymous.headers['www-authenticate'], 'Basic realm="skiff-test"');
  await anonymous.body.dump();

  const wrong = await request(`${registry.url}/v2/`, {
    dispatcher: registry.dispatcher,
    headers: { authorization: `Basic ${b64('skiff:wrong')}` },
  });
  t.is(wrong.statusCode, 401);
  await wrong.body.dump();

  t.deepEqual(registry.authHeader(), { authorization: `Basic ${b64('skiff:s3cret')}` });
  const authed = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher, headers: registry.authHeader() });
  t.is(authed.statusCode, 200);
  await authed.body.dump();
});

test('htpasswd registry over TLS answers 200 with credentials', async (t) => {
  const registry = await startRegistry({ tls: true, auth: { username: 'skiff', password: 's3cret' } });
  t.teardown(() => registry.stop());
  const anonymous = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher });
  t.is(anonymous.statusCode, 401);
  await anonymous.body.dump();
  const authed = await request(`${registry.url}/v2/`, { dispatcher: registry.dispatcher, headers: registry.authHeader() });
  t.is(authed.statusCode, 200);
  await authed.body.dump();
});

async function kv(etcd: EtcdServer, op: 'put' | 'range', body: object, dispatcher: Dispatcher = etcd.dispatcher) {
  const res = await request(`${etcd.endpoint}/v3/kv/${op}`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.body.json()) as Record<string, unknown>;
  return { status: res.statusCode, json };
}

async function assertRoundTrip(t: ExecutionContext, etcd: EtcdServer): Promise<void> {
  const put = await kv(etcd, 'put', { key: b64('/skiff/test/a'), value: b64('hello etcd') });
  t.is(put.status, 200, JSON.stringify(put.json));
  const range = await kv(etcd, 'range', { key: b64('/skiff/test/a') });
  t.is(range.status, 200);
  const kvs = range.json['kvs'] as { key: string; value: string }[] | undefined;
  t.is(kvs?.length, 1);
  t.is(Buffer.from(kvs?.[0]?.value ?? '', 'base64').toString(), 'hello etcd');
  const missing = await kv(etcd, 'range', { key: b64('/skiff/test/absent') });
  t.is(missing.json['kvs'], undefined);
}

test('plain etcd: put and range round trip through the JSON gateway, stop leaves nothing', async (t) => {
  const started = Date.now();
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  t.log(`etcd started in ${Date.now() - started} ms`);

  t.regex(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.true(etcd.dataDir.startsWith(etcd.dir));
  await assertRoundTrip(t, etcd);
  t.true(existsSync(join(etcd.dataDir, 'member')));

  const port = portOf(etcd.endpoint);
  await etcd.stop();
  await etcd.stop();
  await assertGone(t, etcd, port);
});

test('TLS etcd: works with the client certificate, refuses a client without one', async (t) => {
  const started = Date.now();
  const etcd = await startEtcd({ tls: true });
  t.teardown(() => etcd.stop());
  t.log(`TLS etcd started in ${Date.now() - started} ms`);

  t.regex(etcd.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  for (const p of [etcd.caCertPath, etcd.clientCertPath, etcd.clientKeyPath]) t.true(p !== undefined && existsSync(p));
  await assertRoundTrip(t, etcd);

  // Trusts the server but presents no certificate: the handshake (TLS 1.3: the first read) fails.
  const noClientCert = new Agent({ connect: { ca: readFileSync(etcd.caCertPath!, 'utf8') } });
  t.teardown(() => noClientCert.close());
  await t.throwsAsync(kv(etcd, 'range', { key: b64('/skiff/test/a') }, noClientCert));
  t.regex(readFileSync(etcd.logPath, 'utf8'), /rejected connection.*client didn't provide a certificate/);

  const untrusting = new Agent();
  t.teardown(() => untrusting.close());
  const untrusted = await t.throwsAsync(kv(etcd, 'range', { key: b64('/skiff/test/a') }, untrusting));
  t.regex(String((untrusted as NodeJS.ErrnoException | undefined)?.code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);

  const port = portOf(etcd.endpoint);
  await etcd.stop();
  await assertGone(t, etcd, port);
});

test('managed process: readiness fails at once with exit code and log tail when the child dies', async (t) => {
  const dir = await makeServerDir('proc');
  const proc = await ManagedProcess.start({
    name: 'dies-early',
    command: process.execPath,
    args: ['-e', 'console.error("boom: bad config"); process.exit(3)'],
    logPath: join(dir, 'log'),
    ownedDir: dir,
  });
  t.teardown(() => proc.stop());
  const started = Date.now();
  const err = await t.throwsAsync(proc.waitUntil(async () => false, { timeoutMs: 20_000, what: 'never' }));
  t.true(Date.now() - started < 5_000, 'did not fail fast');
  t.regex(err?.message ?? '', /exited with code 3 before never/);
  t.regex(err?.message ?? '', /boom: bad config/);
  await proc.stop();
  t.false(existsSync(dir));
});

test('managed process: timeout names what it waited for; stop escalates to SIGKILL', async (t) => {
  const dir = await makeServerDir('proc');
  const proc = await ManagedProcess.start({
    name: 'stubborn',
    command: process.execPath,
    args: ['-e', 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("up"); setInterval(() => {}, 1000)'],
    logPath: join(dir, 'log'),
    ownedDir: dir,
  });
  t.teardown(() => proc.stop());
  // Under load the child may take a while to start: wait for it (and its SIGTERM handler) first.
  await proc.waitUntil(async () => proc.logTail().includes('up'), { timeoutMs: 30_000, what: 'the child is up' });
  const err = await t.throwsAsync(
    proc.waitUntil(async () => {
      throw new Error('not yet');
    }, { timeoutMs: 300, what: 'the moon rises' }),
  );
  t.regex(err?.message ?? '', /timed out after 300 ms waiting until the moon rises; last check error: not yet/);
  t.regex(err?.message ?? '', /\bup\b/);
  const stopping = Date.now();
  await proc.stop();
  t.true(Date.now() - stopping >= 4_000, 'SIGTERM should have been ignored for the grace period');
  t.is(proc.exitStatus?.signal, 'SIGKILL');
  t.false(pidAlive(proc.pid));
  t.false(existsSync(dir));
});

// A server that keeps (re)creating files in its dir from several threads, like the Go registry
// writing uploads: after SIGKILL its threads finish their syscalls for a few ms more. It exits on
// its own if its parent goes away (or after 30 s), so a broken test cannot leave it spinning.
const RECREATOR = `
const { Worker } = require('node:worker_threads');
const { closeSync, openSync } = require('node:fs');
const dir = process.argv[1];
const parent = process.ppid;
const spin = "const { closeSync, openSync } = require('node:fs');" +
  "const { dir, i } = require('node:worker_threads').workerData;" +
  "for (let n = 0; ; n++) closeSync(openSync(dir + '/f-' + i + '-' + (n % 1000), 'w'));";
let online = 0;
for (let i = 0; i < 4; i++) {
  new Worker(spin, { eval: true, workerData: { dir, i } }).once('online', () => {
    if (++online === 4) closeSync(openSync(dir + '/ready', 'w'));
  });
}
setInterval(() => process.ppid !== parent && process.exit(1), 100);
setTimeout(() => process.exit(1), 30000);
`;

/** Dead: reaped, or a zombie down to its last thread (the exit hook's own criterion). */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' && Number(fields[17]) <= 1;
  } catch {
    return true;
  }
}

// A test runner in miniature: starts the recreators through ManagedProcess, waits until all are
// writing, then exits without stopping them, so only the exit hook stands between them and leaks.
// Its own exit listener, registered after the hook's, reports what the hook left: every process
// should be dead by then, or it may still be writing into a dir the hook believes it removed.
const EXIT_HOOK_RUNNER = (modulePath: string, count: number) => `
import { existsSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
const { ManagedProcess, makeServerDir } = await import(${JSON.stringify(modulePath)});
const processGone = ${processGone.toString()};
const procs = [];
process.on('exit', () => {
  writeSync(1, JSON.stringify(procs.map((p) => processGone(p.pid))) + '\\n');
});
for (let i = 0; i < ${count}; i++) {
  const dir = await makeServerDir('exit-hook');
  procs.push(await ManagedProcess.start({
    name: 'recreator', command: process.execPath, args: ['-e', ${JSON.stringify(RECREATOR)}, dir],
    logPath: join(dir, 'log'), ownedDir: dir,
  }));
}
console.log(JSON.stringify(procs.map((p) => ({ pid: p.pid, dir: p.ownedDir }))));
const deadline = Date.now() + 10000;
while (!procs.every((p) => existsSync(join(p.ownedDir, 'ready')))) {
  if (Date.now() > deadline) process.exit(3);
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.exit(0);
`;

// Serial (AVA runs serial tests first, alone): its few seconds of spinning threads would starve
// the timing-sensitive tests of this file.
test.serial('managed process: the exit hook waits for SIGKILLed servers to die before removing their dirs', async (t) => {
  const count = 6;
  const modulePath = new URL('../support/managed-process.js', import.meta.url).href;
  const runner = spawn(process.execPath, ['--input-type=module', '-e', EXIT_HOOK_RUNNER(modulePath, count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  runner.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  runner.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => runner.kill('SIGKILL'), 30_000);
  const [code] = (await once(runner, 'exit')) as [number | null];
  clearTimeout(killer);
  // Line 1: the servers started (for the teardown, whatever happened); line 2: gone after the hook?
  const [started, goneAfterHook] = stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown);
  const servers = (started ?? []) as { pid: number; dir: string }[];
  t.teardown(() => {
    // Only if the test failed: the recreators are ours, stopped by PID; then their dirs.
    for (const s of servers) {
      if (!processGone(s.pid)) {
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
  t.is(code, 0, stderr);
  t.is(servers.length, count);
  const running = servers.filter((_, i) => (goneAfterHook as boolean[] | undefined)?.[i] !== true).map((s) => s.pid);
  t.deepEqual(running, [], 'still running when the hook returned');
  // A thread that outlived the hook's rmSync makes its rmdir fail (ENOTEMPTY) within a few ms.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(servers.filter((s) => existsSync(s.dir)).map((s) => s.dir), [], 'dirs left behind');
});

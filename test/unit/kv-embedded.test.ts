/**
 * The embedded KvStore: the shared contract (test/support/kv-contract.ts) on a temp dir, then
 * what only a file store has to prove: several processes on one directory (a child node process
 * races this one), crash safety (a torn last record, a writer killed mid-stream), and damage
 * that is not a crash leftover being reported rather than papered over.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedKvStore } from '../../network/kv/embedded-store.js';
import { KvCorruptError } from '../../network/kv/kv-errors.js';
import { openKvStore } from '../../network/kv/open-kv-store.js';
import { kvContract, takeEvents, uniquePrefix, watchIterator, brief } from '../support/kv-contract.js';
import { tempDir } from '../support/temp-dir.js';

const STORE_MODULE = fileURLToPath(new URL('../../network/kv/embedded-store.js', import.meta.url));
const CHILD_WAIT_MS = 20_000;

async function openStore(t: ExecutionContext, dir: string): Promise<EmbeddedKvStore> {
  const store = await EmbeddedKvStore.open(dir);
  t.teardown(() => store.close());
  return store;
}

kvContract('embedded', (title, impl) => test(title, impl), async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const store = await openStore(t, dir);
  return { store, other: () => openStore(t, dir) };
});

/** A node child running `body` (an async function body; `store` is open on `dir`), by PID only. */
function child(t: ExecutionContext, dir: string, body: string): { proc: ChildProcess; lines: AsyncIterator<string>; send(line: string): void } {
  const code = `
    import { EmbeddedKvStore } from ${JSON.stringify(STORE_MODULE)};
    import { createInterface } from 'node:readline';
    const store = await EmbeddedKvStore.open(${JSON.stringify(dir)});
    const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const say = (line) => process.stdout.write(line + '\\n');
    ${body}
    await store.close();
    process.exit(0);
  `;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const lines = (async function* () {
    let pending = '';
    for await (const chunk of proc.stdout!) {
      pending += String(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        yield pending.slice(0, nl);
        pending = pending.slice(nl + 1);
      }
    }
  })();
  return { proc, lines, send: (line) => proc.stdin!.write(`${line}\n`) };
}

async function nextLine(lines: AsyncIterator<string>, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    lines.next(),
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), CHILD_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (result === 'timeout' || result.done) throw new Error(`child process: no line for ${what}`);
  return result.value;
}

test('two processes racing createIfAbsent on one directory: exactly one winner per key, and each sees the other\'s writes', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const store = await openStore(t, dir);
  const p = uniquePrefix();
  const keys = Array.from({ length: 400 }, (_, i) => `${p}${i}`);
  const racer = child(t, dir, `
    say('ready');
    await input.next();
    const wins = [];
    for (const key of ${JSON.stringify(keys)}) if ((await store.createIfAbsent(key, 'child')).ok) wins.push(key);
    say(JSON.stringify(wins));
  `);
  t.is(await nextLine(racer.lines, 'ready'), 'ready');
  racer.send('go');
  const mine: string[] = [];
  for (const key of [...keys].reverse()) if ((await store.createIfAbsent(key, 'parent')).ok) mine.push(key);
  const theirs = JSON.parse(await nextLine(racer.lines, 'the wins')) as string[];
  t.is(mine.length + theirs.length, keys.length);
  t.deepEqual([...mine, ...theirs].sort(), [...keys].sort());
  const listed = await store.list(p);
  for (const kv of listed.kvs) t.is(kv.value, mine.includes(kv.key) ? 'parent' : 'child', kv.key);
  t.log(`parent won ${mine.length}, child ${theirs.length}`);
});

test('a watch in one process sees another process\'s puts and its lease expiring', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const store = await openStore(t, dir);
  const p = uniquePrefix();
  const it = watchIterator(store, p, t, (await store.list(p)).revision + 1);
  const writer = child(t, dir, `
    await store.put(${JSON.stringify(`${p}plain`)}, 'x');
    await store.createIfAbsent(${JSON.stringify(`${p}leased`)}, 'y', { ttl: 1 });
    say('done');
  `);
  t.is(await nextLine(writer.lines, 'done'), 'done');
  // The child has exited: nobody keeps the lease alive, and this process's watch records the expiry.
  const events = await takeEvents(it, 3, 15_000);
  t.deepEqual(events.map((e) => brief(e, p)), ['put plain=x', 'put leased=y', 'delete leased']);
});

test('a torn last record (a crash mid-write) is ignored by readers and cut off by the next writer', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const first = await EmbeddedKvStore.open(dir);
  await first.put('/a', '1');
  const kept = await first.put('/b', '2');
  await first.close();
  const journal = join(dir, 'journal');
  const whole = readFileSync(journal);
  // Half a record, as a write cut by a crash leaves it; then the same with a bad checksum and a newline.
  appendFileSync(journal, '0badc0de {"t":"put","r":4,"k":"/c","v":"tor');
  const store = await openStore(t, dir);
  t.is((await store.get('/b'))?.value, '2');
  t.is((await store.list('/')).revision, kept.modRevision);
  const next = await store.put('/c', '3');
  t.is(next.modRevision, kept.modRevision + 1);
  t.false(readFileSync(journal, 'utf8').includes('tor"'));
  t.true(readFileSync(journal).subarray(0, whole.length).equals(whole));
  appendFileSync(journal, '00000000 {"t":"put","r":99,"k":"/d","v":"x"}\n');
  const again = await openStore(t, dir);
  t.is(await again.get('/d'), undefined);
  t.is((await again.put('/e', '5')).modRevision, next.modRevision + 1);
  t.deepEqual((await again.list('/')).kvs.map((kv) => kv.key), ['/a', '/b', '/c', '/e']);
});

test('a writer killed mid-stream leaves a readable store with every acknowledged write', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const writer = child(t, dir, `
    for (let i = 1; ; i++) {
      await store.put('/n/' + (i % 50), String(i), i % 2 ? {} : { lease: (await store.grantLease(60)).id });
      if (i % 25 === 0) say(String(i));
    }
  `);
  let acknowledged = 0;
  while (acknowledged < 300) acknowledged = Number(await nextLine(writer.lines, 'progress'));
  writer.proc.kill('SIGKILL');
  await new Promise((resolve) => writer.proc.once('exit', resolve));
  const store = await openStore(t, dir);
  const listed = await store.list('/n/');
  t.is(listed.kvs.length, 50);
  // Revision 1 is the empty store; each put is one revision; grants are none.
  t.true(listed.revision - 1 >= acknowledged, `revision ${listed.revision} covers ${acknowledged} acknowledged puts`);
  const newest = Math.max(...listed.kvs.map((kv) => Number(kv.value)));
  t.is(newest, listed.revision - 1);
  t.is((await store.put('/after', 'crash')).modRevision, listed.revision + 1);
});

test('damage in the middle of the journal is reported as such, not repaired', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const first = await EmbeddedKvStore.open(dir);
  for (let i = 0; i < 5; i++) await first.put(`/k${i}`, String(i));
  await first.close();
  const journal = join(dir, 'journal');
  const text = readFileSync(journal, 'utf8').split('\n');
  text[2] = text[2]!.replace('"v":"1"', '"v":"X"');
  writeFileSync(journal, text.join('\n'));
  const store = await openStore(t, dir);
  const err = await t.throwsAsync(store.put('/k9', '9'));
  t.true(err instanceof KvCorruptError, String(err));
  t.regex(err!.message, /damaged record at byte \d+/);
});

test('compaction rewrites the journal: state and revisions survive a reopen, keepalives are folded, a stale temp journal goes', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const store = await EmbeddedKvStore.open(dir);
  const lease = await store.grantLease(600);
  await store.put('/leased', 'v', { lease: lease.id });
  for (let i = 0; i < 200; i++) await store.keepAlive(lease.id);
  for (let i = 0; i < 20; i++) await store.put(`/k${i % 5}`, String(i));
  const before = await store.list('/');
  const size = readFileSync(join(dir, 'journal')).length;
  // What a compaction cut short by a crash leaves behind.
  writeFileSync(join(dir, '.journal.tmp-1-deadbeef'), 'half a journal');
  await store.compact(before.revision - 2);
  await store.close();
  t.deepEqual(readdirSync(dir).sort(), ['journal', 'lock']);
  t.true(readFileSync(join(dir, 'journal')).length < size / 4);
  const reopened = await openStore(t, dir);
  t.deepEqual(await reopened.list('/'), before);
  t.truthy(await reopened.keepAlive(lease.id));
  const it = watchIterator(reopened, '/', t, before.revision - 2);
  const events = await takeEvents(it, 3);
  t.deepEqual(events.map((e) => brief(e, '/')), ['put k2=17', 'put k3=18', 'put k4=19']);
});

test('openKvStore: no endpoints means the embedded store under <dir>/kv; endpoints mean etcd', async (t) => {
  const dir = tempDir(t, 'skiff-kv-');
  const embedded = await openKvStore({ dir });
  t.teardown(() => embedded.close());
  t.is(embedded.kind, 'embedded');
  t.is(embedded.describe, `embedded store ${join(dir, 'kv')}`);
  const etcd = await openKvStore({ dir, endpoints: ['127.0.0.1:2379,http://127.0.0.1:4001'] });
  t.teardown(() => etcd.close());
  t.is(etcd.kind, 'etcd');
  t.is(etcd.describe, 'etcd http://127.0.0.1:2379,http://127.0.0.1:4001');
  await t.throwsAsync(openKvStore({ dir, endpoints: ['http://127.0.0.1:2379'], caFile: join(dir, 'ca.pem') }), { message: /cannot read the etcd CA file/ });
});

test('automatic compaction by another store handle (as by another process): a watcher keeping up sees every event and no resync; one behind the kept history resyncs', async (t) => {
  const dir = join(tempDir(t, 'skiff-kv-'), 'kv');
  const small = { compactMinBytes: 2_048, retainedRevisions: 20 };
  const watcher = await openStore(t, dir);
  const writer = await EmbeddedKvStore.open(dir, small);
  t.teardown(() => writer.close());
  const p = uniquePrefix();
  const start = (await watcher.list(p)).revision + 1;
  const it = watchIterator(watcher, p, t, start);
  // Each rewrite moves the snapshot's compact revision (inode numbers get reused, so not those).
  const compactions = new Set<number>();
  for (let i = 0; i < 120; i++) {
    await writer.put(`${p}k${i % 7}`, `v${i}`);
    const [event] = await takeEvents(it, 1);
    t.is(brief(event!, p), `put k${i % 7}=v${i}`);
    const snapshot = readFileSync(join(dir, 'journal'), 'utf8').split('\n', 1)[0]!;
    compactions.add((JSON.parse(snapshot.slice(9)) as { compact: number }).compact);
  }
  t.true(compactions.size > 2, `the journal was rewritten ${compactions.size - 1} times`);
  t.true(readFileSync(join(dir, 'journal')).length < 8_192);
  // From the first revision, long compacted: the complete list instead of lost events.
  const late = watchIterator(watcher, p, t, start);
  const [resync] = await takeEvents(late, 1);
  t.is(resync?.type, 'resync');
  t.is(resync?.type === 'resync' ? resync.kvs.length : 0, 7);
});

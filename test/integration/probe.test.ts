/**
 * The probe on the host, before any pod: pod tests read their facts from it,
 * so its reports must first be right where we can check them directly.
 */
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port.js';
import { probeBinary } from '../support/probe-binary.js';
import { tempDir } from '../support/temp-dir.js';

const RUN_TIMEOUT_MS = 10_000;

let probe = '';

test.before(async () => {
  probe = await probeBinary();
});

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the probe to completion (killed by PID if it overstays). */
async function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult & { pid: number }> {
  const child = spawn(probe, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { pid: child.pid ?? -1, code, signal, stdout, stderr };
}

function json(result: RunResult): Record<string, any> {
  return JSON.parse(result.stdout) as Record<string, any>;
}

interface Running {
  child: ChildProcess;
  /** The next JSON line on stdout. */
  nextLine(): Promise<Record<string, any>>;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts a long-running probe; teardown kills it by PID if it is still there. */
function start(t: { teardown(fn: () => void): void }, args: string[]): Running {
  const child = spawn(probe, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    exited,
    async nextLine() {
      const next = await lines.next();
      if (next.done) throw new Error(`probe ${args.join(' ')}: stdout ended`);
      return JSON.parse(next.value as string) as Record<string, any>;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the probe is a static executable', async (t) => {
  const result = await promisify(execFile)('ldd', [probe]).catch((err: { stdout: string; stderr: string }) => err);
  t.regex(`${result.stdout}${result.stderr}`, /not a dynamic executable/);
});

test('info reports ids, hostname, cwd and env as seen by the process', async (t) => {
  const dir = tempDir(t);
  // Quotes, a newline, a tab and non-ASCII text check the JSON escaping.
  const value = 'a "quoted"\nline\twith \\ and é ✓';
  const result = await run(['info'], { cwd: dir, env: { ...process.env, SKIFF_PROBE_TEST: value } });
  t.is(result.code, 0, result.stderr);
  const info = json(result);
  t.is(info.pid, result.pid);
  t.is(info.ppid, process.pid);
  t.is(info.uid, 0);
  t.is(info.euid, 0);
  t.is(info.gid, 0);
  t.is(info.user, 'root');
  t.true(Array.isArray(info.groups));
  t.is(info.hostname, hostname());
  t.is(info.cwd, dir);
  t.is(info.env.SKIFF_PROBE_TEST, value);
  t.is(info.env.PATH, process.env.PATH);
  t.regex(info.umask, /^0[0-7]{3}$/);
  t.is(typeof info.no_new_privs, 'boolean');
  t.is(typeof info.seccomp, 'number');
});

test('info decodes the capability masks into names', async (t) => {
  const { caps } = json(await run(['info']));
  for (const set of ['inh', 'prm', 'eff', 'bnd', 'amb']) {
    t.regex(caps[set], /^[0-9a-f]{16}$/, set);
    const bits = BigInt(`0x${caps[set]}`).toString(2).split('').filter((b) => b === '1').length;
    t.is(caps[`${set}_names`].length, bits, `${set}_names has one name per bit`);
  }
  // Root on this host has CAP_CHOWN (bit 0) and CAP_SYS_ADMIN (bit 21).
  const eff = BigInt(`0x${caps.eff}`);
  t.is(caps.eff_names.includes('CAP_CHOWN'), (eff & 1n) === 1n);
  t.is(caps.eff_names.includes('CAP_SYS_ADMIN'), ((eff >> 21n) & 1n) === 1n);
  if (process.getuid?.() === 0) {
    // Else the two checks above would also pass with both bits clear and both names missing.
    t.true((eff & 1n) === 1n && ((eff >> 21n) & 1n) === 1n, `root's effective set ${caps.eff}`);
    t.true(caps.eff_names.includes('CAP_CHOWN') && caps.eff_names.includes('CAP_SYS_ADMIN'), caps.eff_names.join(','));
  }
});

test('info reports mounts, interfaces, routes, namespaces, rlimits and cgroups', async (t) => {
  const info = json(await run(['info']));
  const root = info.mounts.find((m: any) => m.mountpoint === '/');
  t.truthy(root);
  t.is(typeof root.ro, 'boolean');
  t.is(info.mounts.find((m: any) => m.mountpoint === '/proc')?.fstype, 'proc');

  const lo = info.interfaces.find((i: any) => i.name === 'lo');
  t.truthy(lo);
  t.true(lo.up);
  t.true(lo.flags.includes('LOOPBACK'));
  t.true(lo.addresses.includes('127.0.0.1/8'));
  t.true(Array.isArray(info.routes));

  const ownNs = (name: string) => Number(/\[(\d+)\]/.exec(readlinkSyncSafe(`/proc/self/ns/${name}`))?.[1]);
  t.is(info.ns.pid, ownNs('pid'));
  t.is(info.ns.net, ownNs('net'));

  t.is(typeof info.rlimits.nofile.soft, 'number');
  t.true(info.cgroup.paths.length > 0);
  t.true('memory' in info.cgroup.limits && 'pids' in info.cgroup.limits);
});

function readlinkSyncSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

test('no subcommand means info; an unknown one is a usage error', async (t) => {
  const info = await run([]);
  t.is(info.code, 0);
  t.is(typeof json(info).pid, 'number');
  const bad = await run(['no-such-command']);
  t.is(bad.code, 2);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /usage:/);
});

test('exit passes the status through', async (t) => {
  t.is((await run(['exit', '7'])).code, 7);
  t.is((await run(['exit', '0'])).code, 0);
});

test('serve answers fetch with its reply, then the hostname by default', async (t) => {
  const custom = start(t, ['serve', '0', 'hello from the probe', '--bind', '127.0.0.1']);
  const { listening } = await custom.nextLine();
  t.true(Number.isInteger(listening) && listening > 0);
  for (let i = 0; i < 2; i++) {
    const fetched = await run(['fetch', '127.0.0.1', String(listening), '2000']);
    t.is(fetched.code, 0, fetched.stdout);
    t.deepEqual(json(fetched), { ok: true, data: 'hello from the probe\n' });
  }

  const byHostname = start(t, ['serve', '0', '--once', '--bind', '127.0.0.1']);
  const port = (await byHostname.nextLine()).listening;
  t.is(json(await run(['fetch', '127.0.0.1', String(port)])).data, `${hostname()}\n`);
  t.deepEqual(await byHostname.exited, [0, null]);
});

test('fetch to a closed port reports ECONNREFUSED', async (t) => {
  const port = await freePort();
  const result = await run(['fetch', '127.0.0.1', String(port), '2000']);
  t.is(result.code, 1);
  const report = json(result);
  t.false(report.ok);
  t.is(report.error, 'ECONNREFUSED');
});

test('ignore-term survives SIGTERM and dies on SIGKILL', async (t) => {
  const proc = start(t, ['ignore-term', '30']);
  t.deepEqual(await proc.nextLine(), { ignoring: 'SIGTERM' });
  proc.child.kill('SIGTERM');
  await sleep(200);
  t.is(proc.child.exitCode, null);
  t.is(proc.child.signalCode, null);
  proc.child.kill('SIGKILL');
  t.deepEqual(await proc.exited, [null, 'SIGKILL']);
});

test('signal-report prints each signal and exits 0 on SIGTERM', async (t) => {
  const proc = start(t, ['signal-report', '30']);
  t.deepEqual(await proc.nextLine(), { waiting: ['SIGHUP', 'SIGINT', 'SIGTERM'] });
  proc.child.kill('SIGHUP');
  t.like(await proc.nextLine(), { signal: 'SIGHUP', number: 1, from_pid: process.pid });
  proc.child.kill('SIGTERM');
  t.like(await proc.nextLine(), { signal: 'SIGTERM', number: 15 });
  t.deepEqual(await proc.exited, [0, null]);
});

test('write, cat and ls round-trip a file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'note.txt');
  const text = 'line one\nline "two" ✓';
  t.deepEqual(json(await run(['write', path, text])), { ok: true, bytes: Buffer.byteLength(text) });
  t.is(readFileSync(path, 'utf8'), text);
  t.deepEqual(json(await run(['cat', path])), { ok: true, content: text });

  const listing = json(await run(['ls', dir]));
  t.true(listing.ok);
  t.like(listing.entries, [{ name: 'note.txt', type: 'file', uid: 0, gid: 0, size: Buffer.byteLength(text) }]);
  t.regex(listing.entries[0].mode, /^0[0-7]{3}$/);

  const missing = await run(['cat', join(dir, 'missing')]);
  t.is(missing.code, 1);
  t.like(json(missing), { ok: false, error: 'ENOENT' });
  const noDir = await run(['write', join(dir, 'no', 'such', 'dir'), 'x']);
  t.like(json(noDir), { ok: false, error: 'ENOENT' });
});

test('cat keeps binary content valid JSON', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'binary');
  writeFileSync(path, Buffer.from([0x61, 0x00, 0x01, 0x1f, 0x7f, 0xff, 0xc3, 0xa9, 0x22, 0x5c]));
  const result = await run(['cat', path]);
  // Invalid UTF-8 (0xff) comes back as U+00FF; valid sequences (é) pass through.
  t.deepEqual(json(result), { ok: true, content: 'a\u0000\u0001\u001f\u007f\u00ffé"\\' });
});

test('fork 3 forks and reaps three children', async (t) => {
  const result = await run(['fork', '3']);
  t.is(result.code, 0);
  t.deepEqual(json(result), { forked: 3, requested: 3, error: null });
});

test('spin reports CPU time alongside wall time', async (t) => {
  const report = json(await run(['spin', '0.2']));
  t.true(report.wall >= 0.2);
  t.true(report.cpu > 0);
  t.true(report.cpu <= report.wall + 0.05);
});

test('alloc touches the memory it reports', async (t) => {
  const result = await run(['alloc', '16']);
  t.is(result.code, 0);
  t.deepEqual(json(result), { allocated: 16, error: null });
});

/**
 * The launcher answers `list`, `status UUID` and `version` itself
 * (native/launcher/query-main.c): here each answer is held to the CLI's, run
 * on the same store with the same arguments (node on the CLI bundle, as the
 * launcher would exec it), byte for byte with the exit code and stderr, on pod
 * dirs in every state: hand-made ones shaped as the CLI and stage1 write them
 * (running under a held lock, exited with codes, killed with no code,
 * prepared, aborted, garbage, half-removed, with networks and ports), hostile
 * ones the launcher must leave to Node, and real pods.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEntry } from '../../runtime/install-paths.js';
import { podStore, waitRunning } from '../support/pod-store.js';
import { skiffLauncher } from '../support/skiff-cli.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';
import { testWhen } from '../support/host-condition.js';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const baseEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env['SKIFF_LAUNCH_TRACE'];
  delete env['SKIFF_DIR'];
  return env;
};

function run(command: string, args: string[], env: NodeJS.ProcessEnv = baseEnv(), timeout?: number): Ran {
  const r = spawnSync(command, args, { env, encoding: 'utf8', ...(timeout === undefined ? {} : { timeout }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let execedNode: string | undefined;
/** The node the launcher execs (its build's, which `version` reports): seen in an exec of a command it leaves to Node. */
function launcherNode(): string {
  if (execedNode !== undefined) return execedNode;
  const traced = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', skiffLauncher(), 'bogus-command'], { encoding: 'utf8', env: baseEnv() });
  execedNode = /execve\("([^"]*)", \["node", /.exec(traced.stderr)?.[1];
  if (execedNode === undefined) throw new Error(`the launcher exec'd no node: ${traced.stderr}`);
  return execedNode;
}

/** The launcher's answer and the CLI's (the launcher's node on the bundle, what it falls back to), for the same arguments. */
function both(args: string[], env: NodeJS.ProcessEnv = baseEnv()): { launcher: Ran; node: Ran } {
  return { launcher: run(skiffLauncher(), args, env), node: run(launcherNode(), [cliEntry(), ...args], env) };
}

/** Which way the launcher took: "answered list", or "node (why)". */
function pathTaken(args: string[], timeout?: number): string {
  const r = run(skiffLauncher(), args, { ...baseEnv(), SKIFF_LAUNCH_TRACE: '1' }, timeout);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('skiff launch: '));
  return (lines[0] ?? 'no trace').replace('skiff launch: ', '');
}

const T0 = '2026-12-05T08:00:00.000Z';

interface AppSpec {
  name: string;
  image?: string;
  started?: string;
  exit?: { code: number; finished: string };
}

function manifest(uuid: string, apps: AppSpec[], runtime: object = {}, created: string | undefined = T0): string {
  return `${JSON.stringify(
    {
      version: 1,
      uuid,
      ...(created === undefined ? {} : { created }),
      layers: ['/var/lib/skiff/layers/sha256/aa'],
      noOverlay: false,
      volumes: [],
      apps: apps.map((a) => ({
        name: a.name,
        image: { id: 'sha256:1b3f682d27fe618bf966db4c086d76b17e799bf6e99eb7ff810e79d10fbd0e32', name: a.image ?? 'oci:/tmp/layout:oci' },
        layers: ['/var/lib/skiff/layers/sha256/aa'],
        exec: ['/probe', 'exit', '0'],
        env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
        workingDir: '/',
        uid: 0,
        gid: 0,
        supplementaryGids: [],
        caps: ['CAP_KILL'],
        noNewPrivs: false,
        readonlyRootfs: false,
        mounts: [],
        limits: {},
      })),
      runtime: { net: 'none', hostname: undefined, dns: [], dnsSearch: [], dnsOpts: [], dnsDomain: undefined, hostsEntries: [], interactive: false, ...runtime },
    },
    null,
    2,
  )}\n`;
}

interface PodSpec {
  state: 'embryo' | 'prepare' | 'prepared' | 'run' | 'exited-garbage' | 'garbage';
  uuid: string;
  apps?: AppSpec[];
  runtime?: object;
  /** false: no manifest at all. */
  manifest?: boolean;
  created?: string;
  /** pod-created's mtime (seconds, with a fraction). */
  createdMtime?: number;
  pid?: string;
  stage1Error?: string;
  netInfo?: string;
  cniNetInfo?: string;
  files?: Record<string, string>;
}

function writePod(store: string, p: PodSpec): string {
  const dir = join(store, 'pods', p.state, p.uuid);
  mkdirSync(dir, { recursive: true });
  if (p.manifest !== false) writeFileSync(join(dir, 'pod'), manifest(p.uuid, p.apps ?? [], p.runtime, p.created));
  if (p.createdMtime !== undefined) {
    writeFileSync(join(dir, 'pod-created'), '');
    utimesSync(join(dir, 'pod-created'), p.createdMtime, p.createdMtime);
  }
  for (const a of p.apps ?? []) {
    mkdirSync(join(dir, 'apps', a.name), { recursive: true });
    if (a.started !== undefined) writeFileSync(join(dir, 'apps', a.name, 'started'), `${a.started}\n`);
    // As stage1's supervisor.c writes it.
    if (a.exit !== undefined) {
      writeFileSync(join(dir, 'apps', a.name, 'exit'), `{"code":${a.exit.code},"signal":null,"started":"${a.started ?? ''}","finished":"${a.exit.finished}"}\n`);
    }
  }
  if (p.pid !== undefined) writeFileSync(join(dir, 'pid'), p.pid);
  if (p.stage1Error !== undefined) writeFileSync(join(dir, 'stage1-error'), p.stage1Error);
  if (p.netInfo !== undefined) writeFileSync(join(dir, 'net-info.json'), p.netInfo);
  if (p.cniNetInfo !== undefined) writeFileSync(join(dir, 'cni-net-info.json'), p.cniNetInfo);
  for (const [name, text] of Object.entries(p.files ?? {})) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Holds DIR's lock as stage1 holds a running pod's (an exclusive flock) until teardown; resolves once it is held. */
async function holdLock(t: Teardown, dir: string): Promise<void> {
  const holder = 'import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(600)';
  const child = spawn('python3', ['-c', holder, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await once(child, 'exit');
    }
  });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  if (!line.toString().includes('held')) throw new Error('the lock holder did not take the lock');
}

const net = (name: string, ifName: string, ip: string): object => ({
  name, ifName, ip, prefixLength: 24, gateway: ip.replace(/\.\d+$/, '.1'), mac: '0a:58:c6:12:05:02', hostIfName: `veth${ifName}`, bridge: 'skiff0', ipamFile: `/ipam/${ip}`,
});

const U = (n: number): string => `${n.toString(16).padStart(8, '0')}-0000-4000-8000-${(n * 7919).toString(16).padStart(12, '0')}`;

/** A store with a pod in every state and shape the launcher answers for. */
async function everyState(t: Teardown): Promise<{ store: string; uuids: string[] }> {
  const store = join(tempDir(t, 'skiff-queries-'), 'store');
  const s = (sec: number) => new Date(Date.parse(T0) + sec * 1000).toISOString().replace('Z', '123456Z');
  const pods: PodSpec[] = [
    { state: 'run', uuid: U(1), apps: [{ name: 'web', started: s(1), exit: { code: 0, finished: s(5) } }], pid: '4242\n' },
    {
      state: 'run', uuid: U(2), pid: '77',
      apps: [
        { name: 'a', started: s(2), exit: { code: 0, finished: s(3) } },
        { name: 'b', started: s(1), exit: { code: 7, finished: s(9) } },
        { name: 'c', started: s(3), exit: { code: 3, finished: s(8) } },
        { name: 'd', started: s(3), exit: { code: 4, finished: s(8) } },
      ],
    },
    // stage1 killed -9: started apps, no exit recorded, no error: the outcome is unknown.
    { state: 'run', uuid: U(3), apps: [{ name: 'one', started: s(1) }, { name: 'two', started: s(1), exit: { code: 0, finished: s(2) } }, { name: 'three' }], pid: '1234' },
    { state: 'run', uuid: U(4), apps: [], pid: '99' },
    // stage1 failed before any app ran: 254 and its error (quotes, a tab, a control byte, UTF-8).
    { state: 'run', uuid: U(5), apps: [{ name: 'x' }], stage1Error: '  stage1: mount "/proc": EPERM\tö\u0001 fix it\n' },
    { state: 'prepared', uuid: U(6), apps: [{ name: 'p' }], runtime: { net: 'default,back:IP=198.18.5.5,,x' } },
    { state: 'prepare', uuid: U(7), manifest: false, createdMtime: Date.parse(T0) / 1000 + 0.9995 },
    { state: 'prepare', uuid: U(17), manifest: false, createdMtime: Date.parse(T0) / 1000 + 12.3456789 },
    { state: 'embryo', uuid: U(8), manifest: false },
    // Half-removed by gc: no manifest, its apps dir left.
    { state: 'garbage', uuid: U(9), manifest: false, files: { 'apps/web/started': s(1) } },
    {
      state: 'exited-garbage', uuid: U(10), apps: [{ name: 'n', image: 'docker://ä/😀:tag', started: s(1), exit: { code: 0, finished: s(2) } }],
      runtime: { net: 'default,cni1', ports: [{ protocol: 'tcp', hostPort: 8080, podPort: 80 }, { protocol: 'udp', hostIp: '198.19.0.1', hostPort: 53, podPort: 5353, name: 'dns' }] },
      netInfo: JSON.stringify([net('default', 'eth0', '198.18.0.2'), net('back', 'eth2', '198.18.1.2')]),
      cniNetInfo: `${JSON.stringify([net('cni1', 'eth1', '198.18.9.2'), { name: 'bare' }], null, 2)}\n`,
    },
    // Created missing from the manifest: pod-created's time; an exit whose code is 0 with its keys reordered.
    { state: 'run', uuid: U(11), apps: [{ name: 'w' }], created: undefined, createdMtime: Date.parse(T0) / 1000 + 60, files: { 'apps/w/exit': '{ "finished": "f", "code": 0, "extra": [1, {"k": true}] }' } },
    // JSON the CLI never writes but reads: escapes, a negative code, CRLF and tabs, nested extras.
    {
      state: 'run', uuid: U(13), apps: [{ name: 'esc' }],
      files: { 'apps/esc/exit': '\t{"code" :\r\n-1, "signal":"SIGKILL", "finished":"z\\u0041", "note": "\\u00e9\\ud83d\\ude00\\/\\b\\u001f\\"", "deep": [[[], {}], [true, false, null]]}\r\n' },
    },
    // Not UUIDs, but pods to `list`: odd names sort and print as Node sorts and prints them.
    { state: 'garbage', uuid: 'Zed', manifest: false },
    { state: 'garbage', uuid: 'abc', manifest: false },
  ];
  for (const p of pods) writePod(store, p);
  // Running: stage1 holds the pod dir's lock.
  writePod(store, { state: 'run', uuid: U(12), apps: [{ name: 'live', started: s(4) }], pid: '  31337 \n' });
  await holdLock(t, join(store, 'pods', 'run', U(12)));
  // A file where a pod dir should be.
  writeFileSync(join(store, 'pods', 'garbage', 'stray-file'), 'x');
  return { store, uuids: [...pods.map((p) => p.uuid).filter((u) => u.length === 36), U(12)] };
}

function listShapes(store: string): string[][] {
  const out: string[][] = [];
  for (const format of ['text', 'json']) {
    for (const flags of [[], ['--full'], ['--no-legend'], ['--no-legend', '--full', '--full']]) out.push(['--dir', store, '--format', format, 'list', ...flags]);
  }
  out.push(['--dir', store, 'list'], [`--dir=${store}`, '--debug', '--local-config', '/nowhere', '--insecure-options', 'http, tls', 'list']);
  return out;
}

test('list and status: the launcher answers every state itself, byte for byte as the CLI', async (t) => {
  const { store, uuids } = await everyState(t);
  const shapes = [...listShapes(store)];
  for (const uuid of uuids) {
    for (const format of ['text', 'json']) shapes.push(['--dir', store, '--format', format, 'status', uuid]);
  }
  shapes.push(['--dir', store, 'status', U(10).slice(0, 8).toUpperCase()], ['--dir', store, 'status', U(2).replaceAll('-', '').slice(0, 20)]);
  for (const args of shapes) {
    const { launcher, node } = both(args);
    t.deepEqual(launcher, node, args.join(' '));
    t.is(node.code, 0, `${args.join(' ')}: ${node.stderr}`);
    t.regex(pathTaken(args), /^answered (list|status)$/, args.join(' '));
  }
  const running = JSON.parse(both(['--dir', store, '--format', 'json', 'status', U(12)]).launcher.stdout) as { state: string; pid: number };
  t.deepEqual([running.state, running.pid], ['running', 31337], 'the held lock reads as running');
  const killed = both(['--dir', store, 'status', U(3)]).launcher.stdout;
  t.regex(killed, /exit-code=unknown\nreason=stage1 ended without recording an exit status for one, three/);
});

test('errors, odd stores and unknown flags go to Node, which answers as always', async (t) => {
  const { store } = await everyState(t);
  for (const [args, why] of [
    [['--dir', store, 'status', 'ffff'], /no pod/],
    [['--dir', store, 'status', '0'], /no single pod/],
    [['--dir', store, 'status', 'xyz!'], /not a UUID/],
    [['--dir', store, 'status', ' 00000001'], /not a UUID/],
    [['--dir', `${store}/../store`, 'list'], /store path/],
    [['--dir', '', 'list'], /store path/],
  ] as const) {
    const { launcher, node } = both([...args]);
    t.deepEqual(launcher, node, args.join(' '));
    t.regex(pathTaken([...args]), why, args.join(' '));
  }
  for (const args of [
    ['list', '--bogus'],
    ['list', 'extra'],
    ['list', '--dir', store],
    ['status', '--wait', '1', U(1)],
    ['status', U(1), '--uuid-file', '/nowhere'],
    ['status'],
    ['version', 'extra'],
    ['version', '--help'],
    ['--format', 'xml', 'list'],
    ['--format=yaml', 'version'],
    ['--insecure-options', 'bogus', 'list'],
    ['--debug=1', 'list'],
    ['--bogus', 'list'],
    ['image', 'list'],
    ['-h'],
  ]) {
    const full = args[0] === '--dir' || args.includes('--dir') ? args : ['--dir', store, ...args];
    t.notRegex(pathTaken(full), /^answered/, full.join(' '));
    const { launcher, node } = both(full);
    t.deepEqual(launcher, node, full.join(' '));
  }
});

test('pod files the launcher does not take as the CLI would read them go to Node', async (t) => {
  const cases: Array<[string, (dir: string) => void, running?: boolean]> = [
    ['a truncated manifest', (dir) => writeFileSync(join(dir, 'pod'), '{"version": 1, "apps": [')],
    ['a manifest with a duplicate key', (dir) => writeFileSync(join(dir, 'pod'), manifest(U(1), [{ name: 'a' }]).replace('"version": 1', '"version": 1, "version": 2'))],
    ['a manifest app named ..', (dir) => writeFileSync(join(dir, 'pod'), manifest(U(1), [{ name: '..' }]))],
    ['an exit code with a fraction', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":1.5,"finished":"x"}')],
    ['an exit that is null', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), 'null')],
    ['an exit of 16 digits', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":1234567890123456,"finished":"x"}')],
    ['net info that is no list', (dir) => writeFileSync(join(dir, 'net-info.json'), '{"name":"x"}')],
    ['net info with a lone surrogate', (dir) => writeFileSync(join(dir, 'net-info.json'), '[{"name":"\\ud800"}]')],
    ['a started file that is not UTF-8', (dir) => writeFileSync(join(dir, 'apps', 'a', 'started'), Buffer.from([0xff, 0x41]))],
    ['a stage1 error ending in a no-break space', (dir) => writeFileSync(join(dir, 'stage1-error'), 'failed\u00a0')],
    ['net info nested 40 deep', (dir) => writeFileSync(join(dir, 'net-info.json'), `${'['.repeat(40)}${']'.repeat(40)}`)],
    ['a manifest of 2 MiB', (dir) => writeFileSync(join(dir, 'pod'), manifest(U(1), [{ name: 'a' }]).replace('"version": 1', `"version": 1, "pad": "${'x'.repeat(2 << 20)}"`))],
    ['an exit of 2000 members', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), `{"code":0,"finished":"x",${Array.from({ length: 2000 }, (_, i) => `"k${i}":${i}`).join(',')}}`)],
    ['an exit with a trailing comma', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":1,"finished":"x",}')],
    ['an exit code with a leading zero', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":01,"finished":"x"}')],
    ['an exit code of -0', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":-0,"finished":"x"}')],
    ['an exit with an all-digit key', (dir) => writeFileSync(join(dir, 'apps', 'a', 'exit'), '{"code":0,"finished":"x","7":1}')],
    ['a manifest with a raw control byte in a string', (dir) => writeFileSync(join(dir, 'pod'), manifest(U(1), [{ name: 'a', image: 'x\u0001y' }]).replace('\\u0001', '\u0001'))],
    ['a running pod\'s pid of 20 digits', (dir) => writeFileSync(join(dir, 'pid'), '12345678901234567890'), true],
    ['a manifest that is a FIFO', (dir) => { rmSync(join(dir, 'pod')); spawnSync('mkfifo', [join(dir, 'pod')]); }],
    ['a pod dir name that is not UTF-8', (dir) => mkdirSync(Buffer.concat([Buffer.from(join(dir, '..')), Buffer.from([0x2f, 0xc3, 0x28])]))],
  ];
  for (const [what, spoil, running] of cases) {
    const store = join(tempDir(t, 'skiff-spoilt-'), 'store');
    const dir = writePod(store, { state: 'run', uuid: U(1), apps: [{ name: 'a', started: T0, exit: { code: 0, finished: T0 } }], pid: '1' });
    writePod(store, { state: 'run', uuid: U(2), apps: [{ name: 'b', started: T0 }] });
    spoil(dir);
    if (running === true) await holdLock(t, dir);
    if (what.includes('FIFO')) {
      // Node itself blocks reading it (and is stopped after a while): only the launcher's refusal is checked.
      t.regex(pathTaken(['--dir', store, 'list'], 5000), /^node \(a pod file that is not a small regular file\)/, what);
      continue;
    }
    for (const args of [['--dir', store, 'list'], ['--dir', store, '--format', 'json', 'list'], ['--dir', store, 'status', U(1)]]) {
      t.regex(pathTaken(args), /^node \(/, `${what}: ${args.join(' ')}`);
      const { launcher, node } = both(args);
      t.deepEqual(launcher, node, `${what}: ${args.join(' ')}`);
    }
  }
});

test('the launcher answers without exec\'ing node (strace)', async (t) => {
  const { store, uuids } = await everyState(t);
  for (const args of [['list'], ['--format', 'json', 'list', '--full'], ['status', uuids[0] as string]]) {
    const traced = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', skiffLauncher(), '--dir', store, ...args], {
      encoding: 'utf8',
      env: baseEnv(),
    });
    t.is(traced.status, 0, traced.stderr);
    const execs = traced.stderr.split('\n').filter((l) => l.includes('execve('));
    t.is(execs.length, 1, `${args.join(' ')}: only the launcher's own exec: ${execs.join('\n')}`);
    t.notRegex(traced.stderr, /node/, args.join(' '));
  }
  const fallback = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', skiffLauncher(), '--dir', store, 'status', 'ffff'], { encoding: 'utf8', env: baseEnv() });
  t.regex(fallback.stderr, /execve\("[^"]*node", \["node", "[^"]*\/dist\/cli\/skiff\.cjs", "--dir", "[^"]*", "status", "ffff"\]/, 'an error is Node\'s, with the same arguments');
});

test('version: the launcher answers as the CLI, stage1\'s own version line and this host\'s features', (t) => {
  const dir = tempDir(t, 'skiff-version-');
  const missing = join(dir, 'no-stage1');
  const odd = join(dir, 'odd-stage1');
  // A version line as main.c keeps it (NUL-ended), after a decoy without its NUL, with a latin1 byte.
  writeFileSync(odd, Buffer.concat([Buffer.from('\0skiff-stage1 9.9.9 decoy\n!skiff-stage1 1.22.333-rc (build \u0001'), Buffer.from([0xe9]), Buffer.from(' x)\n\0tail')]));
  for (const stage1 of [undefined, missing, odd, dir, '']) {
    for (const format of ['text', 'json']) {
      const env = { ...baseEnv(), ...(stage1 === undefined ? {} : { SKIFF_STAGE1: stage1 }) };
      const args = ['--format', format, 'version'];
      const { launcher, node } = both(args, env);
      t.deepEqual(launcher, node, `${format} SKIFF_STAGE1=${stage1}`);
      t.is(run(skiffLauncher(), args, { ...env, SKIFF_LAUNCH_TRACE: '1' }).stderr, 'skiff launch: answered version\n', `${format} SKIFF_STAGE1=${stage1}`);
    }
  }
  const odd_ = JSON.parse(run(skiffLauncher(), ['--format', 'json', 'version'], { ...baseEnv(), SKIFF_STAGE1: odd }).stdout) as { stage1: { version: string } };
  t.is(odd_.stage1.version, '1.22.333-rc (build \u0001\u00e9 x)');
  const real = run(join(skiffLauncher(), '..', 'skiff-stage1'), ['--version']).stdout;
  t.is(run(skiffLauncher(), ['version']).stdout.split('\n').find((l) => l.startsWith('Stage1 Version: ')), `Stage1 Version: ${real.replace('skiff-stage1 ', '').trim()}`, 'stage1\'s own --version line');
  const traced = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', skiffLauncher(), 'version'], { encoding: 'utf8', env: baseEnv() });
  t.is(traced.stderr.split('\n').filter((l) => l.includes('execve(')).length, 1, traced.stderr);
});

testWhen('root')('real pods: running, exited with codes, killed -9, prepared; the launcher answers as the CLI', async (t) => {
  const s = await podStore(t);
  t.is((await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '0'])).code, 0);
  t.is((await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '7'])).code, 7);
  const multi = await s.skiff(['run', s.image, '--name', 'ok', '--exec', '/probe', '--', 'exit', '0', '---', s.image, '--name', 'bad', '--exec', '/probe', '--', 'exit', '3']);
  t.is(multi.code, 3, multi.stderr);
  t.is((await s.skiff(['prepare', '--quiet', s.image, '--exec', '/probe', '--', 'exit', '0'])).code, 0);
  const victim = s.start(['run', s.image, '--name', 'victim', '--exec', '/probe', '--', 'sleep', '600']);
  const victimUuid = await waitRunning(s);
  victim.child.kill('SIGKILL'); // stage1 itself (the skiff it became): no exit status recorded
  await victim.exited;
  s.start(['run', s.image, '--name', 'live', '--exec', '/probe', '--', 'sleep', '600']);
  const liveUuid = await waitRunning(s);
  const pods = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string; state: string; exitCode?: number | null }>;
  t.deepEqual(pods.map((p) => `${p.state} ${p.exitCode}`).sort(), ['exited 0', 'exited 3', 'exited 7', 'exited null', 'prepared undefined', 'running undefined']);
  t.true(pods.some((p) => p.uuid === liveUuid && p.uuid !== victimUuid));
  const shapes = listShapes(s.dir);
  for (const p of pods) for (const format of ['text', 'json']) shapes.push(['--dir', s.dir, '--format', format, 'status', p.uuid]);
  for (const args of shapes) {
    const { launcher, node } = both(args);
    t.deepEqual(launcher, node, args.join(' '));
    t.regex(pathTaken(args), /^answered/, args.join(' '));
  }
  t.regex(readFileSync(join(s.dir, 'pods', 'run', liveUuid, 'pid'), 'utf8'), /^\d+/);
});

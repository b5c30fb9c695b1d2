/**
 * The native launcher (native/launcher/): a `skiff run` it has a valid plan
 * for is replayed without Node and gives the same pod as the CLI would; any
 * change to what the plan was made from, or any failure before the point of
 * no return, falls back to the CLI with nothing left behind; everything else
 * goes to the CLI unchanged. SKIFF_LAUNCH_TRACE=1 says which path was taken.
 */
import test from 'ava';
import { appendFileSync, chmodSync, copyFileSync, existsSync, utimesSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyCgroupPlan, encodeCgroupOp, type CgroupOp } from '../../runtime/cgroups/cgroup-plan.js';
import { realCgroupFs } from '../../runtime/cgroups/cgroup-fs.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { cgroupMounts, removeCgroupTree } from '../support/cgroup-cleanup.js';
import { runSkiff, skiffEnv, skiffLauncher } from '../support/skiff-cli.js';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../../runtime/install-paths.js';
import { tempDir } from '../support/temp-dir.js';

const TRACE = { SKIFF_LAUNCH_TRACE: '1' };

async function traced(s: PodStore, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runSkiff(['--dir', s.dir, ...args], { env: { ...s.env, ...TRACE, ...env } });
}

/** Which path a run took: a replay that was undone ends in a `node (…)` line too. */
function path(stderr: string): 'replay' | 'node' | undefined {
  if (/^skiff launch: node /m.test(stderr)) return 'node';
  if (/^skiff launch: replay /m.test(stderr)) return 'replay';
  return undefined;
}

const plans = (s: PodStore) => (existsSync(join(s.dir, 'run-plans')) ? readdirSync(join(s.dir, 'run-plans')).filter((f) => !f.startsWith('.')) : []);
const runDirs = (s: PodStore) => readdirSync(join(s.dir, 'pods', 'run')).sort();

/** A pod's manifest and stage1 config with its own values (uuid, time, lock fd) blanked out. */
function normalized(s: PodStore, uuid: string): { manifest: unknown; config: string } {
  const dir = join(s.dir, 'pods', 'run', uuid);
  const manifest = JSON.parse(readFileSync(join(dir, 'pod'), 'utf8').replaceAll(uuid, 'UUID')) as Record<string, unknown>;
  manifest['created'] = 'TIME';
  const config = readFileSync(join(dir, 'stage1.conf'), 'utf8')
    .replaceAll(uuid, 'UUID')
    .replace(/hostname\0skiff-[0-9a-f]{8}\0/, 'hostname\0skiff-UUID8\0')
    .replace(/lock-fd\0\d+\0/, 'lock-fd\0FD\0');
  return { manifest, config };
}

test('the second identical run is replayed and makes the same pod as the CLI', async (t) => {
  const s = await podStore(t);
  const args = ['run', s.image, '--memory', '48Mi', '--pids-limit', '40', '--environment', 'A=b', '--environment', 'ODD=\x01U\x01\x01é', '--exec', '/probe', '--', 'info'];
  const first = await traced(s, args);
  t.is(first.code, 0, first.stderr);
  t.is(path(first.stderr), 'node');
  t.is(plans(s).length, 1, 'the CLI recorded a plan');
  const second = await traced(s, args);
  t.is(second.code, 0, second.stderr);
  t.is(path(second.stderr), 'replay', second.stderr);
  const [a, b] = runDirs(s);
  t.truthy(a && b);
  t.deepEqual(normalized(s, a as string), normalized(s, b as string));
  t.deepEqual([a, b].map((u) => statSync(join(s.dir, 'pods', 'run', u as string)).mode & 0o777), [0o700, 0o700], 'both pod dirs root-only');
  const facts = JSON.parse(second.stdout.trim().split('\n')[0] as string) as {
    hostname: string;
    env: Record<string, string>;
    cgroup: { limits: { memory: number; pids: number } };
  };
  t.is(facts.cgroup.limits.memory, 48 * 1024 * 1024, 'the replayed cgroup ops set the memory limit');
  t.is(facts.cgroup.limits.pids, 40);
  t.is(facts.env['A'], 'b');
  t.is(facts.env['ODD'], '\x01U\x01\x01é', 'template escapes in values survive the replay');
  const uuids = runDirs(s);
  t.true(uuids.some((u) => facts.hostname === `skiff-${u.slice(0, 8)}`), 'the default hostname is the replayed pod\'s own');
  const list = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ state: string; apps: Array<{ exit?: { code: number } }> }>;
  t.deepEqual(list.map((p) => [p.state, p.apps[0]?.exit?.code]), [['exited', 0], ['exited', 0]]);
});

test('a replayed run passes exit statuses through and writes --uuid-file-save', async (t) => {
  const s = await podStore(t);
  const saved = join(tempDir(t, 'skiff-uuid-'), 'uuid');
  const args = ['run', '--uuid-file-save', saved, s.image, '--exec', '/probe', '--', 'exit', '7'];
  t.is((await traced(s, args)).code, 7);
  const replayed = await traced(s, args);
  t.is(replayed.code, 7, replayed.stderr);
  t.is(path(replayed.stderr), 'replay');
  const uuid = readFileSync(saved, 'utf8').trim();
  t.true(runDirs(s).includes(uuid), 'the saved UUID is the replayed pod\'s');
  t.is((await s.skiff(['status', uuid])).code, 0);
});

test('a changed image index, environment or cgroup parent means no replay', async (t) => {
  const s = await podStore(t);
  const args = ['run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  await traced(s, args);
  t.is(path((await traced(s, args)).stderr), 'replay');
  // Any index change (here: rewritten in place, a new mtime) invalidates the plan; the CLI records a new one.
  writeFileSync(join(s.dir, 'images', 'index.json'), readFileSync(join(s.dir, 'images', 'index.json')));
  const afterIndex = await traced(s, args);
  t.is(path(afterIndex.stderr), 'node');
  t.regex(afterIndex.stderr, /image index changed/);
  t.is(path((await traced(s, args)).stderr), 'replay', 'the CLI recorded a fresh plan');
  const otherParent = await traced(s, args, { SKIFF_CGROUP_PARENT: `${s.cgroupParent}-b` });
  t.teardown(() => {
    for (const mount of cgroupMounts()) removeCgroupTree(join(mount, `${s.cgroupParent}-b`));
  });
  t.is(path(otherParent.stderr), 'node');
  t.regex(otherParent.stderr, /no plan recorded/);
  t.is(otherParent.code, 0, otherParent.stderr);
  // A rebuilt stage1 (here: a copy whose mtime changes) is a new build: its plans are not replayed.
  const stage1 = join(tempDir(t, 'skiff-stage1-'), 'skiff-stage1');
  copyFileSync(join(packageRoot(), 'native', 'build', 'skiff-stage1'), stage1);
  chmodSync(stage1, 0o755);
  await traced(s, args, { SKIFF_STAGE1: stage1 });
  t.is(path((await traced(s, args, { SKIFF_STAGE1: stage1 })).stderr), 'replay');
  utimesSync(stage1, new Date(), new Date(Date.now() + 5000));
  t.is(path((await traced(s, args, { SKIFF_STAGE1: stage1 })).stderr), 'node');
});

test('a run from another working dir, or by a caller in another cgroup, is not replayed: the CLI runs it', async (t) => {
  const s = await podStore(t);
  const args = ['--dir', s.dir, 'run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const here = tempDir(t, 'skiff-cwd-a-');
  const there = tempDir(t, 'skiff-cwd-b-');
  const from = (cwd: string) => runSkiff(args, { env: { ...s.env, ...TRACE }, cwd });
  t.is(path((await from(here)).stderr), 'node');
  t.is(path((await from(here)).stderr), 'replay', 'the same run from the same dir is replayed');
  const moved = await from(there);
  t.is(moved.code, 0, moved.stderr);
  t.is(path(moved.stderr), 'node');
  t.regex(moved.stderr, /no plan recorded for this command line/);

  // The caller moves itself into a cgroup of its own (pids hierarchy), then execs skiff: same
  // command line, same dir, another /proc/self/cgroup.
  t.is(path((await from(here)).stderr), 'replay');
  const callerCgroup = join('/sys/fs/cgroup/pids', `${s.cgroupParent}-caller`);
  mkdirSync(callerCgroup, { recursive: true });
  t.teardown(() => removeCgroupTree(join('/sys/fs/cgroup/pids', `${s.cgroupParent}-caller`)));
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { skiffLauncher } = await import('../support/skiff-cli.js');
  // skiff's stderr on the shell's stdout: the trace lines.
  const { stdout: stderr } = await promisify(execFile)('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@" 2>&1 >/dev/null', callerCgroup, skiffLauncher(), ...args], {
    cwd: here,
    env: { ...process.env, ...s.env, ...TRACE },
    encoding: 'utf8',
  });
  t.is(path(stderr), 'node', stderr);
  t.regex(stderr, /no plan recorded for this command line/);
});

test('a caller whose stdout is non-blocking: the app gets it blocking, on the CLI path and replayed', async (t) => {
  const s = await podStore(t);
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { skiffLauncher } = await import('../support/skiff-cli.js');
  // The caller sets O_NONBLOCK on its stdout and stderr pipes (as an event loop does), then execs skiff; the app
  // reads its stdout's flags (octal; O_NONBLOCK is 04000). An app writing to it would see EAGAIN.
  const wrapper = 'import fcntl, os, sys\nfor fd in (1, 2): fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)\nos.execv(sys.argv[1], sys.argv[1:])';
  const args = ['--dir', s.dir, 'run', s.image, '--exec', '/bin/sh', '--', '-c', 'grep ^flags /proc/self/fdinfo/1 /proc/self/fdinfo/2'];
  for (const expected of ['node', 'replay'] as const) {
    const { stdout, stderr } = await promisify(execFile)('python3', ['-c', wrapper, skiffLauncher(), ...args], { env: { ...process.env, ...s.env, ...TRACE }, encoding: 'utf8' });
    t.is(path(stderr), expected, stderr);
    const flags = [...stdout.matchAll(/flags:\s+([0-7]+)/g)].map((m) => Number.parseInt(m[1] as string, 8));
    t.is(flags.length, 2, stdout);
    for (const f of flags) t.is(f & 0o4000, 0, `${expected}: the app's stdio is blocking: ${stdout}`);
  }
});

test('runs that depend on more than the plan checks are never replayed, and the plan variables never reach a pod', async (t) => {
  const s = await podStore(t);
  const envFile = join(tempDir(t, 'skiff-env-'), 'pod.env');
  writeFileSync(envFile, 'FROM_FILE=1\n');
  for (const extra of [['--inherit-env'], ['--pull-policy=update'], ['--no-overlay'], ['--set-env-file', envFile]]) {
    const args = ['run', ...extra, s.image, '--exec', '/probe', '--', 'info'];
    for (const _ of [1, 2]) {
      const r = await traced(s, args);
      t.is(r.code, 0, r.stderr);
      t.is(path(r.stderr), 'node', extra.join(' '));
      if (extra[0] === '--set-env-file') {
        const env = (JSON.parse(r.stdout.trim().split('\n')[0] as string) as { env: Record<string, string> }).env;
        t.is(env['FROM_FILE'], '1', 'the file is read on every run');
      }
      if (extra[0] === '--inherit-env') {
        const env = (JSON.parse(r.stdout.trim().split('\n')[0] as string) as { env: Record<string, string> }).env;
        t.is(env['SKIFF_TEST_INHERITED'], 'inherited');
        t.false(Object.keys(env).some((k) => k.startsWith('SKIFF_RUN_PLAN')), 'the launcher\'s request stays out of the pod');
      }
    }
  }
  t.deepEqual(plans(s), []);
});

test('a replay that fails before its point of no return undoes everything and the CLI runs the pod', async (t) => {
  const s = await podStore(t);
  const args = ['run', s.image, '--memory', '40M', '--exec', '/probe', '--', 'exit', '0'];
  await traced(s, args);
  const [plan] = plans(s);
  const planPath = join(s.dir, 'run-plans', plan as string);
  // A cgroup step that must fail after the pod's own cgroup was made.
  appendFileSync(planPath, 'cgroup\0write\t/sys/fs/cgroup/no-such-dir/x\t1\0');
  const r = await traced(s, args);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /skiff launch: node \(a cgroup step failed\)/);
  t.is(runDirs(s).length, 2, 'one pod per run: the failed replay left no pod dir');
  t.deepEqual(readdirSync(join(s.dir, 'pods', 'prepare')), []);
  t.deepEqual(readdirSync(join(s.dir, 'pods', 'embryo')), []);
  const leftovers = cgroupMounts().flatMap((m) => {
    const parent = join(m, s.cgroupParent);
    return existsSync(parent) ? readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
  });
  t.true(leftovers.every((name) => runDirs(s).includes(name)), `only the two pods' cgroups: ${leftovers.join(' ')}`);
  // A malformed plan is no plan: the CLI records a good one again.
  writeFileSync(planPath, 'format\0' + '2\0');
  const again = await traced(s, args);
  t.regex(again.stderr, /skiff launch: node \(the plan file is malformed\)/);
  t.is(path((await traced(s, args)).stderr), 'replay');
});

test('a layer moved away after the plan was recorded: the replay falls back before committing, and the CLI says what to do', async (t) => {
  const s = await podStore(t);
  const args = ['run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  t.is((await traced(s, args)).code, 0);
  const plan = readFileSync(join(s.dir, 'run-plans', plans(s)[0] as string), 'utf8').split('\0');
  const layers = plan.flatMap((v, i) => (plan[i - 1] === 'layer' && i % 2 === 1 ? [v.split('\t')[1] as string] : []));
  t.true(layers.length > 0, 'the plan lists the layers it mounts');
  const layer = layers[0] as string;
  renameSync(layer, `${layer}.moved`);
  t.teardown(() => existsSync(`${layer}.moved`) && renameSync(`${layer}.moved`, layer));
  const r = await traced(s, args);
  t.is(r.code, 254, r.stderr);
  t.regex(r.stderr, /skiff launch: node \(a layer the plan mounts is missing or was replaced\)/);
  t.regex(r.stderr, /is missing from the store/, 'the CLI\'s message, not stage1\'s failed mount');
  t.notRegex(r.stderr, /mount overlay/);
  t.is(runDirs(s).length, 1, 'the fallen-back replay committed no pod');
  renameSync(`${layer}.moved`, layer);
  t.is(path((await traced(s, args)).stderr), 'replay', 'the same layer back (same inode): replayed again');
});

test('every other command goes to the CLI with its arguments and exit code', async (t) => {
  const version = await runSkiff(['--format', 'json', 'version']);
  t.is(version.code, 0);
  t.regex((JSON.parse(version.stdout) as { skiff: string }).skiff, /^\d+\.\d+\.\d+/);
  const usage = await runSkiff(['bogus']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /bogus/);
  const help = await runSkiff(['run', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--memory/);
});

test('the launcher runs each kind of cgroup op as the TypeScript executor does', async (t) => {
  const s = await podStore(t);
  const args = ['run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  await traced(s, args);
  const [plan] = plans(s);
  // Two identical plain-directory trees standing in for cgroupfs (control files pre-made, as the kernel would).
  const trees = ['c', 'ts'].map((name) => {
    const root = join(tempDir(t, 'skiff-cgops-'), name);
    for (const [file, text] of [
      ['cgroup.subtree_control', 'cpu memory\n'], ['cpuset.cpus', '0-1\n'],
      ['a/cgroup.subtree_control', 'memory\n'], ['a/cpuset.cpus', ''], ['a/memory.max', ''],
    ] as const) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    }
    return root;
  });
  const ops = (root: string): CgroupOp[] => [
    { op: 'ensure', dir: join(root, 'a') },
    { op: 'ensure', dir: join(root, 'b') },
    { op: 'enable', dir: root, controllers: ['cpu', 'memory'], ownUnit: false },
    { op: 'enable', dir: join(root, 'a'), controllers: ['cpu', 'memory', 'pids'], ownUnit: false },
    { op: 'fill', dir: join(root, 'a'), parent: root, file: 'cpuset.cpus' },
    { op: 'write', path: join(root, 'a', 'memory.max'), value: '1234' },
    { op: 'make', dir: join(root, 'pod') },
  ];
  const [cTree, tsTree] = trees as [string, string];
  appendFileSync(join(s.dir, 'run-plans', plan as string), ops(cTree).map((op) => `cgroup\0${encodeCgroupOp(op)}\0`).join(''));
  const r = await traced(s, args);
  t.is(r.code, 0, r.stderr);
  t.is(path(r.stderr), 'replay', r.stderr);
  applyCgroupPlan(realCgroupFs, { ops: ops(tsTree), cgroup: { join: [], cleanup: [], path: '/' } });
  const snapshot = (root: string) =>
    (readdirSync(root, { recursive: true }) as string[]).sort().map((f) => {
      const p = join(root, f);
      return statSync(p).isDirectory() ? `${f}/` : `${f}: ${readFileSync(p, 'utf8')}`;
    });
  t.deepEqual(snapshot(cTree), snapshot(tsTree));
  t.true(snapshot(cTree).includes('a/cgroup.subtree_control: +cpu +pids'));
  t.true(snapshot(cTree).includes('a/cpuset.cpus: 0-1'));
  t.true(snapshot(cTree).includes('pod/'));
});

test('skiff gc drops plans made from another image index, and all but the most recently used beyond the cap', async (t) => {
  const s = await podStore(t);
  const a = ['run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const b = ['run', s.image, '--exec', '/probe', '--', 'exit', '1'];
  await traced(s, a);
  await traced(s, b);
  t.is(plans(s).length, 2);
  t.is((await s.skiff(['gc'])).code, 0);
  t.is(plans(s).length, 2, 'plans of the current index stay');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(path((await traced(s, a)).stderr), 'replay');
  const { pruneRunPlans } = await import('../../runtime/pods/run-plan-prune.js');
  t.is(pruneRunPlans(s.dir, 1), 1);
  t.is(path((await traced(s, a)).stderr), 'replay', 'the most recently replayed plan is the one kept');
  writeFileSync(join(s.dir, 'images', 'index.json'), readFileSync(join(s.dir, 'images', 'index.json')));
  t.is((await s.skiff(['gc'])).code, 0);
  t.deepEqual(plans(s), [], 'a plan of another index can never replay: gone');
});

test('prepare plans its run-prepared: a bare run-prepared UUID is replayed, anything else goes to the CLI', async (t) => {
  const s = await podStore(t);
  const prepare = async (extra: string[] = []) => {
    const r = await traced(s, ['prepare', '--inherit-env', ...extra, s.image, '--memory', '40Mi', '--exec', '/probe', '--', 'info']);
    t.is(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const uuid = await prepare();
  t.true(existsSync(join(s.dir, 'pods', 'prepared', uuid, 'run-plan')));
  const r = await traced(s, ['run-prepared', uuid]);
  t.is(r.code, 0, r.stderr);
  t.is(path(r.stderr), 'replay', r.stderr);
  const facts = JSON.parse(r.stdout.trim().split('\n')[0] as string) as { hostname: string; env: Record<string, string>; cgroup: { limits: { memory: number } } };
  t.is(facts.hostname, `skiff-${uuid.slice(0, 8)}`);
  t.is(facts.env['SKIFF_TEST_INHERITED'], 'inherited', 'the env prepare resolved');
  t.is(facts.cgroup.limits.memory, 40 * 1024 * 1024, 'the planned cgroup ops');
  t.is((await s.skiff(['status', uuid])).code, 0);
  // Started once: a second run-prepared is the CLI's refusal.
  const again = await traced(s, ['run-prepared', uuid]);
  t.is(again.code, 254);
  t.is(path(again.stderr), 'node');
  t.regex(again.stderr, /not prepared/);
  // Flags change the planned config, and prefixes need resolving: the CLI does both.
  const second = await prepare();
  const flagged = await traced(s, ['run-prepared', '--hostname', 'flagged', second.slice(0, 8)]);
  t.is(flagged.code, 0, flagged.stderr);
  t.is(path(flagged.stderr), undefined, 'not a replay candidate: straight to the CLI');
  t.is((JSON.parse(flagged.stdout.trim().split('\n')[0] as string) as { hostname: string }).hostname, 'flagged');
  // Another caller environment (a cgroup parent) than prepare's: the CLI.
  const third = await prepare();
  const elsewhere = await traced(s, ['run-prepared', third], { SKIFF_CGROUP_PARENT: `${s.cgroupParent}-c` });
  t.teardown(() => {
    for (const mount of cgroupMounts()) removeCgroupTree(join(mount, `${s.cgroupParent}-c`));
  });
  t.is(elsewhere.code, 0, elsewhere.stderr);
  t.is(path(elsewhere.stderr), 'node');
});

test('two replayed run-prepared of one pod race: one runs it, the other is refused', async (t) => {
  const s = await podStore(t);
  const prepared = await traced(s, ['prepare', s.image, '--exec', '/probe', '--', 'sleep', '1']);
  const uuid = prepared.stdout.trim();
  const [a, b] = await Promise.all([traced(s, ['run-prepared', uuid]), traced(s, ['run-prepared', uuid])]);
  t.deepEqual([a.code, b.code].sort(), [0, 254], `${a.stderr}\n${b.stderr}`);
  const loser = a.code === 254 ? a : b;
  t.regex(loser.stderr, /not prepared|being started by another command|no longer prepared/);
  t.deepEqual(runDirs(s), [uuid]);
});

test('a replayed run-prepared makes the same pod as the CLI\'s run-prepared', async (t) => {
  const s = await podStore(t);
  const prepare = async () => (await traced(s, ['prepare', s.image, '--pids-limit', '30', '--exec', '/probe', '--', 'exit', '0'])).stdout.trim();
  const [viaCli, replayed] = [await prepare(), await prepare()] as [string, string];
  const { spawnSync } = await import('node:child_process');
  const { skiffBin } = await import('../support/skiff-cli.js');
  const cli = spawnSync(process.execPath, [skiffBin(), '--dir', s.dir, 'run-prepared', viaCli], { env: { ...process.env, ...s.env }, encoding: 'utf8' });
  t.is(cli.status, 0, cli.stderr);
  const r = await traced(s, ['run-prepared', replayed]);
  t.is(path(r.stderr), 'replay', r.stderr);
  const { config: a } = normalized(s, viaCli);
  const { config: b } = normalized(s, replayed);
  t.is(a, b);
});

test('enter of a running pod by its full UUID goes straight to stage1; other forms and states to the CLI', async (t) => {
  const s = await podStore(t);
  s.start(['run', '--hostname', 'entered', s.image, '--name', 'probe', '--user', 'skiff', '--exec', '/probe', '--', 'sleep', '600']); // stopped below: a loaded host must not end it first
  const { waitRunning } = await import('../support/pod-store.js');
  const uuid = await waitRunning(s);
  const direct = await traced(s, ['enter', uuid, '/bin/hostname']);
  t.is(direct.code, 0, direct.stderr);
  t.is(direct.stdout.trim(), 'entered');
  t.regex(direct.stderr, /^skiff launch: enter /m);
  const app = await traced(s, ['enter', '--app', 'probe', uuid, '--', '/bin/sh', '-c', 'id -u; exit 5']);
  t.is(app.code, 5, app.stderr);
  t.is(app.stdout, '1000\n', '--app takes the app\'s user (skiff), not enter\'s default root');
  t.regex(app.stderr, /^skiff launch: enter /m);
  // The same through Node (a UUID prefix, or a command word starting with '-' without '--'):
  // the command's own stdout and status, and --app's user.
  const cases: Array<[string[], number, string]> = [
    [['enter', uuid.slice(0, 8), '/bin/hostname'], 0, 'entered\n'],
    [['enter', uuid, '/bin/ls', '-d', '/'], 0, '/\n'],
    [['enter', '--app', 'probe', uuid.slice(0, 8), '--', '/bin/sh', '-c', 'id -u; exit 5'], 5, '1000\n'],
    [['enter', uuid.slice(0, 8), '--', '/bin/sh', '-c', 'id -u'], 0, '0\n'],
  ];
  for (const [args, code, stdout] of cases) {
    const r = await traced(s, args);
    t.is(r.code, code, r.stderr);
    t.is(r.stdout, stdout, args.join(' '));
    t.regex(r.stderr, /^skiff launch: node /m, args.join(' '));
  }
  t.is((await s.skiff(['stop', '--force', uuid])).code, 0);
  const { setTimeout: sleep } = await import('node:timers/promises');
  for (let i = 0; i < 50 && (await s.skiff(['status', uuid])).stdout.includes('running'); i++) await sleep(100);
  const stopped = await traced(s, ['enter', uuid, '/bin/hostname']);
  t.is(stopped.code, 254);
  t.regex(stopped.stderr, /skiff launch: node \(the pod is not running\)/);
  t.regex(stopped.stderr, /enter works on a running pod/);
});

test('the seccomp filter is the same on the CLI path and replayed: the default, --seccomp\'s set, none with --insecure-options=seccomp', async (t) => {
  const s = await podStore(t);
  const variants: Array<{ global: string[]; app: string[]; seccomp: number; keyctl: string | undefined; unshare: string | undefined }> = [
    { global: [], app: [], seccomp: 2, keyctl: 'EPERM', unshare: 'EPERM' },
    { global: [], app: ['--seccomp', 'mode=remove,errno=ENOSYS,keyctl'], seccomp: 2, keyctl: 'ENOSYS', unshare: undefined },
    { global: ['--insecure-options=seccomp'], app: [], seccomp: 0, keyctl: undefined, unshare: undefined },
  ];
  for (const v of variants) {
    const args = [...v.global, 'run', s.image, ...v.app, '--exec', '/bin/sh', '--', '-c', '/probe info; /probe syscall keyctl unshare-user'];
    for (const expected of ['node', 'replay'] as const) {
      const r = await traced(s, args);
      t.is(r.code, 0, r.stderr);
      t.is(path(r.stderr), expected, args.join(' '));
      const [info, keyctl, unshare] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      t.is(info?.['seccomp'], v.seccomp, `${expected}: ${args.join(' ')}`);
      t.is(keyctl?.['errno'], v.keyctl, `${expected} keyctl: ${args.join(' ')}`);
      t.is(unshare?.['errno'], v.unshare, `${expected} unshare: ${args.join(' ')}`);
    }
  }
  const bad = await traced(s, ['run', s.image, '--seccomp', 'mode=remove,keyctll', '--exec', '/probe', '--', 'info']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /"keyctll" is not a syscall/);
});

test('Node exec\'d with the plan request would be too big (E2BIG): it runs without it, the pod runs, no plan is recorded', async (t) => {
  const s = await podStore(t);
  // A command line of its own per attempt (same length): a plan recorded by one is never replayed by the next.
  let n = 0;
  const args = () => ['--dir', s.dir, 'run', s.image, '--environment', `ATTEMPT=${String(n++).padStart(6, '0')}`, '--exec', '/probe', '--', 'exit', '0'];
  // RLIMIT_STACK 256 KiB makes the kernel's limit on argv + envp 128 KiB (fs/exec.c): a padding
  // variable then finds the edge where the launcher's own exec fits, Node's with the launcher's two
  // plan variables does not, and Node's without them does.
  type Outcome = 'launcher too big' | 'node too big' | 'without plan' | 'with plan';
  const attempt = (pad: number): { outcome: Outcome; status: number | null; stderr: string } => {
    // In variables of at most 60,000 bytes (one string may not pass 128 KiB, MAX_ARG_STRLEN), not
    // named SKIFF_*: those are part of the plan key, which would then be too long to pass at all.
    const padding = Object.fromEntries(Array.from({ length: Math.ceil(pad / 60_000) }, (_, i) => [`TEST_PAD${i}`, 'x'.repeat(Math.min(60_000, pad - i * 60_000))]));
    const r = spawnSync('prlimit', ['--stack=262144', '--', skiffLauncher(), ...args()], { env: { ...skiffEnv({ ...s.env, ...TRACE }), ...padding }, encoding: 'utf8' });
    const outcome: Outcome = r.error !== undefined || /prlimit: failed to execute/.test(r.stderr) ? 'launcher too big'
      : /command line and environment are too long/.test(r.stderr) ? 'node too big'
        : /node without the plan request \(E2BIG\)/.test(r.stderr) ? 'without plan' : 'with plan';
    return { outcome, status: r.status, stderr: r.stderr };
  };
  // The largest padding the launcher itself starts with (binary search).
  let lo = 0;
  let hi = 256 * 1024;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (attempt(mid).outcome === 'launcher too big') hi = mid;
    else lo = mid;
  }
  // Below it, in steps smaller than the plan variables (> 100 bytes), lies the fallback's window.
  let found: ReturnType<typeof attempt> | undefined;
  for (let pad = lo; pad > lo - 2048 && found === undefined; pad -= 24) {
    const a = attempt(pad);
    if (a.outcome === 'without plan') found = a;
  }
  t.truthy(found, 'a padding where only the plan request makes Node\'s exec too big');
  t.is(found?.status, 0, found?.stderr);
  // The runs of the search that fitted recorded plans (each names its ATTEMPT); the fallback's run asked for none.
  t.true(plans(s).length > 0);
  t.false(plans(s).some((p) => readFileSync(join(s.dir, 'run-plans', p), 'utf8').includes(`ATTEMPT=${String(n - 1).padStart(6, '0')}`)), 'no plan for the run without the request');
});

test('stop of a replayed pod is stop of a CLI pod: its PID 1 and stage1 pinned (pidfds) the same, SIGTERM gives stopped and 143, --force killed and 137', async (t) => {
  const s = await podStore(t);
  // In the store's env, so every start below (and its plan key) has it: each says which path it took.
  Object.assign(s.env, TRACE);
  const args = ['run', s.image, '--exec', '/probe', '--', 'sleep', '60'];
  const cases = [
    { expect: 'node', force: false, outcome: 'stopped', code: 143 },
    { expect: 'replay', force: false, outcome: 'stopped', code: 143 },
    { expect: 'replay', force: true, outcome: 'killed', code: 137 },
  ] as const;
  for (const c of cases) {
    const pod = s.start(args);
    const uuid = await waitRunning(s);
    const stop = await s.skiff(['stop', ...(c.force ? ['--force'] : []), uuid]);
    t.is(stop.code, 0, stop.stderr);
    t.is(stop.stdout, `${uuid} ${c.outcome}\n`, `${c.expect}: ${pod.output().stderr}`);
    t.is(await pod.exited, c.code);
    t.is(path(pod.output().stderr), c.expect);
    await s.skiff(['gc', '--grace-period=0']);
  }
});

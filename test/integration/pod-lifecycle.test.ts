/**
 * Pods through the CLI, as users run them: exit codes, multi-app pods,
 * prepare/run-prepared (and their race), list/status, enter, stop, signals,
 * rm and gc, and that nothing is left behind. Isolation details are checked
 * against stage1 directly in stage1-*.test.ts; here the stage0 flags that
 * produce them are checked through the probe.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupMounts } from '../support/cgroup-cleanup.js';
import { podStore, waitRunning } from '../support/pod-store.js';
import { tempDir } from '../support/temp-dir.js';

interface ProbeInfo {
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
  hostname: string;
  cwd: string;
  env: Record<string, string>;
  no_new_privs: boolean;
  caps: { eff_names: string[] };
  cgroup: { limits: { memory: number | string | null; pids: number | string | null; cpu_quota: number | string | null } };
  mounts: Array<{ mountpoint: string; ro: boolean }>;
  interfaces: Array<{ name: string }>;
  ns: Record<string, number>;
}

const info = (stdout: string): ProbeInfo => JSON.parse(stdout.trim().split('\n')[0] ?? '{}') as ProbeInfo;

test('run passes the app status through: 0, 7, and 137 when the memory limit kills it', async (t) => {
  const s = await podStore(t);
  const ok = await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '0']);
  t.is(ok.code, 0, ok.stderr);
  const seven = await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '7']);
  t.is(seven.code, 7, seven.stderr);
  const oom = await s.skiff(['run', s.image, '--memory', '32M', '--exec', '/probe', '--', 'alloc', '64']);
  t.is(oom.code, 137, oom.stderr);
});

test('a multi-app pod stops at the first failing app and returns its status', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff([
    'run', s.image, '--name', 'sleeper', '--exec', '/probe', '--', 'sleep', '30',
    '---', s.image, '--name', 'failer', '--exec', '/probe', '--', 'exit', '3',
  ]);
  t.is(r.code, 3, r.stderr);
  const list = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ apps: Array<{ name: string; exit?: { code: number } }> }>;
  const apps = Object.fromEntries(list[0]?.apps.map((a) => [a.name, a.exit?.code]) ?? []);
  t.deepEqual(apps, { sleeper: 143, failer: 3 });
});

test('app flags reach the app: user and groups by name, env, cwd, caps, read-only root, limits', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff([
    'run', '--hostname', 'pod-one', '--set-env', 'POD=1', s.image,
    '--user', 'skiff', '--environment', 'APP=2', '--working-dir', '/tmp', '--caps-retain', 'CAP_KILL,net_bind_service',
    '--readonly-rootfs', '--pids-limit', '50', '--memory', '64Mi', '--cpu', '500m',
  ]);
  t.is(r.code, 0, r.stderr);
  const p = info(r.stdout);
  t.is(p.uid, 1000);
  t.is(p.gid, 1000);
  t.deepEqual(p.groups, [10]);
  t.is(p.hostname, 'pod-one');
  t.is(p.cwd, '/tmp');
  t.is(p.env['POD'], '1');
  t.is(p.env['APP'], '2');
  t.is(p.env['SKIFF_FIXTURE'], 'probe', 'the image env is kept');
  t.is(p.env['HOME'], '/home/skiff');
  t.true(p.no_new_privs);
  t.deepEqual(p.caps.eff_names.sort(), ['CAP_KILL', 'CAP_NET_BIND_SERVICE']);
  t.true(p.mounts.find((m) => m.mountpoint === '/')?.ro);
  t.is(p.cgroup.limits.pids, 50);
  t.is(p.cgroup.limits.memory, 64 * 1024 * 1024);
  t.is(p.cgroup.limits.cpu_quota, 50000);
  t.deepEqual(p.interfaces.map((i) => i.name), ['lo'], '--net=none by default: loopback only');
});

test('the default hostname is skiff-<uuid8> and volumes are mounted read-only and read-write', async (t) => {
  const s = await podStore(t);
  // A host dir of our own: the app must see its file, and a write that got through would land here, not in the host's /etc.
  const host = tempDir(t, 'skiff-volume-');
  writeFileSync(join(host, 'known'), 'from the host\n');
  const r = await s.skiff([
    'run', '--volume', 'scratch,kind=empty', '--volume', `config,kind=host,source=${host},readOnly=true`,
    s.image, '--mount', 'volume=scratch,target=/scratch', '--mount', 'volume=config,target=/config', '--exec', '/bin/sh', '--',
    '-c', 'echo hi > /scratch/x && cat /scratch/x && cat /config/known && (echo no > /config/x 2>/dev/null && echo WROTE || echo READONLY)' +
      ' && /probe write /config/known changed; hostname',
  ]);
  t.is(r.code, 0, r.stderr);
  const [hi, known, ro, overwrite, hostname] = r.stdout.trim().split('\n');
  t.is(hi, 'hi');
  t.is(known, 'from the host', 'the host dir is mounted at /config');
  t.is(ro, 'READONLY');
  t.like(JSON.parse(overwrite ?? '{}'), { ok: false, error: 'EROFS' });
  t.deepEqual(readdirSync(host), ['known'], 'nothing was created in the host dir');
  t.is(readFileSync(join(host, 'known'), 'utf8'), 'from the host\n', 'the host file is unchanged');
  const list = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string }>;
  t.is(hostname, `skiff-${list[0]?.uuid.slice(0, 8)}`);
});

test('through skiff run: masked /proc paths read empty, read-only ones refuse writes, the app has its own pid namespace', async (t) => {
  const s = await podStore(t);
  t.true(readFileSync('/proc/timer_list', 'utf8').length > 0 && readFileSync('/proc/keys', 'utf8').length > 0, 'the host\'s are not empty');
  const r = await s.skiff([
    'run', s.image, '--exec', '/bin/sh', '--', '-c',
    // /proc/sys/kernel/domainname: a write that got through would change only the pod's UTS namespace.
    '/probe cat /proc/keys; /probe cat /proc/timer_list; /probe write /proc/sys/kernel/domainname pod; exec /probe info',
  ]);
  t.is(r.code, 0, r.stderr);
  const [keys, timers, sysWrite, probeInfo] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(keys, { ok: true, content: '' }, '/proc/keys is masked');
  t.deepEqual(timers, { ok: true, content: '' }, '/proc/timer_list is masked');
  t.like(sysWrite, { ok: false, error: 'EROFS' }, '/proc/sys is read-only');
  const p = probeInfo as unknown as ProbeInfo;
  t.true(p.pid > 1 && p.pid < 10, `the app's pid ${p.pid} is one of a fresh pid namespace`);
  t.not(`pid:[${p.ns['pid']}]`, readlinkSync('/proc/self/ns/pid'));
});

test('prepare then run-prepared; a second run-prepared of the same pod loses', async (t) => {
  const s = await podStore(t);
  const p = await s.skiff(['prepare', s.image, '--exec', '/probe', '--', 'sleep', '1']);
  t.is(p.code, 0, p.stderr);
  const uuid = p.stdout.trim();
  t.regex(uuid, /^[0-9a-f-]{36}$/);
  t.regex((await s.skiff(['status', uuid])).stdout, /^state=prepared$/m);
  const [a, b] = await Promise.all([s.skiff(['run-prepared', uuid.slice(0, 8)]), s.skiff(['run-prepared', uuid])]);
  const codes = [a.code, b.code].sort();
  t.deepEqual(codes, [0, 254], `${a.stderr} ${b.stderr}`);
  t.regex([a, b].find((r) => r.code === 254)?.stderr ?? '', /no longer prepared|not prepared|being started/);
});

test('status --wait, list and status as JSON; enter sees the pod; stop then --force', async (t) => {
  const s = await podStore(t);
  const pod = s.start(['run', '--hostname', 'entered', s.image, '--exec', '/probe', '--', 'ignore-term', '60']);
  const uuid = await waitRunning(s);
  const status = JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { state: string; pid: number };
  t.is(status.state, 'running');
  t.true(status.pid > 0);
  const entered = await s.skiff(['enter', uuid, '/bin/hostname']);
  t.is(entered.code, 0, entered.stderr);
  t.is(entered.stdout.trim(), 'entered');
  // The app ignores SIGTERM (once it says so): a plain stop must wait out its timeout, then SIGKILL.
  for (let i = 0; i < 250 && !pod.output().stdout.includes('"ignoring":"SIGTERM"'); i++) await sleep(20);
  t.regex(pod.output().stdout, /"ignoring":"SIGTERM"/);
  const stopStarted = Date.now();
  const stop = await s.skiff(['stop', '--timeout', '1s', uuid]);
  const stopMs = Date.now() - stopStarted;
  t.is(stop.code, 0, stop.stderr);
  t.regex(stop.stdout, new RegExp(`${uuid} (killed|stopped)`));
  t.is(stop.stdout, `${uuid} killed\n`);
  t.true(stopMs >= 1000, `stop took ${stopMs} ms: it did not wait out its 1 s timeout before SIGKILL`);
  t.is(await pod.exited, 137);
  const waited = await s.skiff(['status', '--wait=5s', uuid]);
  t.regex(waited.stdout, /^state=exited$/m);
  t.regex(waited.stdout, /^app-layout=137$/m, 'the app is named for the image (oci:DIR/layout)');
  const forced = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const second = await waitRunning(s);
  t.is((await s.skiff(['stop', '--force', second])).code, 0);
  t.is(await forced.exited, 137);
});

test('status --wait returns when the pod exits and gives up (254) on a running one; stop of a plain app is graceful: 143', async (t) => {
  const s = await podStore(t);
  const pod = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s);
  let returned = false;
  const waiting = s.skiff(['status', '--wait=120s', uuid]).then((r) => {
    returned = true;
    return r;
  });
  const timeoutStarted = Date.now();
  const timedOut = await s.skiff(['status', '--wait=1s', uuid]);
  const timeoutMs = Date.now() - timeoutStarted;
  t.is(timedOut.code, 254, timedOut.stderr);
  t.is(timedOut.stdout, '');
  t.regex(timedOut.stderr, new RegExp(`^skiff: pod ${uuid} has not exited after 1000 ms; wait longer or stop it\n$`));
  t.true(timeoutMs >= 1000, `status --wait=1s gave up after ${timeoutMs} ms`);
  t.false(returned, 'status --wait=120s returned while the pod was still running');
  const stop = await s.skiff(['stop', uuid]);
  t.is(stop.code, 0, stop.stderr);
  t.is(stop.stdout, `${uuid} stopped\n`, 'SIGTERM was enough: no escalation');
  t.is(await pod.exited, 143);
  const waited = await waiting;
  t.is(waited.code, 0, waited.stderr);
  t.regex(waited.stdout, /^state=exited$/m);
  t.regex(waited.stdout, /^exited=true$/m);
  t.regex(waited.stdout, /^app-layout=143$/m);
});

test('SIGTERM to skiff run stops the pod gracefully: the app sees it and exits 0', async (t) => {
  const s = await podStore(t);
  const pod = s.start(['run', s.image, '--exec', '/probe', '--', 'signal-report', '30']);
  await waitRunning(s);
  for (let i = 0; i < 100 && !pod.output().stdout.includes('waiting'); i++) await sleep(20);
  pod.child.kill('SIGTERM');
  t.is(await pod.exited, 0);
  t.regex(pod.output().stdout, /"signal":"SIGTERM"/);
});

test('rm refuses a running pod and removes an exited one; gc honours the grace period and expiry', async (t) => {
  const s = await podStore(t);
  const run = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s);
  const refused = await s.skiff(['rm', uuid]);
  t.is(refused.code, 254);
  t.regex(refused.stderr, /is running; stop it first/);
  await s.skiff(['stop', '--force', uuid]);
  await run.exited;
  t.is((await s.skiff(['rm', uuid])).code, 0);
  t.false(existsSync(join(s.dir, 'pods', 'run', uuid)));

  t.is((await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '0'])).code, 0);
  const prepared = (await s.skiff(['prepare', s.image])).stdout.trim();
  const keep = await s.skiff(['gc']);
  t.regex(keep.stdout, /^marked /m, 'the exited pod is marked');
  t.notRegex(keep.stdout, /^removed /m, 'but kept for the grace period');
  t.truthy(readdirSync(join(s.dir, 'pods', 'prepared')).includes(prepared), 'a fresh prepared pod is kept');
  const sweep = await s.skiff(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  t.regex(sweep.stdout, new RegExp(`^removed ${prepared}$`, 'm'));
  const left = ['run', 'prepared', 'exited-garbage', 'garbage'].flatMap((st) =>
    existsSync(join(s.dir, 'pods', st)) ? readdirSync(join(s.dir, 'pods', st)) : [],
  );
  t.deepEqual(left, []);
});

test('kill -9 of the stage1 supervisor kills the pod; gc cleans up cgroups and the pod dir', async (t) => {
  const s = await podStore(t);
  const run = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s);
  const pid1 = Number(readFileSync(join(s.dir, 'pods', 'run', uuid, 'pid'), 'utf8'));
  run.child.kill('SIGKILL');
  await run.exited;
  // A dead pod process may linger as a zombie until the host's init reaps it: dead all the same.
  const alive = (): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid1}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && alive(); i++) await sleep(20);
  t.false(alive(), 'the pod died with its supervisor');
  const text = (await s.skiff(['status', uuid])).stdout;
  t.regex(text, /^state=exited$/m);
  t.regex(text, /^exit-code=unknown$/m, 'a killed pod never reads as success');
  t.regex(text, /^reason=stage1 ended without recording an exit status for \S+ \(killed/m);
  const json = JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { exitCode: unknown; reason: string };
  t.is(json.exitCode, null);
  t.regex(json.reason, /killed/);
  const listed = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string; exitCode: unknown }>;
  t.deepEqual(listed.map((p) => [p.uuid, p.exitCode]), [[uuid, null]]);
  t.regex((await s.skiff(['list'])).stdout, /exited \(status unknown\)/);
  const memoryCg = join('/sys/fs/cgroup/memory', s.cgroupParent, uuid);
  t.true(existsSync(memoryCg), 'the killed stage1 could not remove its cgroup');
  const gc = await s.skiff(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.false(existsSync(memoryCg));
  t.false(existsSync(join(s.dir, 'pods', 'run', uuid)));
  t.false(existsSync(join(s.dir, 'pods', 'exited-garbage', uuid)));
});

test('after 20 pods nothing is left: no mount, cgroup or pod dir', async (t) => {
  const s = await podStore(t);
  // Where a pod's cgroups go: else the check below would pass for looking in the wrong place.
  const background = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const running = await waitRunning(s);
  const used = cgroupMounts().filter((m) => existsSync(join(m, s.cgroupParent, running)));
  for (const hierarchy of ['memory', 'pids', 'cpu']) t.true(used.includes(join('/sys/fs/cgroup', hierarchy)), `${hierarchy}: ${used.join(' ')}`);
  t.is((await s.skiff(['stop', '--force', running])).code, 0);
  t.is(await background.exited, 137);
  for (let i = 0; i < 20; i++) {
    const r = await s.skiff(['run', s.image, '--memory', '64M', '--exec', '/probe', '--', 'exit', String(i % 3)]);
    t.is(r.code, i % 3, r.stderr);
  }
  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  // Other work on this machine mounts things too: look only for mounts of this store.
  t.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(s.dir)), []);
  for (const mount of cgroupMounts()) {
    const parent = join(mount, s.cgroupParent);
    t.deepEqual(existsSync(parent) ? readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [], [], mount);
  }
  t.deepEqual(readdirSync(join(s.dir, 'pods', 'exited-garbage')), []);
  t.deepEqual(existsSync(join(s.dir, 'pods', 'run')) ? readdirSync(join(s.dir, 'pods', 'run')) : [], []);
});

test('pod usage errors exit 2 with one line', async (t) => {
  const s = await podStore(t);
  const cases: Array<[string[], RegExp]> = [
    [['run'], /no image given/],
    [['run', s.image, '--bogus'], /unknown app flag '--bogus'/],
    [['run', '--net=nosuch', s.image], /--net: no network named "nosuch"/],
    [['run', s.image, '--memory', 'lots'], /--memory "lots" is not a memory size/],
    [['run', s.image, '--caps-retain', 'cap_flying'], /unknown capability "cap_flying"/],
    [['status', 'zzzz'], /is not a pod UUID/],
  ];
  for (const [args, re] of cases) {
    const r = await s.skiff(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
});

test('limits act on the apps: pids limit refuses forks, CPU quota throttles', async (t) => {
  const s = await podStore(t);
  const forks = await s.skiff(['run', s.image, '--pids-limit', '8', '--exec', '/probe', '--', 'fork', '20']);
  t.is(forks.code, 1, forks.stderr);
  t.regex(forks.stdout, /"error":"EAGAIN"/);
  // The kernel's own throttling counters, read by the app from its cgroup while it spins (the
  // cgroup is gone once the pod exits): a busy host would pass a cpu/wall ratio without any quota,
  // and a fixed spin on a busy host may never use its quota, so the probe spins until the kernel
  // counts a throttled period (bounded, generously).
  const spin = await s.skiff(['run', s.image, '--cpu', '200m', '--exec', '/bin/sh', '--', '-c',
    '/probe throttle 120 /sys/fs/cgroup/cpu/cpu.stat /sys/fs/cgroup/cpu.stat && { cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat; }']);
  t.is(spin.code, 0, spin.stderr);
  const stat = cpuStat(spin.stdout);
  t.true(stat.nr_throttled > 0, `the quota throttled the app: ${spin.stdout}`);
  t.true((stat.throttled_time ?? stat.throttled_usec ?? 0) > 0, spin.stdout);
});

/** `name value` lines of a cgroup's cpu.stat (v1: throttled_time in ns; v2: throttled_usec). */
function cpuStat(text: string): Record<string, number> & { nr_throttled: number } {
  const stat: Record<string, number> = {};
  for (const [, key, value] of text.matchAll(/^(\w+) (\d+)$/gm)) stat[key as string] = Number(value);
  return { nr_throttled: -1, ...stat };
}

test('env files, inherited env, DNS, hosts entries and the UUID file reach the pod', async (t) => {
  const s = await podStore(t);
  const { writeFileSync } = await import('node:fs');
  const envFile = join(s.dir, '..', 'pod.env');
  writeFileSync(envFile, '# comment\nFROM_FILE=yes\n\n');
  const uuidFile = join(s.dir, '..', 'uuid');
  const r = await s.skiff([
    'run', '--set-env-file', envFile, '--inherit-env', '--dns', '198.18.0.53', '--hosts-entry', '198.18.0.9=db.example',
    '--uuid-file-save', uuidFile, s.image, '--exec', '/bin/sh', '--', '-c',
    'echo "$FROM_FILE $SKIFF_TEST_INHERITED"; cat /etc/resolv.conf; grep db.example /etc/hosts',
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^yes inherited$/m);
  t.regex(r.stdout, /^nameserver 198\.18\.0\.53$/m);
  t.regex(r.stdout, /^198\.18\.0\.9\s+db\.example$/m);
  const status = await s.skiff(['status', '--uuid-file', uuidFile]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^state=exited$/m);
}, );

test('run with --pull-policy=never refuses an image the store lacks', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff(['run', '--pull-policy=never', 'docker://198.19.0.1:5000/skiff/absent:1']);
  t.is(r.code, 254);
  t.regex(r.stderr, /not in the store and --pull-policy=never forbids fetching it/);
});

test('apps of different images each get their own root, sharing the pod', async (t) => {
  const s = await podStore(t);
  const { fixtureImages, PROBE_CONFIG } = await import('../support/fixture-images.js');
  const { buildImage, buildLayer } = await import('../support/oci-image.js');
  const { writeOciLayout } = await import('../support/oci-layout.js');
  const base = await fixtureImages();
  const marker = buildLayer([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/app-marker', type: 'file', content: 'second image\n' },
  ]);
  const baseLayer = base.oci.layers[0];
  if (baseLayer === undefined) return t.fail();
  const { gunzipSync } = await import('node:zlib');
  const second = buildImage({ layers: [buildLayer(gunzipSync(baseLayer.data)), marker], config: PROBE_CONFIG });
  const layout = join(s.dir, '..', 'second');
  await writeOciLayout(layout, [{ ref: 'marked', image: second }]);
  const other = `oci:${layout}:marked`;
  const args = [
    'run', '--volume', 'shared,kind=empty',
    s.image, '--name', 'plain', '--mount', 'volume=shared,target=/shared', '--exec', '/bin/sh', '--',
    // Written aside and renamed: the other app waits for the whole note, not a sleep's worth of time.
    '-c', 'test -e /etc/app-marker && echo LEAK; echo from-plain > /shared/.note && mv /shared/.note /shared/note',
    '---', other, '--name', 'marked', '--mount', 'volume=shared,target=/shared', '--exec', '/bin/sh', '--',
    '-c', 'cat /etc/app-marker; until [ -e /shared/note ]; do sleep 0.02; done; cat /shared/note; hostname',
  ];
  // Three times: the first fetches the second image, the second records a run plan, the third replays it.
  const { runSkiff } = await import('../support/skiff-cli.js');
  for (const expected of ['node', 'node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, ...args], { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
    t.is(r.code, 0, r.stderr);
    t.is(/^skiff launch: node/m.test(r.stderr) ? 'node' : 'replay', expected, r.stderr);
    t.notRegex(r.stdout, /LEAK/);
    t.regex(r.stdout, /^second image$/m);
    t.regex(r.stdout, /^from-plain$/m);
    t.regex(r.stdout, /^skiff-[0-9a-f]{8}$/m);
  }
});

test('--interactive keeps the terminal: the app reads stdin from it', async (t) => {
  const s = await podStore(t);
  const { skiffLauncher } = await import('../support/skiff-cli.js');
  const { underTerminal } = await import('../support/terminal.js');
  // `script` gives skiff a pseudo-terminal, as a user's shell would, its stdin held open until the
  // run ends (test/support/terminal.ts: a closed one makes script type ^D). Twice: the second run is replayed.
  const command = [skiffLauncher(), '--dir', s.dir, 'run', '--interactive', s.image, '--exec', '/bin/sh', '--', '-c',
    'test -t 0 && echo STDIN-IS-A-TTY; read line; echo "got $line"'].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  for (const attempt of [1, 2]) {
    const run = await underTerminal(command, { input: 'hello\n', env: { ...process.env, ...s.env, SKIFF_LAUNCH_TRACE: '1' }, timeoutMs: 60_000 });
    t.is(run.status, 0, run.stdout + run.stderr);
    const out = run.stdout;
    t.regex(out, /STDIN-IS-A-TTY/);
    t.regex(out, /got hello/);
    t.regex(out, attempt === 1 ? /skiff launch: node/ : /skiff launch: replay/);
  }
  const plain = await s.skiff(['run', s.image, '--exec', '/bin/sh', '--', '-c', 'test -t 0 || echo NOT-A-TTY; cat'], 'ignored\n');
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /^NOT-A-TTY$/m);
  t.notRegex(plain.stdout, /ignored/, 'without --interactive stdin is /dev/null');
});

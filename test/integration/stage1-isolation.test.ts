/**
 * What an app sees from inside a pod, read by the probe: namespaces, mounts,
 * masked and read-only paths, identity, capabilities, env, rlimits, volumes,
 * the generated /etc files, and a read-only root.
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  createPod, firstJson, probe, renderProbeRootfs, runPod, sharedProbeRootfs, startPod, type AppSpec, type PodSpec as Stage1PodSpec,
} from '../support/stage1-harness.js';
import { mountsUnder, tempDir } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

/** A shell app running several probe commands: one JSON line each. */
function script(lines: string[], app: Partial<AppSpec> = {}): AppSpec {
  return { name: 'sh', exec: '/bin/sh', args: ['-c', lines.join('; ')], ...app };
}

function jsonLines(stdout: string): Record<string, any>[] {
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
}

const capNames = (names: string[]) => names.map((n) => `CAP_${n.toUpperCase()}`);

test('namespaces: own hostname, the probe is a child of PID 1, only the pod\'s processes in /proc', async (t) => {
  const r = await runPod(t, { hostname: 'pod-uts-test', apps: [script(['/probe ls /proc', 'exec /probe info'])] });
  t.is(r.code, 0, r.stderr);
  const [proc, info] = jsonLines(r.stdout);
  t.is(info!.hostname, 'pod-uts-test');
  t.not(hostname(), 'pod-uts-test');
  t.true(info!.pid > 1 && info!.pid < 10, `pid ${info!.pid}`);
  t.true(info!.ppid === 1 || info!.ppid === 0);
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']) {
    t.not(`${ns}:[${info!.ns[ns]}]`, readlinkSync(`/proc/self/ns/${ns}`), `own ${ns} namespace`);
  }
  const pids = (proc!.entries as { name: string }[]).map((e) => e.name).filter((n) => /^\d+$/.test(n));
  t.true(pids.includes('1'));
  t.true(pids.length <= 4, `pod processes: ${pids.join(',')}`);
});

test('mounts: /proc, read-only /sys with the pod\'s cgroups, a minimal /dev', async (t) => {
  const r = await runPod(t, { apps: [script(['/probe info', '/probe ls /dev', '/probe ls /sys/fs/cgroup'])] });
  t.is(r.code, 0, r.stderr);
  const [info, dev, cgroupDir] = jsonLines(r.stdout);
  const mounts = new Map((info!.mounts as { mountpoint: string; fstype: string; ro: boolean; options: string }[]).map((m) => [m.mountpoint, m]));
  t.is(mounts.get('/')?.fstype, 'overlay');
  t.like(mounts.get('/proc'), { fstype: 'proc', ro: false });
  t.like(mounts.get('/sys'), { fstype: 'sysfs', ro: true });
  t.like(mounts.get('/sys/fs/cgroup'), { fstype: 'tmpfs', ro: true });
  t.like(mounts.get('/sys/fs/cgroup/memory'), { fstype: 'cgroup', ro: true });
  t.like(mounts.get('/sys/fs/cgroup/unified'), { fstype: 'cgroup2', ro: true });
  t.like(mounts.get('/dev'), { fstype: 'tmpfs' });
  t.like(mounts.get('/dev/pts'), { fstype: 'devpts' });
  t.like(mounts.get('/dev/shm'), { fstype: 'tmpfs' });
  t.like(mounts.get('/dev/mqueue'), { fstype: 'mqueue' });
  t.regex(mounts.get('/proc')!.options, /nosuid.*nodev.*noexec/);
  t.false([...mounts.keys()].some((m) => m.startsWith('/work') || m.startsWith('/tmp')), 'no host mount is visible');

  const entries = new Map((dev!.entries as { name: string; type: string; mode: string; target: string | null }[]).map((e) => [e.name, e]));
  t.deepEqual([...entries.keys()], ['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  for (const node of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) t.like(entries.get(node), { type: 'char', mode: '0666' });
  t.like(entries.get('ptmx'), { type: 'symlink', target: 'pts/ptmx' });

  t.is(info!.cgroup.layout, 'hybrid');
  t.true((info!.cgroup.paths as { path: string }[]).every((p) => p.path === '/'), 'the cgroup namespace is rooted at the pod');
  const names = (cgroupDir!.entries as { name: string }[]).map((e) => e.name);
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) t.true(names.includes(c), c);
});

test('masked paths read as empty, read-only paths refuse writes', async (t) => {
  const r = await runPod(t, {
    apps: [script(['/probe cat /proc/keys', '/probe cat /proc/timer_list', '/probe ls /sys/firmware', '/probe write /sys/firmware/x y',
      '/probe write /proc/sys/kernel/domainname pod', '/probe info'])],
  });
  t.is(r.code, 0, r.stderr);
  const [keys, timers, firmware, firmwareWrite, sysWrite, info] = jsonLines(r.stdout);
  t.like(keys, { ok: true, content: '' });
  t.like(timers, { ok: true, content: '' });
  t.deepEqual(firmware!.entries, []);
  t.like(firmwareWrite, { ok: false, error: 'EROFS' });
  t.like(sysWrite, { ok: false, error: 'EROFS' });
  t.is(info!.domainname, '(none)');
  const mounts = new Map((info!.mounts as { mountpoint: string; ro: boolean }[]).map((m) => [m.mountpoint, m]));
  t.like(mounts.get('/proc/sys'), { ro: true });
  t.like(mounts.get('/proc/keys'), { ro: false });
});

test('capabilities: a reduced set for root is exactly that set, ambient empty', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'], { caps: 'chown,kill' })] });
  t.is(r.code, 0, r.stderr);
  const caps = firstJson(r).caps;
  for (const set of ['eff', 'prm', 'bnd', 'inh']) t.deepEqual(caps[`${set}_names`], capNames(['chown', 'kill']), set);
  t.deepEqual(caps.amb_names, []);
});

test('capabilities: the default set is Docker\'s 14; an unknown name is a config error', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'])] });
  t.deepEqual(firstJson(r).caps.eff_names, capNames([
    'chown', 'dac_override', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'net_bind_service', 'net_raw',
    'sys_chroot', 'mknod', 'audit_write', 'setfcap',
  ]));
  const bad = await runPod(t, { apps: [probe(['info'], { caps: 'chown,superpowers' })] });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown capability 'superpowers'/);
});

test('a non-root app without ambient-caps holds no capability: empty process sets, the bounding set as configured', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'], { uid: 1000, gid: 1000 })] });
  t.is(r.code, 0, r.stderr);
  const { caps } = firstJson(r);
  for (const set of ['eff', 'prm', 'inh', 'amb']) t.deepEqual(caps[`${set}_names`], [], set);
  t.is(caps.bnd_names.length, 14, 'the default bounding set');
});

test('ambient-caps larger than caps is a config error', async (t) => {
  const bad = await runPod(t, { apps: [probe(['info'], { uid: 1000, caps: 'chown', ambientCaps: 'chown,kill' })] });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /ambient-caps 'chown,kill' holds a capability that caps 'chown' does not/);
});

test('a non-root app: uid, gid, groups, ambient caps, cwd, no_new_privs, exact env', async (t) => {
  const env = ['PATH=/bin', 'ONLY=this', 'EMPTY=', 'SPACES=a b  c'];
  const r = await runPod(t, {
    apps: [probe(['info'], { uid: 1000, gid: 1000, groups: [10], caps: 'chown,kill', ambientCaps: 'chown,kill', env, workingDir: '/home/skiff' })],
  });
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  t.like(info, { uid: 1000, euid: 1000, gid: 1000, egid: 1000, user: 'skiff', group: 'skiff', cwd: '/home/skiff', no_new_privs: true });
  t.deepEqual(info.groups, [10]);
  t.deepEqual(info.caps.eff_names, capNames(['chown', 'kill']));
  t.deepEqual(info.caps.amb_names, capNames(['chown', 'kill']));
  t.deepEqual(info.env, { PATH: '/bin', ONLY: 'this', EMPTY: '', SPACES: 'a b  c' });
  t.is(info.umask, '0022');
});

test('no-new-privs 0 leaves it off; rlimits are set and clamped to stage1\'s hard limits', async (t) => {
  const hardNofile = Number(/Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  const r = await runPod(t, {
    apps: [probe(['info'], { noNewPrivs: false, rlimits: ['nofile\t512\t1024', `core\t0\t0`, `nproc\t100\t${hardNofile * 1000}`] })],
  });
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  t.false(info.no_new_privs);
  t.deepEqual(info.rlimits.nofile, { soft: 512, hard: 1024 });
  t.deepEqual(info.rlimits.core, { soft: 0, hard: 0 });
  const hardNproc = Number(/Max processes\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  t.deepEqual(info.rlimits.nproc, { soft: 100, hard: Math.min(hardNproc, hardNofile * 1000) });
});

test('stdin is /dev/null unless interactive; an interactive app reads stage1\'s stdin', async (t) => {
  const closed = await runPod(t, { apps: [probe(['ls', '/proc/self/fd/0'])] });
  t.is(firstJson(closed).entries[0].target, '/dev/null');
  const pod = await createPod(t, { apps: [{ name: 'cat', exec: '/bin/cat', interactive: true }] });
  const running = startPod(t, pod, { stdin: 'pipe' });
  running.child.stdin!.end('hello from the host\n');
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello from the host\n');
});

test('signals ignored by stage1\'s parent (as Node leaves them) are reset for the app', async (t) => {
  const pod = await createPod(t, { apps: [probe(['cat', '/proc/self/status'])] });
  const r = await startPod(t, pod, { prefix: ['/bin/sh', '-c', 'trap "" PIPE XFSZ HUP; exec "$0" "$@"'] }).result;
  t.is(r.code, 0, r.stderr);
  const status = firstJson(r).content as string;
  t.regex(status, /^SigIgn:\s+0+$/m);
  t.regex(status, /^SigBlk:\s+0+$/m);
});

test('read-only rootfs: writes to / fail with EROFS, /dev/shm and volumes stay writable', async (t) => {
  const host = tempDir(t);
  const r = await runPod(t, {
    volumes: [{ name: 'data', kind: 'host', source: host, ro: false }],
    apps: [script(['/probe write /x y', '/probe write /tmp/x y', '/probe write /dev/shm/x y', '/probe write /data/x y'], {
      readonlyRootfs: true, mounts: [{ volume: 'data', target: '/data' }],
    })],
  });
  t.is(r.code, 0, r.stderr);
  const [root, tmp, shm, vol] = jsonLines(r.stdout);
  t.like(root, { ok: false, error: 'EROFS' });
  t.like(tmp, { ok: false, error: 'EROFS' });
  t.like(shm, { ok: true });
  t.like(vol, { ok: true });
  t.is(readFileSync(join(host, 'x'), 'utf8'), 'y');
});

test('read-only rootfs for one app of two: only that app\'s view is read-only', async (t) => {
  const r = await runPod(t, {
    apps: [
      script(['/probe write /ro-app x', 'true'], { name: 'ro', readonlyRootfs: true }),
      script(['/probe write /rw-app x', 'true'], { name: 'rw' }),
    ],
  });
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  t.deepEqual(lines.find((l) => l.ok === false), { ok: false, error: 'EROFS', message: 'Read-only file system' });
  t.true(existsSync(join(r.pod.dir, 'upper', 'rw-app')), 'the other app could write');
  t.false(existsSync(join(r.pod.dir, 'upper', 'ro-app')));
});

test('volumes: host and empty kinds, read-write and read-only', async (t) => {
  const rw = tempDir(t);
  const ro = tempDir(t);
  writeFileSync(join(ro, 'given'), 'from the host');
  const empty = join(tempDir(t), 'scratch'); // stage0 makes it in the pod dir
  mkdirSync(empty);
  const r = await runPod(t, {
    volumes: [
      { name: 'rw', kind: 'host', source: rw, ro: false },
      { name: 'ro', kind: 'host', source: ro, ro: true },
      { name: 'scratch', kind: 'empty', source: empty, ro: false },
    ],
    apps: [script(['/probe write /mnt/rw/out hello', '/probe cat /mnt/ro/given', '/probe write /mnt/ro/out no', '/probe write /deep/new/dir/f z', '/probe info'], {
      mounts: [{ volume: 'rw', target: '/mnt/rw' }, { volume: 'ro', target: '/mnt/ro' }, { volume: 'scratch', target: '/deep/new/dir' }],
    })],
  });
  t.is(r.code, 0, r.stderr);
  const [write, read, refused, scratch, info] = jsonLines(r.stdout);
  t.like(write, { ok: true });
  t.is(readFileSync(join(rw, 'out'), 'utf8'), 'hello');
  t.like(read, { ok: true, content: 'from the host' });
  t.like(refused, { ok: false, error: 'EROFS' });
  t.like(scratch, { ok: true });
  t.is(readFileSync(join(empty, 'f'), 'utf8'), 'z');
  const mounts = new Map((info!.mounts as { mountpoint: string; ro: boolean }[]).map((m) => [m.mountpoint, m]));
  t.like(mounts.get('/mnt/ro'), { ro: true });
  t.like(mounts.get('/mnt/rw'), { ro: false });
  t.deepEqual(mountsUnder(rw), [], 'the volume was bound in the pod only');
});

test('/etc/hosts, /etc/hostname and /etc/resolv.conf', async (t) => {
  const generated = await runPod(t, {
    hostname: 'etc-test', dns: ['198.18.0.53', '198.18.0.54'], hostsEntries: ['198.18.0.10 db db.local'],
    apps: [script(['/probe cat /etc/hosts', '/probe cat /etc/hostname', '/probe cat /etc/resolv.conf'])],
  });
  t.is(generated.code, 0, generated.stderr);
  const [hosts, name, resolv] = jsonLines(generated.stdout);
  t.regex(hosts!.content, /^127\.0\.0\.1\tlocalhost$/m);
  t.regex(hosts!.content, /^127\.0\.1\.1\tetc-test$/m);
  t.regex(hosts!.content, /^198\.18\.0\.10 db db\.local$/m);
  t.is(name!.content, 'etc-test\n');
  t.is(resolv!.content, 'nameserver 198.18.0.53\nnameserver 198.18.0.54\n');

  const hostFile = join(tempDir(t), 'resolv.conf');
  writeFileSync(hostFile, 'nameserver 198.18.1.1\n');
  const bound = await runPod(t, { resolvConf: hostFile, apps: [script(['/probe cat /etc/resolv.conf', '/probe write /etc/resolv.conf x'])] });
  const [content, write] = jsonLines(bound.stdout);
  t.is(content!.content, 'nameserver 198.18.1.1\n');
  t.like(write, { ok: false, error: 'EROFS' }, 'the host file is bound read-only');
});

test('resolv.conf values are words: stage1 refuses whitespace or a control character in one (its own check, behind stage0\'s)', async (t) => {
  const cases: Array<[Partial<Stage1PodSpec>, RegExp]> = [
    [{ dnsSearch: ['a.example\nnameserver 6.6.6.6'] }, /config: dns-search: 'a\.example nameserver 6\.6\.6\.6' holds whitespace or a control character/],
    [{ dnsOpts: ['ndots:1 rotate'] }, /config: dns-opt: 'ndots:1 rotate' holds whitespace/],
    [{ dnsDomain: '' }, /config: dns-domain: an empty value/],
    [{ dns: ['198.18.0.1\tx'] }, /config: dns: '198\.18\.0\.1\tx' holds whitespace/],
    [{ dnsSearch: ['a.example'], resolvConf: '/etc/resolv.conf' }, /config: give dns, dns-search, dns-opt, dns-domain or resolv-conf, not both/],
  ];
  for (const [spec, message] of cases) {
    const r = await runPod(t, { ...spec, apps: [probe(['exit', '0'])] });
    t.is(r.code, 2, JSON.stringify(spec));
    // stage1 prints a control character of the value as a space: its error is one line.
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1);
    t.is(r.state.apps.probe?.started, undefined, 'no app ran');
  }
});

test('rootfs-dir: the rendered dir is the pod\'s root, writes land in it', async (t) => {
  const dir = tempDir(t, 'skiff-test-rootfs-dir-');
  await renderProbeRootfs(dir);
  const r = await runPod(t, { rootfsDir: dir, apps: [script(['/probe write /written yes', '/probe info'])] });
  t.is(r.code, 0, r.stderr);
  const [write, info] = jsonLines(r.stdout);
  t.like(write, { ok: true });
  t.is(readFileSync(join(dir, 'written'), 'utf8'), 'yes');
  const root = (info!.mounts as { mountpoint: string; fstype: string }[]).find((m) => m.mountpoint === '/');
  t.not(root?.fstype, 'overlay', 'a bind of the dir, not an overlay');
  t.deepEqual(mountsUnder(dir), []);
});

test('a hostile image cannot move a mount out of the pod: /proc as a symlink is refused', async (t) => {
  const dir = tempDir(t, 'skiff-test-rootfs-dir-');
  await renderProbeRootfs(dir);
  const { rmSync, symlinkSync } = await import('node:fs');
  rmSync(join(dir, 'proc'), { recursive: true });
  symlinkSync('/etc', join(dir, 'proc'));
  const r = await runPod(t, { rootfsDir: dir, apps: [probe(['exit', '0'])] });
  t.is(r.code, 254);
  t.regex(r.state.stage1Error ?? '', /^rootfs: mount proc on .*\/rootfs\/proc: ENOTDIR\n$/);
});

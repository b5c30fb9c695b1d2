/**
 * Per-app roots (native/stage1-protocol.md, "Per-app roots"): each app of a
 * pod runs in a root of its own, here two different "images" (the probe
 * rootfs with a different /etc/app-marker in each), while the apps share the
 * pod's pid, net, uts, ipc and cgroup namespaces, its volumes and /dev/shm.
 * Image A is an overlay (a marker layer on top of the shared probe rootfs),
 * image B a rendered dir bound as is, so both rootfs forms are exercised.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  STAGE1, appOverlayDir, createPod, pidNamespace, podLockFree, probe, processesInNamespace, renderProbeRootfs, runPod,
  sharedProbeRootfs, startPod, testCgroups, waitFor, type AppSpec,
} from '../support/stage1-harness.js';
import { mountsUnder, tempDir } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

type Json = Record<string, any>;

/** An image as an overlay: a layer with etc/app-marker and /layer-only (a script) on top of the probe rootfs. */
async function overlayImage(t: ExecutionContext, marker: string): Promise<{ lower: string[] }> {
  const layer = tempDir(t, 'skiff-test-layer-');
  mkdirSync(join(layer, 'etc'));
  writeFileSync(join(layer, 'etc', 'app-marker'), marker);
  writeFileSync(join(layer, 'layer-only'), '#!/bin/sh\necho from the layer\n', { mode: 0o755 });
  return { lower: [layer, await sharedProbeRootfs()] };
}

/** An image as a rendered dir: the probe rootfs (GNU tar) plus its own etc/app-marker. */
async function dirImage(t: ExecutionContext, marker: string): Promise<{ dir: string }> {
  const dir = tempDir(t, 'skiff-test-rootfs-');
  await renderProbeRootfs(dir);
  writeFileSync(join(dir, 'etc', 'app-marker'), marker);
  return { dir };
}

/** A shell app printing `NAME JSON` per probe command, so the lines of two apps can be told apart. */
function tagged(name: string, commands: string[], app: Partial<AppSpec>, before = 'true'): AppSpec {
  const lines = commands.map((c) => `printf '%s %s\\n' ${name} "$(${c})"`);
  return { name, exec: '/bin/sh', args: ['-c', [before, ...lines].join('; ')], ...app };
}

function byApp(stdout: string): Record<string, Json[]> {
  const out: Record<string, Json[]> = {};
  for (const line of stdout.trim().split('\n')) {
    const space = line.indexOf(' ');
    (out[line.slice(0, space)] ??= []).push(JSON.parse(line.slice(space + 1)) as Json);
  }
  return out;
}

const mountMap = (info: Json) =>
  new Map((info.mounts as { mountpoint: string; fstype: string; ro: boolean }[]).map((m) => [m.mountpoint, m]));

/** The client's shell: wait until the pod's netns has a listener on 8080 (0x1F90, state 0A), then fetch once. */
const WAIT_FOR_LISTENER = 'until grep -q ":1F90 00000000:0000 0A" /proc/net/tcp; do sleep 0.02; done; exec /probe fetch 127.0.0.1 8080';

test('two apps, two roots: each sees its own image, both see the pod (hostname, /etc files, /proc, /sys, /dev, namespaces)', async (t) => {
  const commands = ['/probe cat /etc/app-marker', '/probe cat /etc/hostname', '/probe cat /etc/hosts', '/probe cat /etc/resolv.conf',
    '/probe cat /proc/keys', '/probe ls /proc', '/probe info'];
  const r = await runPod(t, {
    hostname: 'multi-root', dns: ['198.18.0.53'], hostsEntries: ['198.18.0.10 db'],
    apps: [tagged('a', commands, { rootfs: await overlayImage(t, 'image A\n') }), tagged('b', commands, { rootfs: await dirImage(t, 'image B\n') })],
  });
  t.is(r.code, 0, r.stderr);
  const out = byApp(r.stdout);
  const infos: Record<string, Json> = {};
  for (const [name, marker] of [['a', 'image A\n'], ['b', 'image B\n']] as const) {
    const [own, hostname, hosts, resolv, keys, proc, info] = out[name]!;
    t.is(own!.content, marker, `${name} sees its own image`);
    t.is(hostname!.content, 'multi-root\n');
    t.regex(hosts!.content, /^127\.0\.1\.1\tmulti-root$/m);
    t.regex(hosts!.content, /^198\.18\.0\.10 db$/m);
    t.is(resolv!.content, 'nameserver 198.18.0.53\n');
    t.like(keys, { ok: true, content: '' }, 'masked paths apply to every root');
    t.true((proc!.entries as { name: string }[]).some((e) => e.name === '1'), '/proc is the pod\'s');
    t.is(info!.hostname, 'multi-root');
    const mounts = mountMap(info!);
    t.like(mounts.get('/proc'), { fstype: 'proc', ro: false });
    t.like(mounts.get('/proc/sys'), { ro: true });
    t.like(mounts.get('/sys'), { fstype: 'sysfs', ro: true });
    t.like(mounts.get('/sys/fs/cgroup'), { fstype: 'tmpfs', ro: true });
    t.like(mounts.get('/sys/fs/cgroup/memory'), { fstype: 'cgroup', ro: true });
    t.like(mounts.get('/dev'), { fstype: 'tmpfs' });
    t.like(mounts.get('/dev/pts'), { fstype: 'devpts' });
    t.like(mounts.get('/dev/shm'), { fstype: 'tmpfs' });
    t.like(mounts.get('/dev/mqueue'), { fstype: 'mqueue' });
    t.false([...mounts.keys()].some((m) => m.startsWith('/opt/stage2') || m.startsWith('/work') || m.startsWith('/tmp')),
      `nothing of the pod root or the host in ${name}'s mount table`);
    t.true((info!.cgroup.paths as { path: string }[]).every((p) => p.path === '/'));
    infos[name] = info!;
  }
  t.is(mountMap(infos.a!).get('/')?.fstype, 'overlay');
  t.not(mountMap(infos.b!).get('/')?.fstype, 'overlay', 'b\'s root is its bound dir');
  for (const ns of ['pid', 'net', 'uts', 'ipc', 'cgroup']) t.is(infos.a!.ns[ns], infos.b!.ns[ns], `one ${ns} namespace for the pod`);
  t.not(infos.a!.ns.mnt, infos.b!.ns.mnt, 'a mount namespace per app');
  t.deepEqual(mountsUnder(r.pod.dir), []);
});

test('the apps share the network namespace: one serves TCP on 127.0.0.1, the other fetches it', async (t) => {
  const r = await runPod(t, {
    netns: 'new',
    apps: [
      probe(['serve', '8080', 'pong', '--once'], { name: 'server', rootfs: await overlayImage(t, 'image A\n') }),
      { name: 'client', exec: '/bin/sh', args: ['-c', WAIT_FOR_LISTENER], rootfs: await dirImage(t, 'image B\n') },
    ],
  });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Json);
  t.true(lines.some((l) => l.listening === 8080));
  t.true(lines.some((l) => l.ok === true && l.data === 'pong\n'), r.stdout);
});

test('volumes are pod-wide: an empty volume and /dev/shm written by one app are read by the other; mounts stay per app', async (t) => {
  const shared = join(tempDir(t), 'shared'); // stage0 makes it in the pod dir
  mkdirSync(shared);
  const onlyB = tempDir(t);
  writeFileSync(join(onlyB, 'given'), 'for b only');
  const waitForA = 'i=0; while [ ! -e /srv/shared/from-a ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done';
  const r = await runPod(t, {
    volumes: [{ name: 'shared', kind: 'empty', source: shared, ro: false }, { name: 'only-b', kind: 'host', source: onlyB, ro: true }],
    apps: [
      tagged('a', ['/probe write /dev/shm/from-a shm-hello', '/probe write /data/.tmp hello; mv /data/.tmp /data/from-a', '/probe ls /mnt/only-b'], {
        rootfs: await overlayImage(t, 'image A\n'), mounts: [{ volume: 'shared', target: '/data' }],
      }),
      tagged('b', ['/probe cat /srv/shared/from-a', '/probe cat /dev/shm/from-a', '/probe cat /mnt/only-b/given', '/probe write /srv/shared/from-b hi'], {
        rootfs: await dirImage(t, 'image B\n'), mounts: [{ volume: 'shared', target: '/srv/shared' }, { volume: 'only-b', target: '/mnt/only-b' }],
      }, waitForA),
    ],
  });
  t.is(r.code, 0, r.stderr);
  const out = byApp(r.stdout);
  const [shmWrite, volWrite, onlyBInA] = out.a!;
  t.like(shmWrite, { ok: true });
  t.like(volWrite, { ok: true });
  t.like(onlyBInA, { ok: false, error: 'ENOENT' }, 'b\'s mount is not in a\'s root');
  const [fromA, shmFromA, given, fromB] = out.b!;
  t.like(fromA, { ok: true, content: 'hello' });
  t.like(shmFromA, { ok: true, content: 'shm-hello' }, 'one /dev/shm for the pod, as one IPC namespace');
  t.like(given, { ok: true, content: 'for b only' });
  t.like(fromB, { ok: true });
  t.is(readFileSync(join(shared, 'from-a'), 'utf8'), 'hello');
  t.is(readFileSync(join(shared, 'from-b'), 'utf8'), 'hi');
  t.deepEqual(mountsUnder(shared), []);
  t.deepEqual(mountsUnder(onlyB), []);
});

test('readonly-rootfs for one app: its root refuses writes, the other app\'s root and its volumes do not', async (t) => {
  const data = tempDir(t);
  const r = await runPod(t, {
    volumes: [{ name: 'data', kind: 'host', source: data, ro: false }],
    apps: [
      tagged('a', ['/probe write /x y', '/probe write /tmp/x y', '/probe write /dev/shm/x y', '/probe write /data/x y'], {
        rootfs: await overlayImage(t, 'image A\n'), readonlyRootfs: true, mounts: [{ volume: 'data', target: '/data' }],
      }),
      tagged('b', ['/probe write /y z'], { rootfs: await overlayImage(t, 'image B\n') }),
    ],
  });
  t.is(r.code, 0, r.stderr);
  const out = byApp(r.stdout);
  const [root, tmp, shm, vol] = out.a!;
  t.like(root, { ok: false, error: 'EROFS' });
  t.like(tmp, { ok: false, error: 'EROFS' });
  t.like(shm, { ok: true });
  t.like(vol, { ok: true });
  t.like(out.b![0], { ok: true });
  t.is(readFileSync(join(appOverlayDir(r.pod, 'b', 'upper'), 'y'), 'utf8'), 'z', 'b wrote into its own upper dir');
  t.false(existsSync(join(appOverlayDir(r.pod, 'a', 'upper'), 'x')));
  t.false(existsSync(join(r.pod.dir, 'upper', 'y')), 'nothing in the pod-level upper dir');
});

test('exit status rules are unchanged: the first failure gives the status and stops the other app', async (t) => {
  const ok = await runPod(t, {
    apps: [{ name: 'a', exec: '/layer-only', rootfs: await overlayImage(t, 'image A\n') }, probe(['exit', '0'], { name: 'b', rootfs: await dirImage(t, 'image B\n') })],
  });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, 'from the layer\n');

  const failing = await runPod(t, {
    apps: [
      probe(['sleep', '30'], { name: 'a', rootfs: await overlayImage(t, 'image A\n') }),
      { name: 'b', exec: '/bin/sh', args: ['-c', 'until [ -n "$(pidof probe)" ]; do sleep 0.02; done; exit 7'], rootfs: await dirImage(t, 'image B\n') },
    ],
  });
  t.is(failing.code, 7, failing.stderr);
  t.like(failing.state.apps.b?.exit, { code: 7, signal: null });
  t.like(failing.state.apps.a?.exit, { code: 143, signal: 'SIGTERM' });

  // /layer-only is in image A's layer only: b's root really is another image.
  const missing = await runPod(t, {
    apps: [probe(['sleep', '30'], { name: 'a', rootfs: await overlayImage(t, 'image A\n') }), { name: 'b', exec: '/layer-only', rootfs: await dirImage(t, 'image B\n') }],
  });
  t.is(missing.code, 254);
  t.is(missing.state.stage1Error, 'app b: execve /layer-only: ENOENT\n');
  t.like(missing.state.apps.a?.exit, { code: 143, signal: 'SIGTERM' });
});

test('enter --app enters that app\'s root and env; without --app, the first app\'s root', async (t) => {
  const b = await dirImage(t, 'image B\n');
  const pod = await createPod(t, {
    hostname: 'enter-multi',
    apps: [
      probe(['sleep', '30'], { name: 'a', rootfs: await overlayImage(t, 'image A\n'), readonlyRootfs: true, env: ['PATH=/bin:/', 'WHO=a'] }),
      probe(['sleep', '30'], { name: 'b', rootfs: b, env: ['PATH=/bin:/', 'WHO=b'] }),
    ],
  });
  const run = startPod(t, pod);
  const pid1 = await run.waitForPid1();
  const enter = (args: string[]) => spawnSync(STAGE1, ['enter', pod.dir, String(pid1), ...args], { encoding: 'utf8', timeout: 10_000 });
  const json = (args: string[]): Json => {
    const r = enter(args);
    t.is(r.stderr, '', args.join(' '));
    return JSON.parse(r.stdout) as Json;
  };
  t.is(json(['--app', 'a', '--', '/probe', 'cat', '/etc/app-marker']).content, 'image A\n');
  t.is(json(['--app', 'b', '--', '/probe', 'cat', '/etc/app-marker']).content, 'image B\n');
  t.is(json(['--', '/probe', 'cat', '/etc/app-marker']).content, 'image A\n', 'without --app: the first app\'s root');

  const info = json(['--app', 'b', '--', 'probe', 'info']);
  t.deepEqual(info.env, { PATH: '/bin:/', WHO: 'b' }, 'b\'s env, PATH lookup in it');
  t.is(info.hostname, 'enter-multi');
  t.true(info.pid > 1 && info.pid < 10, 'in the pod\'s pid namespace');
  for (const ns of ['cgroup', 'ipc', 'uts', 'net', 'pid']) t.is(`${ns}:[${info.ns[ns]}]`, readlinkSync(`/proc/${pid1}/ns/${ns}`));
  t.not(`mnt:[${info.ns.mnt}]`, readlinkSync(`/proc/${pid1}/ns/mnt`), 'pivoted into b\'s root in a mount namespace of its own');
  t.false([...mountMap(info).keys()].some((m) => m.startsWith('/opt/stage2')));
  t.is(json(['--', '/probe', 'info']).env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');

  t.like(json(['--app', 'a', '--', '/probe', 'write', '/entered', 'x']), { ok: false, error: 'EROFS' }, 'a\'s read-only root, as a sees it');
  t.like(json(['--app', 'b', '--', '/probe', 'write', '/entered', 'x']), { ok: true });
  t.is(readFileSync(join(b.dir, 'entered'), 'utf8'), 'x', 'the write landed in b\'s rootfs-dir');

  const inA = enter(['--app', 'a', '--', '/layer-only']);
  t.is(inA.status, 0, inA.stderr);
  t.is(inA.stdout, 'from the layer\n');
  const inB = enter(['--app', 'b', '--', '/layer-only']);
  t.is(inB.status, 127);
  t.is(inB.stderr, 'skiff-stage1: enter: execve /layer-only: ENOENT\n');
  t.is(enter(['--app', 'nope', '--', '/bin/true']).status, 2);

  process.kill(run.pid, 'SIGTERM');
  t.is((await run.result).code, 143);
});

test('a config mixing pod-level and app-level roots, or leaving an app without one, is refused with exit 2', async (t) => {
  const a = await overlayImage(t, 'image A\n');
  const b = await dirImage(t, 'image B\n');
  const cases: [Parameters<typeof runPod>[1], RegExp][] = [
    [{ podRootfs: true, apps: [probe(['exit', '0'], { name: 'a', rootfs: a }), probe(['exit', '0'], { name: 'b', rootfs: b })] },
      /^skiff-stage1: config: app a has a rootfs and so has the pod: give one rootfs for the pod, or one in every app section\n$/],
    [{ apps: [probe(['exit', '0'], { name: 'a', rootfs: a }), probe(['exit', '0'], { name: 'b' })] },
      /^skiff-stage1: config: app b has no rootfs: with per-app roots every app needs its own\n$/],
    // `extra` pairs land in the last app's section: b gets both forms.
    [{ apps: [probe(['exit', '0'], { name: 'a', rootfs: a }), probe(['exit', '0'], { name: 'b', rootfs: a })], extra: [['rootfs-dir', b.dir]] },
      /^skiff-stage1: config: app b: give either rootfs-dir, or rootfs-lower, rootfs-upper and rootfs-work\n$/],
  ];
  for (const [spec, message] of cases) {
    const r = await runPod(t, spec);
    t.is(r.code, 2);
    t.regex(r.stderr, message);
    t.is(r.state.pid, undefined);
    t.deepEqual(Object.values(r.state.apps).filter((app) => app.started !== undefined), [], 'no app ran');
  }
});

test('teardown of a per-app pod leaves no mount, no cgroup, no process, and nothing in rootfs-target', async (t) => {
  const cg = testCgroups(t);
  const a = await overlayImage(t, 'image A\n');
  const b = await dirImage(t, 'image B\n');
  const shared = tempDir(t);
  const pod = await createPod(t, {
    cgroups: cg.all, cgroupCleanup: cg.all, volumes: [{ name: 'shared', kind: 'host', source: shared, ro: false }],
    apps: [
      probe(['sleep', '30'], { name: 'a', rootfs: a, mounts: [{ volume: 'shared', target: '/shared' }] }),
      probe(['sleep', '30'], { name: 'b', rootfs: b, mounts: [{ volume: 'shared', target: '/shared' }] }),
    ],
  });
  const run = startPod(t, pod);
  const ns = pidNamespace(await run.waitForPid1());
  t.truthy(ns);
  await waitFor('PID 1 and both apps', () => processesInNamespace(ns!).length >= 3 || undefined);
  process.kill(run.pid, 'SIGTERM');
  const r = await run.result;
  t.is(r.code, 143, r.stderr);
  t.like(r.state.apps.a?.exit, { code: 143, signal: 'SIGTERM' });
  t.like(r.state.apps.b?.exit, { code: 143, signal: 'SIGTERM' });
  for (const d of cg.all) t.false(existsSync(d), `${d} removed`);
  await waitFor('no process left in the pod', () => processesInNamespace(ns!).length === 0 || undefined, 5_000);
  for (const dir of [pod.dir, b.dir, shared, ...a.lower]) t.deepEqual(mountsUnder(dir), [], dir);
  t.deepEqual(readdirSync(pod.rootfsTarget), [], 'the pod root was a tmpfs: nothing of it on the host');
  t.true(podLockFree(pod.dir));
});

test('a missing lower dir of one app: 254 naming that app\'s root and the dir', async (t) => {
  const r = await runPod(t, {
    apps: [probe(['exit', '0'], { name: 'a', rootfs: await overlayImage(t, 'image A\n') }), probe(['exit', '0'], { name: 'b', rootfs: { lower: ['/nonexistent/skiff-layer'] } })],
  });
  t.is(r.code, 254);
  t.is(r.state.stage1Error, `rootfs: mount overlay on ${r.pod.rootfsTarget}/opt/stage2/b/rootfs (lowerdir /nonexistent/skiff-layer): ENOENT\n`);
  t.deepEqual(mountsUnder(r.pod.dir), []);
});

test('a hostile image cannot reach a sibling\'s root: its symlinks resolve inside its own root', async (t) => {
  // /etc -> /opt/stage2/a/rootfs/etc: resolved in the pod root, the /etc files would land in a's root.
  const sibling = await dirImage(t, 'image B\n');
  rmSync(join(sibling.dir, 'etc'), { recursive: true });
  symlinkSync('/opt/stage2/a/rootfs/etc', join(sibling.dir, 'etc'));
  const a = await overlayImage(t, 'image A\n');
  const r = await runPod(t, { apps: [probe(['exit', '0'], { name: 'a', rootfs: a }), probe(['exit', '0'], { name: 'b', rootfs: sibling })] });
  t.is(r.code, 254);
  t.regex(r.state.stage1Error ?? '', new RegExp(`^volumes: move_mount .*/hosts on ${r.pod.rootfsTarget}/opt/stage2/b/rootfs/etc/hosts: ENOENT\n$`));

  // /proc -> /opt: a mount point must be a real dir of the app's own root.
  const proc = await dirImage(t, 'image B\n');
  rmSync(join(proc.dir, 'proc'), { recursive: true });
  symlinkSync('/opt', join(proc.dir, 'proc'));
  const r2 = await runPod(t, { apps: [probe(['exit', '0'], { name: 'a', rootfs: a }), probe(['exit', '0'], { name: 'b', rootfs: proc })] });
  t.is(r2.code, 254);
  t.is(r2.state.stage1Error, `rootfs: mount proc on ${r2.pod.rootfsTarget}/opt/stage2/b/rootfs/proc: ENOTDIR\n`);
  t.deepEqual(mountsUnder(r2.pod.dir), []);
});

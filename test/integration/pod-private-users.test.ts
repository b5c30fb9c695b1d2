/**
 * `--private-users` (native/stage1/userns.c): the apps run in a user namespace of their own, read
 * from inside the pod (/proc/self/uid_map, stat) and checked on the host (the overlay's upper dir,
 * the claims dir), through the CLI and its replay, with `enter`, `gc` and an attack or two.
 */
import test from 'ava';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { testWhen } from '../support/host-condition.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { tempDir } from '../support/temp-dir.js';

const rootTest = testWhen('root');

/** A store whose pods claim their auto ranges in a claims dir of the test's own (s.env is what every skiff of the store, its teardown's gc too, runs with). */
async function store(t: Parameters<typeof podStore>[0]): Promise<{ s: PodStore; claims: string }> {
  const claims = join(tempDir(t, 'skiff-userns-'), 'claims');
  const s = await podStore(t);
  s.env['SKIFF_USERNS_DIR'] = claims;
  s.env['SKIFF_LAUNCH_TRACE'] = '1';
  return { s, claims };
}

const claimed = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : []);

/** "0 SHIFT COUNT" of a uid_map line. */
function mapOf(line: string | undefined): number[] {
  return (line ?? '').trim().split(/\s+/).map(Number);
}

const runDirs = (s: PodStore) => readdirSync(join(s.dir, 'pods', 'run')).sort();
const upper = (s: PodStore, uuid: string) => join(s.dir, 'pods', 'run', uuid, 'overlay', 'upper');

rootTest('pod root is host id SHIFT: the maps, image files owned by 0 inside, writes land shifted in the upper dir (CLI and replay)', async (t) => {
  const { s, claims } = await store(t);
  const script = 'cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /bin/busybox /etc/passwd /; echo hi > /written; mkdir /made; stat -c %u:%g /written';
  for (const path of ['node', 'replay']) {
    const r = await s.skiff(['run', '--private-users', s.image, '--exec', '/bin/sh', '--', '-c', script], undefined);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'), 'the second run is replayed');
    const lines = r.stdout.trim().split('\n');
    const [zero, shift = -1, count] = mapOf(lines[0]);
    t.is(zero, 0, path);
    t.true(shift >= 2 ** 19 && shift % 65536 === 0, `an auto range: ${lines[0]}`);
    t.is(count, 65536);
    t.deepEqual(mapOf(lines[1]), [0, shift, count], 'gid_map as uid_map');
    t.deepEqual(lines.slice(2), ['0', '0:0', '0:0', '0:0', '0:0'], `${path}: pod root, and the image's files are its own`);
    const uuid = runDirs(s).at(-1) as string;
    const written = statSync(join(upper(s, uuid), 'written'));
    t.deepEqual([written.uid, written.gid], [shift, shift], 'the file pod root wrote is host id SHIFT\'s');
    t.is(statSync(join(upper(s, uuid), 'made')).uid, shift);
    t.deepEqual(claimed(claims), [], 'the range is released when the pod exits');
  }
});

/** The pods of the store that run, by UUID, once `n` of them do. */
async function running(s: PodStore, n: number): Promise<string[]> {
  for (let tries = 0; ; tries++) {
    const pods = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout || '[]') as Array<{ uuid: string; state: string; pid?: number }>;
    const up = pods.filter((p) => p.state === 'running' && p.pid !== undefined).map((p) => p.uuid);
    if (up.length >= n) return up;
    if (tries > 600) throw new Error(`${up.length} of ${n} pods running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function pid1Of(s: PodStore, uuid: string): Promise<number> {
  const pods = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout || '[]') as Array<{ uuid: string; pid?: number }>;
  return pods.find((p) => p.uuid === uuid)?.pid ?? -1;
}

/** Host PIDs in the user namespace of PID 1's children (the apps) that are not in the pod's pid namespace. */
function outsiders(pid1: number): string[] {
  const children = readFileSync(`/proc/${pid1}/task/${pid1}/children`, 'utf8').trim().split(/\s+/);
  const userns = readlinkSync(`/proc/${children[0]}/ns/user`);
  const podPidns = readlinkSync(`/proc/${pid1}/ns/pid`);
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n))) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/user`) === userns && readlinkSync(`/proc/${pid}/ns/pid`) !== podPidns) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

rootTest('two pods at once get disjoint ranges; enter joins the pod\'s user namespace; gc releases the range of a pod killed -9', async (t) => {
  const { s, claims } = await store(t);
  const a = s.start(['run', '--private-users', s.image, '--exec', '/probe', '--', 'sleep', '600']);
  const b = s.start(['run', '--private-users', s.image, '--exec', '/probe', '--', 'sleep', '600']);
  const uuids = await running(s, 2);
  const shifts: number[] = [];
  for (const uuid of uuids) {
    const r = await s.skiff(['enter', uuid, '--', '/bin/sh', '-c', 'cat /proc/self/uid_map; id -u; touch /entered']);
    t.is(r.code, 0, r.stderr);
    const [line, uid] = r.stdout.trim().split('\n');
    const [, shift = -1, count] = mapOf(line);
    t.is(count, 65536);
    t.is(uid, '0', 'enter without --app is pod root');
    t.is(statSync(join(upper(s, uuid), 'entered')).uid, shift, 'what enter writes is the range\'s too: enter joined the pod\'s user namespace');
    shifts.push(shift);
  }
  t.is(new Set(shifts).size, 2, `disjoint ranges: ${shifts.join(', ')}`);
  for (const uuid of uuids) {
    const others = outsiders(await pid1Of(s, uuid));
    t.deepEqual(others, [], `only the pod's own processes are in its user namespace (stage1's helper is gone): ${others.join(', ')}`);
  }
  t.deepEqual(claimed(claims).map(Number).sort(), [...shifts].sort(), 'one claim per pod');
  for (const shift of shifts) t.true(uuids.includes(readlinkSync(join(claims, String(shift)))), 'each claim names its pod');
  // kill -9 of the supervisor: nothing tears down, the claims stay until gc.
  for (const p of [a, b]) process.kill(p.child.pid as number, 'SIGKILL');
  await Promise.all([a.exited, b.exited]);
  t.is(claimed(claims).length, 2, 'a killed stage1 released nothing');
  const gc = await s.skiff(['gc', '--grace-period=0']);
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(claimed(claims), [], 'gc released both ranges');
  t.deepEqual(readdirSync(join(s.dir, 'pods', 'run')), [], 'and removed the pods');
});

rootTest('an explicit SHIFT:COUNT is mapped as given and claims nothing; an app id outside COUNT is refused before the pod starts', async (t) => {
  const { s, claims } = await store(t);
  const r = await s.skiff(['run', '--private-users=196608:65536', s.image, '--exec', '/bin/cat', '--', '/proc/self/gid_map']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(mapOf(r.stdout), [0, 196608, 65536]);
  t.deepEqual(claimed(claims), []);
  const small = await s.skiff(['run', '--private-users=196608:100', s.image, '--user', 'skiff', '--exec', '/bin/true']);
  t.is(small.code, 2, small.stderr);
  t.regex(small.stderr, /outside the pod's 100 private ids/);
});

rootTest('bad --private-users values exit 2 with a one-line error', async (t) => {
  const { s } = await store(t);
  for (const value of ['abc', '1000:65536', '0:65536', '131072:0', '131072', '4294901760:65536']) {
    const r = await s.skiff(['run', `--private-users=${value}`, s.image, '--exec', '/bin/true']);
    t.is(r.code, 2, `${value}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').filter((l) => !l.startsWith('skiff launch:')).length, 1, r.stderr);
    t.regex(r.stderr, /--private-users/);
  }
});

rootTest('pod root (its empty volume its own) with CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_NET_ADMIN (...) and no seccomp filter still cannot write a host root file, mount, or set the hostname; it owns its netns', async (t) => {
  const { s } = await store(t);
  const vol = tempDir(t, 'skiff-userns-vol-');
  chmodSync(vol, 0o755); // mkdtemp's 0700 would keep even the lookup out: the file's own mode is what is tested
  writeFileSync(join(vol, 'host-file'), 'host\n');
  chmodSync(join(vol, 'host-file'), 0o644);
  mkdirSync(join(vol, 'dir'), { mode: 0o755 });
  const script = [
    'stat -c %u:%g /vol/host-file',
    'echo x >> /vol/host-file && echo wrote-host-file',
    'touch /vol/dir/new && echo wrote-host-dir',
    'mkdir /m && mount -t tmpfs none /m && echo mounted',
    'hostname evil && echo renamed',
    'echo 1 > /proc/sys/kernel/domainname && echo sysctl',
    'ip link set lo mtu 1400 && cat /sys/class/net/lo/mtu',
    'touch /empty/mine && stat -c empty-%u /empty/mine',
    'echo "198.18.0.9 db" >> /etc/hosts && echo hosts-edited',
    'true',
  ].join('; ');
  const r = await s.skiff([
    '--insecure-options=seccomp', 'run', '--private-users', '--volume', `v,kind=host,source=${vol}`, '--volume', 'e,kind=empty',
    s.image, '--caps-retain', 'sys_admin,net_admin,dac_override,chown,fowner,setuid,setgid,setpcap,sys_chroot,mknod',
    '--mount', 'volume=v,target=/vol', '--mount', 'volume=e,target=/empty', '--exec', '/bin/sh', '--', '-c', script,
  ]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.is(out[0], '65534:65534', `host root's file is nobody's in the pod: ${r.stdout} ${r.stderr}`);
  for (const done of ['wrote-host-file', 'wrote-host-dir', 'mounted', 'renamed', 'sysctl']) t.false(out.includes(done), `${done}: ${r.stdout}`);
  t.true(out.includes('1400'), `the pod's netns is its user namespace's: CAP_NET_ADMIN holds there (${r.stdout} ${r.stderr})`);
  t.is(readFileSync(join(vol, 'host-file'), 'utf8'), 'host\n');
  t.true(out.includes('empty-0'), 'an empty volume is pod root\'s');
  t.true(out.includes('hosts-edited'), 'the pod\'s own /etc/hosts is pod root\'s to edit');
});

rootTest('a pod on a network: the veth is attached in the netns its user namespace owns (CLI and replay)', async (t) => {
  const s = await podStore(t, { network: true });
  s.env['SKIFF_USERNS_DIR'] = join(tempDir(t, 'skiff-userns-'), 'claims');
  s.env['SKIFF_LAUNCH_TRACE'] = '1';
  for (const path of ['node', 'replay']) {
    const r = await s.skiff(['run', '--net=default', '--private-users', s.image, '--exec', '/bin/sh', '--', '-c', 'cat /proc/self/uid_map; ip -4 -o addr show eth0']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.is(mapOf(r.stdout.split('\n')[0])[2], 65536);
    t.regex(r.stdout, new RegExp(`inet 198\\.18\\.${s.host?.subnet}\\.`), path);
  }
});

rootTest('--no-overlay: the rendered copy is chowned into the range (the fallback where idmapped mounts are missing)', async (t) => {
  const { s } = await store(t);
  const r = await s.skiff(['run', '--no-overlay', '--private-users', s.image, '--exec', '/bin/sh', '--', '-c', 'cat /proc/self/uid_map; stat -c %u:%g /bin/busybox /; touch /new']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const shift = mapOf(lines[0])[1] ?? -1;
  t.deepEqual(lines.slice(1), ['0:0', '0:0']);
  const uuid = runDirs(s).at(-1) as string;
  const copy = join(s.dir, 'pods', 'run', uuid, 'rootfs-copy');
  t.is(statSync(join(copy, 'new')).uid, shift);
  t.is(statSync(join(copy, 'bin', 'busybox')).uid, shift, 'the image\'s files are the range\'s on the host');
});

rootTest('per-app roots (two images): each app joins the pod\'s user namespace after pivoting into its own root; both roots are idmapped', async (t) => {
  const { s } = await store(t);
  const base = await fixtureImages();
  const baseLayer = base.oci.layers[0];
  if (baseLayer === undefined) return t.fail();
  const second = buildImage({
    layers: [buildLayer(gunzipSync(baseLayer.data)), buildLayer([{ path: 'etc/', type: 'dir' }, { path: 'etc/app-marker', type: 'file', content: 'second image\n' }])],
    config: PROBE_CONFIG,
  });
  const layout = join(s.dir, '..', 'second');
  await writeOciLayout(layout, [{ ref: 'marked', image: second }]);
  const script = (name: string) => `cat /proc/self/uid_map; stat -c ${name}-%u:%g / /bin/busybox; touch /${name}`;
  const r = await s.skiff(['run', '--private-users', s.image, '--name', 'plain', '--exec', '/bin/sh', '--', '-c', script('plain'),
    '---', `oci:${layout}:marked`, '--name', 'marked', '--exec', '/bin/sh', '--', '-c', script('marked')]);
  t.is(r.code, 0, r.stderr);
  const maps = r.stdout.split('\n').filter((l) => /^\s*0\s/.test(l));
  t.is(maps.length, 2);
  t.is(maps[0], maps[1], 'one user namespace for the pod');
  for (const name of ['plain', 'marked']) t.is(r.stdout.split('\n').filter((l) => l === `${name}-0:0`).length, 2, r.stdout);
  const uuid = runDirs(s).at(-1) as string;
  const shift = mapOf(maps[0])[1] ?? -1;
  t.is(statSync(join(s.dir, 'pods', 'run', uuid, 'overlay', 'marked', 'upper', 'marked')).uid, shift);
});

rootTest('prepare --private-users, then a bare run-prepared (replayed from the prepared plan): the same auto range machinery', async (t) => {
  const { s, claims } = await store(t);
  const prepared = await s.skiff(['prepare', '--private-users', s.image, '--exec', '/bin/cat', '--', '/proc/self/uid_map']);
  t.is(prepared.code, 0, prepared.stderr);
  const uuid = prepared.stdout.trim();
  const r = await s.skiff(['run-prepared', uuid]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^skiff launch: replay /m, 'a bare run-prepared replays the prepared plan');
  const [zero, shift = -1, count] = mapOf(r.stdout);
  t.deepEqual([zero, count], [0, 65536]);
  t.true(shift >= 2 ** 19, r.stdout);
  t.deepEqual(claimed(claims), [], 'released at exit');
});

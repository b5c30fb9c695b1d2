/**
 * Devices: a pod gets Docker's default allow-list and nothing else, enforced
 * twice over: the devices cgroup (v1 here; a BPF device program on cgroup v2)
 * and nodev on everything the pod can make nodes in (its root, its /dev
 * tmpfs, its volumes). Only stage1's own /dev entries open.
 *
 * The attacks are a root process in the pod (mknod + open, a node shipped in
 * an image layer, a node in a volume) and, to see the cgroup layer alone, a
 * host process put into the pod's cgroup, opening nodes in a host temp dir
 * (no nodev there). Opens only: no device is ever read or written.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DEVICE_RULES } from '../../runtime/cgroups/devices.js';
import { cgroupMounts, removeCgroupTree } from '../support/cgroup-cleanup.js';
import { probeRootfs } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { probeBinary } from '../support/probe-binary.js';
import { runSkiff } from '../support/skiff-cli.js';
import { createPod, probe, sharedProbeRootfs, startPod, waitFor } from '../support/stage1-harness.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

/** Device nodes in a host temp dir (ext4, not nodev): NAME -> "c MAJOR MINOR". */
function hostNodes(t: Teardown, nodes: Record<string, string>): string {
  const dir = tempDir(t, 'skiff-test-nodes-');
  for (const [name, spec] of Object.entries(nodes)) execFileSync('mknod', ['-m', '0666', join(dir, name), ...spec.split(' ')]);
  return dir;
}

/** Runs the host probe inside cgroup DIR (it joins, then execs): `probe ARGS`, parsed. */
function probeInCgroup(probePath: string, dir: string, args: string[]): Record<string, any> {
  const out = execFileSync('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, probePath, ...args], { encoding: 'utf8' });
  return JSON.parse(out.split('\n')[0] as string) as Record<string, any>;
}

const v1Devices = (): string | undefined => cgroupMounts('v1').find((m) => m.endsWith('/devices'));

const cgroup2Mount = (): string | undefined =>
  readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l))?.split(' ')[4];

test('cgroup v2: stage1 attaches a BPF device program to the pod\'s cgroup2 dir; it allows the list and refuses the rest with EPERM', async (t) => {
  const unified = cgroup2Mount();
  if (unified === undefined) return t.fail('no cgroup2 mount on this host');
  // The pod joins only this cgroup2 dir: no v1 devices cgroup of its own, so what is refused, BPF refused.
  const dir = join(unified, `skiff-test-${process.pid}-bpf`);
  mkdirSync(dir);
  t.teardown(async () => {
    const left = await removeCgroupTree(dir, { timeoutMs: 5_000 });
    if (left.length > 0) throw new Error(`cgroups left behind: ${left.join(', ')}`);
  });
  const nodes = hostNodes(t, { full: 'c 1 7', kmsg: 'c 1 11', fuse: 'c 10 229', loop: 'b 7 0' });
  const devs = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/ptmx'];
  const pod = await createPod(t, {
    cgroups: [dir],
    cgroupCleanup: [dir],
    extra: DEFAULT_DEVICE_RULES.map((rule): [string, string] => ['device-allow', rule]),
    apps: [probe(['open', 'rw', ...devs], { name: 'inside' }), probe(['sleep', '30'], { name: 'sleeper' })],
  });
  const running = startPod(t, pod);
  const inside = await running.nextJson();
  t.deepEqual(inside.results, Object.fromEntries(devs.map((d) => [d, 'ok'])), 'stage1\'s /dev works under the program');

  const probePath = await probeBinary();
  const opened = probeInCgroup(probePath, dir, ['open', 'r', join(nodes, 'full'), join(nodes, 'kmsg'), join(nodes, 'fuse'), join(nodes, 'loop')]);
  t.deepEqual(opened.results, {
    [join(nodes, 'full')]: 'ok',
    [join(nodes, 'kmsg')]: 'EPERM',
    [join(nodes, 'fuse')]: 'EPERM',
    [join(nodes, 'loop')]: 'EPERM',
  });
  t.deepEqual(probeInCgroup(probePath, dir, ['mknod', join(nodes, 'made'), 'c', '1', '11']), { ok: true }, 'mknod of any node is allowed (c *:* m)');
  t.is(probeInCgroup(probePath, dir, ['open', 'r', join(nodes, 'made')]).results[join(nodes, 'made')], 'EPERM', 'but not its use');
  // Outside the cgroup the same node opens: the refusal was the program's.
  t.is(JSON.parse(execFileSync(probePath, ['open', 'r', join(nodes, 'kmsg')], { encoding: 'utf8' })).results[join(nodes, 'kmsg')], 'ok');

  process.kill(running.pid, 'SIGTERM');
  await running.result;
  t.false(existsSync(dir), 'teardown removed the cgroup (and with it the program)');
});

test('a bad device-allow rule is a config error (exit 2) naming it', async (t) => {
  for (const rule of ['c 1:3', 'x 1:3 rwm', 'c 1 rwm', 'c 1:3 rwx', 'c 1:3 rr', 'c a:3 r', 'c 1:3  r']) {
    const pod = await createPod(t, { extra: [['device-allow', rule]], apps: [probe(['exit', '0'])] });
    const r = await startPod(t, pod).result;
    t.is(r.code, 2, rule);
    t.true(r.stderr.includes(`device-allow: '${rule}' is not TYPE MAJOR:MINOR ACCESS`), r.stderr);
  }
});

/** The probe image with one more layer holding a device node (c 1:5, zero: on the allow-list) at /layer-zero. */
async function imageWithNode(t: Teardown, s: PodStore): Promise<string> {
  const layout = join(tempDir(t, 'skiff-test-layout-'), 'layout');
  const node = buildLayer([{ path: 'layer-zero', type: 'char', mode: 0o666, devmajor: 1, devminor: 5 }]);
  const image = buildImage({ layers: [buildLayer(await probeRootfs()), node], config: { Cmd: ['/probe', 'info'], Env: ['PATH=/bin'] } });
  await writeOciLayout(layout, [{ ref: 'node', image }]);
  const ref = `oci:${layout}:node`;
  const fetched = await s.skiff(['fetch', '--quiet', ref]);
  if (fetched.code !== 0) throw new Error(`fetch ${ref}: ${fetched.stderr}`);
  return ref;
}

test('skiff run, then a replayed run: a root process in the pod can make nodes but open none of its own; stage1\'s /dev works', async (t) => {
  const s = await podStore(t);
  const image = await imageWithNode(t, s);
  // c 1:5 and a volume node are on the allow-list: only nodev stops them. c 10:229 (fuse) is not.
  const vol = hostNodes(t, { zero: 'c 1 5' });
  const script = [
    '/probe mknod /tmp/zero c 1 5', '/probe mknod /tmp/fuse c 10 229', '/probe mknod /dev/fuse c 10 229',
    '/probe open r /tmp/zero /tmp/fuse /dev/fuse /layer-zero /vol/zero',
    '/probe open rw /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/ptmx /dev/tty',
    'cat /sys/fs/cgroup/devices/devices.list',
  ].join('; ');
  const args = ['run', '--volume', `v,kind=host,source=${vol}`, image, '--mount', 'volume=v,target=/vol', '--exec', '/bin/sh', '--', '-c', script];
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, ...args], { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'), 'the first run goes through the CLI, the second is replayed');
    const lines = r.stdout.trim().split('\n');
    const json = lines.slice(0, 5).map((l) => JSON.parse(l) as Record<string, any>);
    t.deepEqual(json.slice(0, 3), [{ ok: true }, { ok: true }, { ok: true }], `${path}: mknod is allowed, as in Docker`);
    t.deepEqual(json[3]?.results, {
      '/tmp/zero': 'EACCES', '/tmp/fuse': 'EACCES', '/dev/fuse': 'EACCES', '/layer-zero': 'EACCES', '/vol/zero': 'EACCES',
    }, `${path}: the root, /dev and volumes are nodev`);
    t.deepEqual(json[4]?.results, {
      '/dev/null': 'ok', '/dev/zero': 'ok', '/dev/full': 'ok', '/dev/random': 'ok', '/dev/urandom': 'ok', '/dev/ptmx': 'ok',
      // Allowed; with no controlling terminal the tty driver itself says ENXIO (a refusal would be EPERM).
      '/dev/tty': 'ENXIO',
    }, `${path}: stage1's /dev nodes work`);
    // On a v2-only host there is no devices.list: the BPF program holds the list (the test above).
    t.deepEqual(lines.slice(5), v1Devices() === undefined ? [] : [...DEFAULT_DEVICE_RULES], `${path}: the pod's devices cgroup holds Docker's list`);
  }
  const plans = readdirSync(join(s.dir, 'run-plans')).filter((f) => !f.startsWith('.'));
  t.is(plans.length, 1);
  t.true(readFileSync(join(s.dir, 'run-plans', plans[0] as string), 'utf8').includes('devices.allow\tc 1:3 rwm'), 'the plan carries the device list to the launcher');
});

test('skiff run: a process put into the pod\'s devices cgroup (v1, else its cgroup2 dir) can open allowed devices only; teardown removes the cgroup', async (t) => {
  const s = await podStore(t);
  const nodes = hostNodes(t, { full: 'c 1 7', fuse: 'c 10 229' });
  const started = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '30']);
  const uuid = await waitRunning(s);
  const devices = v1Devices() ?? cgroup2Mount();
  if (devices === undefined) return t.fail('no devices hierarchy and no cgroup2 on this host');
  const dir = join(devices, s.cgroupParent, uuid);
  t.true(existsSync(dir));
  const opened = probeInCgroup(await probeBinary(), dir, ['open', 'r', join(nodes, 'full'), join(nodes, 'fuse')]);
  t.deepEqual(opened.results, { [join(nodes, 'full')]: 'ok', [join(nodes, 'fuse')]: 'EPERM' });
  t.is((await s.skiff(['stop', uuid])).code, 0);
  await started.exited;
  await waitFor('the devices cgroup removed', () => !existsSync(dir));
  t.pass();
});

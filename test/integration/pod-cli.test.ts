/**
 * Pod commands and flags through the CLI that pod-lifecycle.test.ts leaves
 * out: cat-manifest, --net=host, --cpu-shares, --group, --supplementary-gids,
 * gc --mark-only, stop of several pods, --pull-policy=update on a changed
 * tag, gc of a pod killed mid-prepare, an unknown --user, app names.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { skiffLauncher } from '../support/skiff-cli.js';
import { waitFor } from '../support/stage1-harness.js';

const info = (stdout: string) => JSON.parse(stdout.trim().split('\n').find((l) => l.startsWith('{')) ?? '{}') as Record<string, any>;
const podsIn = (s: PodStore, state: string): string[] => (existsSync(join(s.dir, 'pods', state)) ? readdirSync(join(s.dir, 'pods', state)) : []);

test('cat-manifest UUID prints the pod\'s manifest; a UUID prefix works too', async (t) => {
  const s = await podStore(t);
  const uuid = (await s.skiff(['prepare', '--hostname', 'manifested', s.image, '--exec', '/probe', '--', 'exit', '0'])).stdout.trim();
  const r = await s.skiff(['cat-manifest', uuid]);
  t.is(r.code, 0, r.stderr);
  const manifest = JSON.parse(r.stdout) as Record<string, unknown>;
  t.deepEqual(manifest, JSON.parse(readFileSync(join(s.dir, 'pods', 'prepared', uuid, 'pod'), 'utf8')));
  t.true(JSON.stringify(manifest).includes('manifested'));
  t.is((await s.skiff(['cat-manifest', uuid.slice(0, 8)])).stdout, r.stdout);
  const missing = await s.skiff(['cat-manifest', '00000000-0000-4000-8000-000000000000']);
  t.is(missing.code, 254);
});

test('--net=host: the host\'s network namespace and interfaces', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff(['run', '--net=host', s.image]);
  t.is(r.code, 0, r.stderr);
  const p = info(r.stdout);
  t.is(`net:[${p['ns']['net']}]`, readlinkSync('/proc/self/ns/net'));
  t.deepEqual((p['interfaces'] as Array<{ name: string }>).map((i) => i.name).sort(), readdirSync('/sys/class/net').sort());
});

test('--cpu-shares, --group and --supplementary-gids reach the app', async (t) => {
  const s = await podStore(t);
  const r = await s.skiff(['run', s.image, '--cpu-shares', '512', '--user', 'skiff', '--group', 'wheel', '--supplementary-gids', '20,30',
    '--exec', '/bin/sh', '--', '-c', 'cat /sys/fs/cgroup/cpu/cpu.shares; exec /probe info']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.split('\n')[0], '512');
  const p = info(r.stdout);
  t.is(p['uid'], 1000);
  t.is(p['gid'], 10, '--group by name');
  t.deepEqual([...(p['groups'] as number[])].sort((a, b) => a - b), [20, 30]);
});

test('an unknown --user and a bad app name are refused with one line, leaving no pod', async (t) => {
  const s = await podStore(t);
  const user = await s.skiff(['run', s.image, '--user', 'nosuchuser']);
  t.not(user.code, 0);
  t.regex(user.stderr, /nosuchuser/);
  t.is(user.stderr.trim().split('\n').length, 1, user.stderr);
  for (const name of ['Upper', 'under_score', '-lead', 'a'.repeat(300)]) {
    const r = await s.skiff(['run', s.image, '--name', name]);
    t.is(r.code, 2, `${name}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  const twice = await s.skiff(['run', s.image, '--name', 'same', '---', s.image, '--name', 'same']);
  t.is(twice.code, 2, twice.stderr);
  t.deepEqual(['prepare', 'prepared', 'run'].flatMap((state) => podsIn(s, state)), [], 'no pod dir');
});

test('gc --mark-only marks an exited pod and removes nothing', async (t) => {
  const s = await podStore(t);
  t.is((await s.skiff(['run', s.image, '--exec', '/probe', '--', 'exit', '0'])).code, 0);
  const [uuid] = podsIn(s, 'run');
  const mark = await s.skiff(['gc', '--mark-only', '--grace-period=0s']);
  t.is(mark.code, 0, mark.stderr);
  t.regex(mark.stdout, new RegExp(`^marked ${uuid}$`, 'm'));
  t.notRegex(mark.stdout, /^removed /m);
  t.deepEqual(podsIn(s, 'exited-garbage'), [uuid]);
  const sweep = await s.skiff(['gc', '--grace-period=0s']);
  t.regex(sweep.stdout, new RegExp(`^removed ${uuid}$`, 'm'));
  t.deepEqual(podsIn(s, 'exited-garbage'), []);
});

test('stop of several UUIDs stops each of them', async (t) => {
  const s = await podStore(t);
  const a = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const b = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  await waitRunning(s);
  const running = await waitFor('two running pods', () => {
    const uuids = podsIn(s, 'run').filter((u) => existsSync(join(s.dir, 'pods', 'run', u, 'pid')));
    return uuids.length === 2 ? uuids : undefined;
  }, 20_000);
  const stop = await s.skiff(['stop', ...running]);
  t.is(stop.code, 0, stop.stderr);
  for (const uuid of running) t.regex(stop.stdout, new RegExp(`^${uuid} stopped$`, 'm'));
  t.deepEqual(await Promise.all([a.exited, b.exited]), [143, 143]);
});

test('--pull-policy=update fetches a tag that moved; new keeps the stored image', async (t) => {
  const s = await podStore(t);
  const base = (await fixtureImages()).oci.layers[0]!;
  const imageWith = (marker: string) => buildImage({
    config: PROBE_CONFIG,
    layers: [buildLayer(gunzipSync(base.data)), buildLayer([{ path: 'etc/', type: 'dir' }, { path: 'etc/marker', type: 'file', content: `${marker}\n` }])],
  });
  const layout = join(s.dir, '..', 'moving');
  await writeOciLayout(layout, [{ ref: 'tag', image: imageWith('first') }]);
  const ref = `oci:${layout}:tag`;
  const cat = ['--exec', '/bin/cat', '--', '/etc/marker'];
  t.is((await s.skiff(['run', ref, ...cat])).stdout, 'first\n');
  rmSync(layout, { recursive: true });
  await writeOciLayout(layout, [{ ref: 'tag', image: imageWith('second') }]);
  t.is((await s.skiff(['run', '--pull-policy=new', ref, ...cat])).stdout, 'first\n', 'new: the stored image, no look at the source');
  const updated = await s.skiff(['run', '--pull-policy=update', ref, ...cat]);
  t.is(updated.code, 0, updated.stderr);
  t.is(updated.stdout, 'second\n');
  t.is((await s.skiff(['run', ref, ...cat])).stdout, 'second\n', 'the name now means the new image');
});

test('gc removes a pod whose prepare was killed mid-way (its dir left in pods/prepare)', async (t) => {
  const s = await podStore(t);
  const [record] = JSON.parse((await s.skiff(['--format', 'json', 'image', 'list'])).stdout) as Array<{ layers: Array<{ digest: string }> }>;
  // --no-overlay renders the root from the stored layer blob: as a FIFO nobody writes, it holds prepare there.
  const blob = join(s.dir, 'blobs', 'sha256', record!.layers[0]!.digest.slice(7));
  const bytes = readFileSync(blob);
  rmSync(blob);
  execFileSync('mkfifo', ['-m', '0644', blob]);
  t.teardown(() => {
    rmSync(blob, { force: true });
    writeFileSync(blob, bytes);
  });
  const prepare = spawn(skiffLauncher(), ['--dir', s.dir, 'prepare', '--no-overlay', s.image], { env: { ...process.env, ...s.env }, stdio: 'ignore' });
  const exited = once(prepare, 'exit');
  const [uuid] = await waitFor('the pod dir in pods/prepare', () => {
    const dirs = podsIn(s, 'prepare');
    return dirs.length === 1 ? dirs : undefined;
  });
  // The pod is held by its prepare until it is killed: gc leaves a prepare in progress alone.
  const busy = await s.skiff(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  t.is(busy.code, 0, busy.stderr);
  t.deepEqual(podsIn(s, 'prepare'), [uuid]);
  prepare.kill('SIGKILL');
  await exited;
  t.regex((await s.skiff(['status', uuid!])).stdout, /^state=/m);
  const gc = await s.skiff(['gc']);
  t.is(gc.code, 0, gc.stderr);
  t.regex(gc.stdout, new RegExp(`^removed ${uuid}$`, 'm'));
  t.deepEqual(['prepare', 'prepared', 'garbage'].flatMap((state) => podsIn(s, state)), []);
});

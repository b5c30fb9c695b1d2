/**
 * Images and the pods that use them, through the CLI: `image rm` and
 * `image gc` refuse an image a pod uses in any state (prepared by a real
 * `prepare`, running, exited; made by the CLI or by a replayed run), and
 * remove it once the pods are gone; `image gc` and a fetch or prepare that
 * meet, at points the tests choose (a fetch blocked mid-unpack; gc.lock held
 * as by a gc mid-sweep), wait for each other and leave whole images or none;
 * a fetch whose layer does not
 * unpack to its diffID stores no layer dir and no record.
 */
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { largeImage } from '../support/large-image.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { waitFor } from '../support/stage1-harness.js';
import { tempDir } from '../support/temp-dir.js';

interface ImageRecord {
  id: string;
  names: string[];
  manifestDigest: string;
  configDigest: string;
  layers: Array<{ digest: string; diffId: string }>;
}

async function images(s: PodStore): Promise<ImageRecord[]> {
  const r = await s.skiff(['--format', 'json', 'image', 'list']);
  if (r.code !== 0) throw new Error(`image list: ${r.stderr}`);
  return JSON.parse(r.stdout) as ImageRecord[];
}

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** Both refuse: rm names the pod, gc (no grace) keeps the image. */
async function assertRefused(t: import('ava').ExecutionContext, s: PodStore, uuid: string, what: string): Promise<void> {
  const rm = await s.skiff(['image', 'rm', s.image]);
  t.is(rm.code, 254, `${what}: ${rm.stderr}`);
  t.regex(rm.stderr, new RegExp(`image \\S+ is used by pod [0-9a-f, -]*${uuid}`), what);
  const gc = await s.skiff(['image', 'gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is((await images(s)).length, 1, `${what}: image gc kept the image`);
}

test('image rm and image gc refuse an image a prepared, running or exited pod uses (CLI and replayed runs); with the pods gone, gc removes it all', async (t) => {
  const s = await podStore(t);
  const [record] = await images(s);
  t.truthy(record);

  const prepared = (await s.skiff(['prepare', s.image, '--exec', '/probe', '--', 'exit', '0'])).stdout.trim();
  t.regex(prepared, /^[0-9a-f-]{36}$/);
  await assertRefused(t, s, prepared, 'prepared');
  t.is((await s.skiff(['rm', prepared])).code, 0);

  const running = s.start(['run', s.image, '--exec', '/probe', '--', 'sleep', '60']);
  const uuid = await waitRunning(s);
  await assertRefused(t, s, uuid, 'running');
  t.is((await s.skiff(['stop', '--force', uuid])).code, 0);
  await running.exited;
  await assertRefused(t, s, uuid, 'exited');
  t.is((await s.skiff(['rm', uuid])).code, 0);

  // A replayed run makes its pod dir without Node: its images file must say the same.
  const args = ['run', s.image, '--exec', '/probe', '--', 'exit', '0'];
  const env = { ...s.env, SKIFF_LAUNCH_TRACE: '1' };
  const first = await runSkiff(['--dir', s.dir, ...args], { env });
  t.regex(first.stderr, /^skiff launch: node/m);
  const [cliPod] = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string }>;
  t.is((await s.skiff(['rm', cliPod!.uuid])).code, 0, 'only the replayed pod will use the image');
  const replayed = await runSkiff(['--dir', s.dir, ...args], { env });
  t.is(replayed.code, 0, replayed.stderr);
  t.regex(replayed.stderr, /^skiff launch: replay/m);
  const pods = JSON.parse((await s.skiff(['--format', 'json', 'list'])).stdout) as Array<{ uuid: string }>;
  t.is(pods.length, 1);
  t.is(readFileSync(join(s.dir, 'pods', 'run', pods[0]!.uuid, 'images'), 'utf8'), `${record!.id}\n`);
  await assertRefused(t, s, pods[0]!.uuid, 'replayed');

  t.is((await s.skiff(['gc', '--grace-period=0s'])).code, 0);
  const gc = await s.skiff(['image', 'gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.regex(gc.stdout, /freed [1-9]\d* blobs and 1 layers/);
  t.deepEqual(await images(s), []);
  t.deepEqual(list(join(s.dir, 'blobs', 'sha256')), [], 'every blob of it is gone');
  t.deepEqual(list(join(s.dir, 'layers', 'sha256')), [], 'and its layer');
});

test('image gc while a fetch is mid-unpack (forced): gc waits for the fetch, then removes what no pod uses, wholly', async (t) => {
  const s = await podStore(t);
  const dir = tempDir(t);
  const big = largeImage(2 * 1024 * 1024);
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [{ ref: 'big', image: big }]);
  const layer = big.layers[0]!;
  const stored = join(s.dir, 'blobs', 'sha256', layer.digest.slice(7));
  execFileSync('mkfifo', ['-m', '0644', stored]);
  const fetch = s.start(['fetch', '--quiet', `oci:${layout}:big`]);
  // Opening for writing waits for the fetch's reader; the FIFO stays open, so the unpack blocks for the rest.
  const handle = await open(stored, 'w');
  t.teardown(() => handle.close().catch(() => undefined));
  const half = Math.floor(layer.data.length / 2);
  await handle.write(layer.data, 0, half);
  const tmp = join(s.dir, 'tmp');
  await waitFor('the fetch to be mid-unpack (files in its scratch tree)', () =>
    list(tmp).some((d) => d.includes('-layer-') && list(join(tmp, d, 'tree')).length > 0) || undefined, 60_000);

  // The chosen point: the fetch holds gc.lock shared and is blocked mid-layer. gc must wait for it.
  const gc = s.start(['image', 'gc', '--grace-period=0s']);
  await waitFor('image gc to say it waits for the store', () => /waiting for the image store/.test(gc.output().stderr) || undefined, 60_000);
  t.deepEqual((await images(s)).map((i) => i.names).flat().length > 0, true, 'while gc waits, the stored probe image is untouched');
  t.true(list(join(s.dir, 'layers', 'sha256')).length > 0, 'and so are its layers');

  await handle.write(layer.data, half);
  await handle.close();
  t.is(await fetch.exited, 0, fetch.output().stderr);
  t.is(await gc.exited, 0, gc.output().stderr);
  // gc ran once the fetch was done: the probe image, unused since before gc started, went wholly;
  // the image fetched while gc waited is newer than gc's start and stays, whole.
  const left = await images(s);
  t.deepEqual(left.map((i) => i.names), [[`oci:${layout}:big`]]);
  const blobs = list(join(s.dir, 'blobs', 'sha256'));
  const kept = [left[0]!.manifestDigest, left[0]!.configDigest, ...left[0]!.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort();
  t.deepEqual(blobs, kept, 'exactly the kept image\'s blobs');
  t.deepEqual(list(join(s.dir, 'layers', 'sha256')), left[0]!.layers.map((l) => l.diffId.slice(7)).sort(), 'exactly its layers');
  t.deepEqual(list(tmp), [], 'no scratch');
  t.regex(gc.output().stdout, /^removed sha256:/m);
});

test('prepare while image gc holds the store (forced): prepare waits, then makes a pod that runs', async (t) => {
  const s = await podStore(t);
  // The test stands in for a gc mid-sweep: gc.lock held exclusively by a process of its own
  // (--no-fork: the lock's holder is the PID the test kills, not a child left holding it).
  const gcLock = join(s.dir, 'gc.lock');
  const holder = spawn('flock', ['--exclusive', '--no-fork', gcLock, 'sleep', '600'], { stdio: 'ignore' });
  const holderExited = once(holder, 'exit');
  t.teardown(() => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
  });
  await waitFor('the stand-in gc to hold gc.lock', () => spawnSync('flock', ['--nonblock', '--shared', gcLock, 'true']).status === 1 || undefined, 30_000);

  const prepare = s.start(['prepare', s.image, '--exec', '/probe', '--', 'exit', '0']);
  await waitFor('prepare to say it waits for the store', () => /waiting for the image store/.test(prepare.output().stderr) || undefined, 60_000);
  t.deepEqual(list(join(s.dir, 'pods', 'prepared')), [], 'nothing prepared while gc holds the store');

  holder.kill('SIGKILL');
  await holderExited;
  t.is(await prepare.exited, 0, prepare.output().stderr);
  const uuid = prepare.output().stdout.trim();
  t.deepEqual(list(join(s.dir, 'pods', 'prepared')), [uuid]);
  const gc = await s.skiff(['image', 'gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is((await images(s)).length, 1, 'gc keeps the image the prepared pod uses');
  const run = await s.skiff(['run-prepared', uuid]);
  t.is(run.code, 0, run.stderr);
});

test('fetch of an image whose layer does not unpack to its diffID stores no layer dir and no image record', async (t) => {
  const dir = tempDir(t);
  const base = (await fixtureImages()).oci.layers[0]!;
  const layer = buildLayer(gunzipSync(base.data));
  const lying = buildImage({ layers: [{ ...layer, diffId: `sha256:${'0'.repeat(64)}` }], config: PROBE_CONFIG });
  await writeOciLayout(join(dir, 'layout'), [{ ref: 'lying', image: lying }]);
  const store = join(dir, 'store');
  const r = await runSkiff(['--dir', store, 'fetch', '--quiet', `oci:${join(dir, 'layout')}:lying`]);
  t.is(r.code, 254);
  t.regex(r.stderr, /does not unpack to the diffID its image config names/);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.deepEqual(list(join(store, 'layers', 'sha256')), [], 'no layer dir, under either diffID');
  t.deepEqual(list(join(store, 'tmp')), [], 'no scratch left');
  const index = join(store, 'images', 'index.json');
  t.false(existsSync(index) && readFileSync(index, 'utf8').includes(lying.config.digest), 'no image record');
  const listed = await runSkiff(['--dir', store, '--format', 'json', 'image', 'list']);
  t.deepEqual(JSON.parse(listed.stdout), []);
});

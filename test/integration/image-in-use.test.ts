/**
 * Images and the pods that use them, through the CLI: `image rm` and
 * `image gc` refuse an image a pod uses in any state (prepared by a real
 * `prepare`, running, exited; made by the CLI or by a replayed run), and
 * remove it once the pods are gone; a fetch or prepare racing `image gc`
 * never leaves a record without its layers; a fetch whose layer does not
 * unpack to its diffID stores no layer dir and no record.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';

interface ImageRecord {
  id: string;
  names: string[];
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

test('prepare and fetch racing image gc: either the image is gone or it is whole; a prepared pod always runs', async (t) => {
  const s = await podStore(t);
  for (let round = 0; round < 3; round++) {
    const [prepare, fetch, gc] = await Promise.all([
      s.skiff(['prepare', s.image, '--exec', '/probe', '--', 'exit', '0']),
      s.skiff(['fetch', '--quiet', s.image]),
      s.skiff(['image', 'gc', '--grace-period=0s']),
    ]);
    t.is(prepare.code, 0, prepare.stderr);
    t.is(fetch.code, 0, fetch.stderr);
    t.is(gc.code, 0, gc.stderr);
    for (const image of await images(s)) {
      for (const layer of image.layers) {
        t.true(existsSync(join(s.dir, 'blobs', 'sha256', layer.digest.slice(7))), `round ${round}: a recorded image has its blobs`);
        t.true(existsSync(join(s.dir, 'layers', 'sha256', layer.diffId.slice(7))), `round ${round}: and its layers`);
      }
    }
    const uuid = prepare.stdout.trim();
    const run = await s.skiff(['run-prepared', uuid]);
    t.is(run.code, 0, `round ${round}: ${run.stderr}`);
    t.is((await s.skiff(['rm', uuid])).code, 0);
  }
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

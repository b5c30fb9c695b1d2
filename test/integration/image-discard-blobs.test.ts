/**
 * `fetch --discard-blobs` (and SKIFF_DISCARD_BLOBS=1): a layer's compressed blob goes once the
 * layer is unpacked, so the store holds the image once; what needs the blob later says so, and a
 * fetch without the option brings it back. The probe image from the real registry.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { publishFixtures, type PublishedFixtures } from '../support/fixture-images.js';
import { startRegistry, type RegistryServer } from '../support/registry-server.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';

let registry: RegistryServer;
let published: PublishedFixtures;

test.before(async () => {
  registry = await startRegistry();
  published = await publishFixtures(registry);
});
test.after.always(async () => {
  await registry?.stop();
});

const blobs = (store: string) => (existsSync(join(store, 'blobs', 'sha256')) ? readdirSync(join(store, 'blobs', 'sha256')).map((h) => `sha256:${h}`) : []);
const layerDigests = () => published.oci.layers.map((l) => l.digest);

test('the layer blobs go, the layers, manifest and config stay; export and extract say what is missing; a fetch without it brings them back', async (t) => {
  const dir = tempDir(t);
  const store = join(dir, 'store');
  const skiff = (args: string[], env: NodeJS.ProcessEnv = {}) => runSkiff(['--dir', store, '--insecure-options=http', ...args], { env });
  const f = await skiff(['fetch', '--quiet', '--discard-blobs', published.refs.oci]);
  t.is(f.code, 0, f.stderr);
  t.is(f.stdout.trim(), published.oci.config.digest);
  const kept = blobs(store);
  t.true(kept.includes(published.oci.manifest.digest) && kept.includes(published.oci.config.digest), 'manifest and config stay');
  t.deepEqual(layerDigests().filter((d) => kept.includes(d)), [], 'no layer blob');
  t.is(readdirSync(join(store, 'layers', 'sha256')).length, layerDigests().length, 'every layer unpacked');
  t.deepEqual(readdirSync(join(store, 'tmp')), []);

  const archive = join(dir, 'probe.tar');
  const e = await skiff(['image', 'export', published.oci.config.digest, archive]);
  t.is(e.code, 254);
  t.regex(e.stderr, /image export needs the layer blobs of .*probe:oci, and 1 of 1 were dropped after unpacking \(--discard-blobs\)/);
  t.regex(e.stderr, /skiff fetch --pull-policy=update /);
  t.is(e.stderr.trim().split('\n').length, 1);
  t.false(existsSync(archive), 'nothing written');
  const x = await skiff(['image', 'extract', published.oci.config.digest, join(dir, 'rootfs')]);
  t.is(x.code, 254);
  t.regex(x.stderr, /a rendered copy of the image \(--no-overlay, image extract\) needs the layer blobs/);

  // Again with --discard-blobs: the layers are there, nothing is downloaded (the blob stays absent).
  const again = await skiff(['fetch', '--quiet', '--discard-blobs', published.refs.oci]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(layerDigests().filter((d) => blobs(store).includes(d)), []);
  // Without it, the blobs come back and export works.
  const keep = await skiff(['fetch', '--quiet', published.refs.oci]);
  t.is(keep.code, 0, keep.stderr);
  t.deepEqual(layerDigests().filter((d) => !blobs(store).includes(d)), []);
  const e2 = await skiff(['image', 'export', published.oci.config.digest, archive]);
  t.is(e2.code, 0, e2.stderr);
});

test('SKIFF_DISCARD_BLOBS=1 is the setting for every fetch; another value is a usage error', async (t) => {
  const store = join(tempDir(t), 'store');
  const f = await runSkiff(['--dir', store, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci], { env: { SKIFF_DISCARD_BLOBS: '1' } });
  t.is(f.code, 0, f.stderr);
  t.deepEqual(layerDigests().filter((d) => blobs(store).includes(d)), []);
  const bad = await runSkiff(['--dir', store, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci], { env: { SKIFF_DISCARD_BLOBS: 'yes' } });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /SKIFF_DISCARD_BLOBS "yes" is not 0 or 1/);
});

test('two discarding fetches at once both succeed, store the layer once, leave no scratch and no layer blob', async (t) => {
  const store = join(tempDir(t), 'store');
  const args = ['--dir', store, '--insecure-options=http', 'fetch', '--quiet', '--discard-blobs', published.refs.oci];
  const [a, b] = await Promise.all([runSkiff(args), runSkiff(args)]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.is(readdirSync(join(store, 'layers', 'sha256')).length, layerDigests().length);
  t.deepEqual(readdirSync(join(store, 'tmp')), []);
  t.deepEqual(layerDigests().filter((d) => blobs(store).includes(d)), []);
});

/**
 * `skiff fetch` and the image commands end to end, as a user runs them:
 * the real registry and local layouts/archives in, a verified store out.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFaultProxy } from '../support/fault-proxy.js';
import { fixtureImages, publishFixtures, type PublishedFixtures } from '../support/fixture-images.js';
import { writeDockerArchive, writeOciArchive } from '../support/image-archives.js';
import { writeOciLayout } from '../support/oci-layout.js';
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

const diffIdOf = (config: Buffer): string[] => (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;

function layerDir(dir: string, diffId: string): string {
  return join(dir, 'layers', 'sha256', diffId.slice(7));
}

/** Every blob in the store hashes to its name. */
function assertBlobsWhole(t: { is(a: unknown, b: unknown, m?: string): void }, dir: string): void {
  const blobs = join(dir, 'blobs', 'sha256');
  for (const hex of existsSync(blobs) ? readdirSync(blobs) : []) {
    t.is(createHash('sha256').update(readFileSync(join(blobs, hex))).digest('hex'), hex, `blob ${hex} is whole`);
  }
}

test('fetch docker:// (OCI manifest) prints the image ID and stores verified blobs and an unpacked layer', async (t) => {
  const dir = tempDir(t);
  const r = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), published.oci.config.digest);
  const [diffId] = diffIdOf(published.oci.config.data);
  const layer = layerDir(dir, diffId ?? '');
  t.true(existsSync(join(layer, 'bin', 'busybox')));
  t.true(existsSync(join(layer, 'probe')));
  t.is(readFileSync(join(layer, 'etc', 'skiff-platform'), 'utf8'), 'linux/amd64\n');
  assertBlobsWhole(t, dir);
});

test('fetch without --insecure-options=http refuses a plain-http registry with a hint', async (t) => {
  const dir = tempDir(t);
  const r = await runSkiff(['--dir', dir, 'fetch', '--quiet', published.refs.oci]);
  t.is(r.code, 254);
  t.regex(r.stderr, /--insecure-options=http/);
  t.is(r.stderr.trim().split('\n').length, 1);
});

test('Docker v2s2 and OCI forms of one image are one image with two names', async (t) => {
  const dir = tempDir(t);
  const a = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci, published.refs.docker]);
  t.is(a.code, 0, a.stderr);
  const ids = a.stdout.trim().split('\n');
  t.is(ids.length, 2);
  t.is(ids[0], ids[1]);
  const list = await runSkiff(['--dir', dir, '--format', 'json', 'image', 'list']);
  const images = JSON.parse(list.stdout) as Array<{ id: string; names: string[] }>;
  t.is(images.length, 1);
  t.deepEqual(images[0]?.names.sort(), [`${registry.host}/skiff/probe:oci`, `${registry.host}/skiff/probe:v2s2`]);
});

test('an index gives the host platform by default and another with --platform', async (t) => {
  const dir = tempDir(t);
  const host = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.index]);
  t.is(host.code, 0, host.stderr);
  const [amd, arm] = published.index.images;
  if (amd === undefined || arm === undefined) return t.fail('the index has two images');
  t.is(host.stdout.trim(), amd.config.digest);
  const other = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', '--platform', 'linux/arm64', published.refs.index]);
  t.is(other.code, 0, other.stderr);
  t.is(other.stdout.trim(), arm.config.digest);
  const [armDiff] = diffIdOf(arm.config.data);
  t.is(readFileSync(join(layerDir(dir, armDiff ?? ''), 'etc', 'skiff-platform'), 'utf8'), 'linux/arm64\n');
  const none = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', '--platform', 'linux/s390x', published.refs.index]);
  t.is(none.code, 254);
  t.regex(none.stderr, /linux\/s390x.*available: linux\/amd64, linux\/arm64/);
});

test('oci:, oci-archive: and docker-archive: sources fetch the same image', async (t) => {
  const dir = tempDir(t);
  const images = await fixtureImages();
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [{ ref: 'probe', image: images.oci }]);
  writeOciArchive(join(dir, 'probe.oci.tar'), [{ ref: 'probe', image: images.oci }]);
  writeDockerArchive(join(dir, 'probe.docker.tar'), [{ repoTags: ['skiff/probe:saved'], image: images.docker }]);
  const store = join(dir, 'store');
  for (const ref of [`oci:${layout}:probe`, `oci-archive:${join(dir, 'probe.oci.tar')}:probe`, `docker-archive:${join(dir, 'probe.docker.tar')}:skiff/probe:saved`]) {
    const r = await runSkiff(['--dir', store, 'fetch', '--quiet', ref]);
    t.is(r.code, 0, `${ref}: ${r.stderr}`);
    t.is(r.stdout.trim(), images.oci.config.digest, ref);
  }
  assertBlobsWhole(t, store);
  t.is(readdirSync(join(store, 'layers', 'sha256')).length, 1, 'the layer is unpacked once for all three');
});

test('a tampered blob in a layout is refused, names the blob, and stores nothing of it', async (t) => {
  const dir = tempDir(t);
  const images = await fixtureImages();
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [{ ref: 'probe', image: images.oci }]);
  const layer = images.oci.layers[0];
  if (layer === undefined) return t.fail();
  const path = join(layout, 'blobs', 'sha256', layer.digest.slice(7));
  const data = readFileSync(path);
  data[data.length - 20] = (data[data.length - 20] ?? 0) ^ 0xff;
  writeFileSync(path, data);
  const store = join(dir, 'store');
  const r = await runSkiff(['--dir', store, 'fetch', '--quiet', `oci:${layout}:probe`]);
  t.is(r.code, 254);
  t.regex(r.stderr, new RegExp(`expected ${layer.digest}`));
  t.false(existsSync(join(store, 'blobs', 'sha256', layer.digest.slice(7))));
  t.deepEqual(existsSync(join(store, 'layers', 'sha256')) ? readdirSync(join(store, 'layers', 'sha256')) : [], []);
  const list = await runSkiff(['--dir', store, '--format', 'json', 'image', 'list']);
  t.deepEqual(JSON.parse(list.stdout), []);
});

test('a tampered layer blob from a registry is refused by its digest while it is being unpacked: no blob, no layer, no scratch left', async (t) => {
  const store = tempDir(t);
  const layer = published.oci.layers[0]!;
  const proxy = await startFaultProxy(registry.url, (req) =>
    req.path.endsWith(`/blobs/${layer.digest}`)
      ? {
          kind: 'rewrite',
          body: (b) => {
            const bad = Buffer.from(b);
            bad[b.length - 20] = (bad[b.length - 20] ?? 0) ^ 0xff;
            return bad;
          },
        }
      : undefined,
  );
  t.teardown(() => proxy.stop());
  const r = await runSkiff(['--dir', store, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci.replace(registry.host, proxy.host)]);
  t.is(r.code, 254);
  // The blob's error, not the inflater's or the diffID's that it causes.
  t.regex(r.stderr, new RegExp(`expected ${layer.digest}`));
  t.false(existsSync(join(store, 'blobs', 'sha256', layer.digest.slice(7))));
  t.deepEqual(existsSync(join(store, 'layers', 'sha256')) ? readdirSync(join(store, 'layers', 'sha256')) : [], []);
  t.deepEqual(readdirSync(join(store, 'tmp')), []);
});

test('image list, cat-manifest, rm and gc work on fetched images', async (t) => {
  const dir = tempDir(t);
  const f = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci]);
  t.is(f.code, 0, f.stderr);
  const list = await runSkiff(['--dir', dir, 'image', 'list']);
  t.regex(list.stdout, /^ID\s+NAME\s+SIZE\s+IMPORT TIME\s+LAST USED$/m);
  t.regex(list.stdout, new RegExp(`^${published.oci.config.digest.slice(7, 19)}\\s+${registry.host}/skiff/probe:oci\\s`, 'm'));
  const cat = await runSkiff(['--dir', dir, 'image', 'cat-manifest', `${registry.host}/skiff/probe:oci`]);
  t.is(cat.code, 0, cat.stderr);
  t.deepEqual(JSON.parse(cat.stdout), JSON.parse(published.oci.manifest.data.toString()));
  const gcKeep = await runSkiff(['--dir', dir, 'image', 'gc']);
  t.is(gcKeep.code, 0, gcKeep.stderr);
  t.regex(gcKeep.stdout, /freed 0 blobs and 0 layers/);
  const rm = await runSkiff(['--dir', dir, 'image', 'rm', published.oci.config.digest.slice(7, 19)]);
  t.is(rm.code, 0, rm.stderr);
  t.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')), []);
  t.deepEqual(readdirSync(join(dir, 'layers', 'sha256')), []);
  const again = await runSkiff(['--dir', dir, 'image', 'rm', 'nope:1']);
  t.is(again.code, 254);
  t.regex(again.stderr, /no image nope:1 \(docker\.io\/library\/nope:1\) in the store/);
});

test('pull policy never refuses a missing image; new uses the stored one without asking', async (t) => {
  const dir = tempDir(t);
  const never = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', '--pull-policy=never', published.refs.oci]);
  t.is(never.code, 254);
  t.regex(never.stderr, /--pull-policy=never/);
  const first = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci]);
  t.is(first.code, 0, first.stderr);
  // With the registry unreachable by name, `new` must still answer from the store.
  const again = await runSkiff(['--dir', dir, 'fetch', '--quiet', '--pull-policy=new', published.refs.oci]);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout.trim(), published.oci.config.digest);
});

test('two fetches of the same image at once both succeed and store it once', async (t) => {
  const dir = tempDir(t);
  const args = ['--dir', dir, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci];
  const [a, b] = await Promise.all([runSkiff(args), runSkiff(args)]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.is(a.stdout, b.stdout);
  t.is(readdirSync(join(dir, 'layers', 'sha256')).length, 1);
  t.deepEqual(readdirSync(join(dir, 'tmp')), []);
  const list = await runSkiff(['--dir', dir, '--format', 'json', 'image', 'list']);
  t.is((JSON.parse(list.stdout) as unknown[]).length, 1);
  assertBlobsWhole(t, dir);
});

test('fetch progress without a TTY is one line per layer on stderr', async (t) => {
  const dir = tempDir(t);
  const r = await runSkiff(['--dir', dir, '--insecure-options=http', 'fetch', published.refs.oci]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^layer [0-9a-f]{12}: fetched and unpacked, [\d.]+ MiB in [\d.]+ s \([\d.]+ \S+\/s\)$/m);
  t.is(r.stdout.trim(), published.oci.config.digest);
});

test('image export writes an OCI archive that fetches back as the same image', async (t) => {
  const dir = tempDir(t);
  const store = join(dir, 'store');
  const f = await runSkiff(['--dir', store, '--insecure-options=http', 'fetch', '--quiet', published.refs.oci]);
  t.is(f.code, 0, f.stderr);
  const archive = join(dir, 'probe.tar');
  const e = await runSkiff(['--dir', store, 'image', 'export', `${registry.host}/skiff/probe:oci`, archive]);
  t.is(e.code, 0, e.stderr);
  const listing = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n');
  t.deepEqual(listing.slice(0, 2), ['oci-layout', 'index.json']);
  t.true(listing.includes(`blobs/sha256/${published.oci.manifest.digest.slice(7)}`));
  const again = await runSkiff(['--dir', store, 'image', 'export', published.oci.config.digest, archive]);
  t.is(again.code, 254);
  t.regex(again.stderr, /exists; pass --overwrite/);
  const other = join(dir, 'other');
  const back = await runSkiff(['--dir', other, 'fetch', '--quiet', `oci-archive:${archive}:oci`]);
  t.is(back.code, 0, back.stderr);
  t.is(back.stdout.trim(), published.oci.config.digest);
  const cat = await runSkiff(['--dir', other, 'image', 'cat-manifest', published.oci.config.digest]);
  t.deepEqual(JSON.parse(cat.stdout), JSON.parse(published.oci.manifest.data.toString()));
});

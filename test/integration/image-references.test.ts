/**
 * Every verb that takes a stored image takes every form `fetch` took for it
 * (issue 11, section 2): `skiff fetch docker://HOST/x:1` worked, then
 * `skiff image rm docker://HOST/x:1` said "no image … in the store". Through
 * the CLI, for `image cat-manifest|export|extract|rm` and `run`: the
 * docker:// prefix, the name without it, name@digest, oci:DIR[:REF],
 * oci-archive:, docker-archive: (with docker.io's defaults for the name in
 * it), the ID with and without sha256:, an ID prefix; an ambiguous prefix and
 * a name the store lacks are clear errors.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureImages } from '../support/fixture-images.js';
import { writeDockerArchive, writeOciArchive } from '../support/image-archives.js';
import { buildImage, buildLayer, sha256, type BuiltImage } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore } from '../support/pod-store.js';
import { pushImage } from '../support/registry-push.js';
import { startRegistry, type RegistryServer } from '../support/registry-server.js';
import { runSkiff, type SkiffResult } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';

const REPO = 'skiff/refs';
const layer = buildLayer([{ path: 'hello', type: 'file', content: 'hi\n', mtime: 1_700_000_000 }]);
const image = buildImage({ layers: [layer], config: { Cmd: ['/hello'] } });

let registry: RegistryServer;

test.before(async () => {
  registry = await startRegistry();
  await pushImage(registry, REPO, 'v1', image);
});
test.after.always(async () => {
  await registry?.stop();
});

interface Store {
  work: string;
  skiff(args: string[]): Promise<SkiffResult>;
}

function store(t: ExecutionContext): Store {
  const work = tempDir(t, 'skiff-refs-');
  const dir = join(work, 'store');
  return { work, skiff: (args) => runSkiff(['--dir', dir, '--insecure-options=http', ...args]) };
}

async function fetchInto(t: ExecutionContext, s: Store, ref: string): Promise<void> {
  const r = await s.skiff(['fetch', '--quiet', ref]);
  t.is(r.code, 0, `fetch ${ref}: ${r.stderr}`);
  t.is(r.stdout.trim(), image.config.digest);
}

/** cat-manifest, export and extract with `query`: each finds the image. */
async function readingVerbs(t: ExecutionContext, s: Store, query: string): Promise<void> {
  const cat = await s.skiff(['image', 'cat-manifest', query]);
  t.is(cat.code, 0, `cat-manifest ${query}: ${cat.stderr}`);
  t.is((JSON.parse(cat.stdout) as { config: { digest: string } }).config.digest, image.config.digest, `cat-manifest ${query}`);
  const tag = sha256(Buffer.from(query)).slice(7, 15);
  const archive = join(s.work, `export-${tag}.tar`);
  const exp = await s.skiff(['image', 'export', query, archive]);
  t.is(exp.code, 0, `export ${query}: ${exp.stderr}`);
  t.true(existsSync(archive), `export ${query}`);
  const out = join(s.work, `extract-${tag}`);
  const ext = await s.skiff(['image', 'extract', '--rootfs-only', query, out]);
  t.is(ext.code, 0, `extract ${query}: ${ext.stderr}`);
  t.is(readFileSync(join(out, 'hello'), 'utf8'), 'hi\n', `extract ${query}`);
}

/** rm with `query` removes the image (fetched again first, from `fetched`, when the store lacks it). */
async function removes(t: ExecutionContext, s: Store, fetched: string, query: string): Promise<void> {
  const list = async (): Promise<unknown[]> => JSON.parse((await s.skiff(['--format', 'json', 'image', 'list'])).stdout) as unknown[];
  if ((await list()).length === 0) await fetchInto(t, s, fetched);
  const rm = await s.skiff(['image', 'rm', query]);
  t.is(rm.code, 0, `rm ${query}: ${rm.stderr}`);
  t.is(rm.stdout.trim(), `removed ${image.config.digest}`, `rm ${query}`);
  t.deepEqual(await list(), [], `rm ${query} removed the image`);
}

/** Every verb with every query, on an image fetched as `fetched`. */
async function everyVerb(t: ExecutionContext, fetched: string, queries: string[]): Promise<void> {
  const s = store(t);
  await fetchInto(t, s, fetched);
  for (const query of queries) await readingVerbs(t, s, query);
  for (const query of queries) await removes(t, s, fetched, query);
}

test('fetched as docker://HOST/REPO:TAG: every verb takes docker://, the bare name, name@digest, the ID and an ID prefix', async (t) => {
  const fetched = `docker://${registry.host}/${REPO}:v1`;
  await everyVerb(t, fetched, [
    fetched,
    `${registry.host}/${REPO}:v1`,
    `docker://${registry.host}/${REPO}@${image.manifest.digest}`,
    `${registry.host}/${REPO}:v1@${image.manifest.digest}`,
    image.config.digest,
    image.config.digest.slice(7),
    image.config.digest.slice(7, 19),
    image.config.digest.slice(0, 11),
  ]);
});

test('fetched by digest (docker://HOST/REPO@sha256:…): every verb takes it with and without docker://', async (t) => {
  const fetched = `docker://${registry.host}/${REPO}@${image.manifest.digest}`;
  await everyVerb(t, fetched, [fetched, fetched.slice('docker://'.length)]);
});

test('oci:DIR[:REF], oci-archive:FILE[:REF] and docker-archive:FILE[:NAME:TAG]: every verb takes what fetch took', async (t) => {
  const files = tempDir(t, 'skiff-refs-src-');
  const layout = join(files, 'layout');
  await writeOciLayout(layout, [{ ref: 'img', image }]);
  const single = join(files, 'single');
  await writeOciLayout(single, [{ ref: 'only', image }]);
  const ociArchive = join(files, 'image.tar');
  writeOciArchive(ociArchive, [{ ref: 'img', image }]);
  const dockerArchive = join(files, 'saved.tar');
  writeDockerArchive(dockerArchive, [{ repoTags: ['busybox:latest'], image }]);
  const cases: Array<[fetched: string, queries: string[]]> = [
    [`oci:${layout}:img`, [`oci:${layout}:img`]],
    [`oci:${single}`, [`oci:${single}`]],
    [`oci-archive:${ociArchive}:img`, [`oci-archive:${ociArchive}:img`]],
    [`oci-archive:${ociArchive}`, [`oci-archive:${ociArchive}`]],
    [`docker-archive:${dockerArchive}`, [`docker-archive:${dockerArchive}`]],
    // The name in a docker-archive reference follows docker.io's defaults, as fetch records it.
    [
      `docker-archive:${dockerArchive}:busybox:latest`,
      [`docker-archive:${dockerArchive}:busybox:latest`, `docker-archive:${dockerArchive}:busybox`, `docker-archive:${dockerArchive}:docker.io/library/busybox`],
    ],
  ];
  for (const [fetched, queries] of cases) await everyVerb(t, fetched, queries);
});

/** Two images whose IDs share their first 4 hex digits: configs that differ by a label, tried until two collide. */
function collidingImages(): [BuiltImage, BuiltImage] {
  const seen = new Map<string, BuiltImage>();
  for (let i = 0; ; i++) {
    const built = buildImage({ layers: [layer], config: { Labels: { n: String(i) } } });
    const prefix = built.config.digest.slice(7, 11);
    const other = seen.get(prefix);
    if (other !== undefined) return [other, built];
    seen.set(prefix, built);
  }
}

test('an ID prefix two images share is refused by every verb, naming both; nothing is removed', async (t) => {
  const [a, b] = collidingImages();
  const s = store(t);
  const layout = join(s.work, 'layout');
  await writeOciLayout(layout, [{ ref: 'a', image: a }, { ref: 'b', image: b }]);
  for (const ref of ['a', 'b']) t.is((await s.skiff(['fetch', '--quiet', `oci:${layout}:${ref}`])).code, 0);
  const prefix = a.config.digest.slice(7, 11);
  for (const args of [['cat-manifest', prefix], ['export', prefix, join(s.work, 'x.tar')], ['extract', prefix, join(s.work, 'x')], ['rm', prefix]]) {
    const r = await s.skiff(['image', ...args]);
    t.is(r.code, 254, `${args[0]}: ${r.stderr}`);
    t.regex(r.stderr, new RegExp(`^skiff: image ID prefix ${prefix} is ambiguous: it matches 2 images \\(${a.config.digest.slice(7, 19)}, ${b.config.digest.slice(7, 19)}\\); give more digits of the ID\\n$`), args[0]);
  }
  const list = await s.skiff(['--format', 'json', 'image', 'list']);
  t.is((JSON.parse(list.stdout) as unknown[]).length, 2);
  // One more digit tells them apart.
  t.is((await s.skiff(['image', 'rm', a.config.digest.slice(7, 19)])).code, 0);
});

test('a name the store lacks: every verb says so, with the name it stands for, exit 254', async (t) => {
  const s = store(t);
  await fetchInto(t, s, `docker://${registry.host}/${REPO}:v1`);
  const missing = `docker://${registry.host}/${REPO}:v2`;
  for (const args of [['cat-manifest', missing], ['export', missing, join(s.work, 'x.tar')], ['extract', missing, join(s.work, 'x')], ['rm', missing]]) {
    const r = await s.skiff(['image', ...args]);
    t.is(r.code, 254, `${args[0]}: ${r.stderr}`);
    t.is(r.stderr, `skiff: no image ${missing} (${registry.host}/${REPO}:v2) in the store; see 'skiff image list', or fetch it with 'skiff fetch ${missing}'\n`, args[0]);
  }
  const bare = await s.skiff(['image', 'rm', 'alpine']);
  t.regex(bare.stderr, /^skiff: no image alpine \(docker\.io\/library\/alpine:latest\) in the store;/);
});

test('run takes the stored image by ID prefix and by docker:// name (--pull-policy=never: from the store only)', async (t) => {
  const s = await podStore(t);
  const id = (await fixtureImages()).oci.config.digest;
  for (const query of [id.slice(7, 19), id, s.image]) {
    const r = await s.skiff(['run', '--pull-policy=never', query, '--exec', '/probe', '--', 'exit', '3']);
    t.is(r.code, 3, `run ${query}: ${r.stderr}`);
  }
});

import test from 'ava';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { VerifyError, InvalidStateError, NotFoundError, ImageError } from '../../runtime/errors.js';
import { hasBlob, ingestBlob, readBlob } from '../../image/store/blob-store.js';
import { collectImages, removeImages } from '../../image/store/image-gc.js';
import { findImage } from '../../image/store/find-image.js';
import { readImageIndex, recordImage, type ImageRecord } from '../../image/store/image-index.js';
import { blobPath, layerPath, storePaths, type StorePaths } from '../../image/store/store-paths.js';
import { sha256 } from '../support/oci-image.js';
import { tempDir } from '../support/temp-dir.js';

const bytes = (s: string): Buffer => Buffer.from(s);
const stream = (b: Buffer, chunk = 3): Readable =>
  Readable.from(Array.from({ length: Math.ceil(b.length / chunk) }, (_, i) => b.subarray(i * chunk, (i + 1) * chunk)));

test('a blob is stored under its digest when it matches', async (t) => {
  const paths = storePaths(tempDir(t));
  const data = bytes('hello, store');
  await ingestBlob(paths, { digest: sha256(data), size: data.length }, stream(data), 'test');
  t.true(hasBlob(paths, sha256(data)));
  t.deepEqual(readBlob(paths, sha256(data)), data);
  t.deepEqual(readdirSync(paths.tmp), [], 'scratch cleaned up');
});

test('a blob that does not match its digest stores nothing and says expected vs got', async (t) => {
  const paths = storePaths(tempDir(t));
  const data = bytes('tampered');
  const claimed = sha256(bytes('original'));
  const err = await t.throwsAsync(ingestBlob(paths, { digest: claimed, size: data.length }, stream(data), 'docker://reg/app:1'));
  t.true(err instanceof VerifyError);
  t.regex(err?.message ?? '', /docker:\/\/reg\/app:1/);
  t.regex(err?.message ?? '', new RegExp(`expected ${claimed}.*got ${sha256(data)}`));
  t.false(existsSync(blobPath(paths, claimed)));
  t.false(existsSync(blobPath(paths, sha256(data))));
  t.deepEqual(readdirSync(paths.tmp), []);
});

test('a blob longer than its descriptor is cut off and refused', async (t) => {
  const paths = storePaths(tempDir(t));
  const data = bytes('0123456789');
  const err = await t.throwsAsync(ingestBlob(paths, { digest: sha256(data), size: 4 }, stream(data), 'src'));
  t.true(err instanceof ImageError);
  t.false(hasBlob(paths, sha256(data)));
});

test('two ingests of the same blob at once both succeed and store it once', async (t) => {
  const paths = storePaths(tempDir(t));
  const data = Buffer.alloc(1 << 20, 7);
  const d = { digest: sha256(data), size: data.length };
  await Promise.all([ingestBlob(paths, d, stream(data, 4096), 'a'), ingestBlob(paths, d, stream(data, 4096), 'b')]);
  t.deepEqual(readdirSync(paths.blobs), [d.digest.slice(7)]);
});

test('a digest that is not sha256 never becomes a path', (t) => {
  const paths = storePaths('/nonexistent');
  t.throws(() => blobPath(paths, 'sha256:../../etc/passwd'), { instanceOf: ImageError });
  t.throws(() => blobPath(paths, 'sha512:abc'), { instanceOf: ImageError });
});

function fakeImage(paths: StorePaths, name: string, layers: string[], lastUsed = '2026-01-01T00:00:00.000Z'): ImageRecord {
  const config = bytes(`config of ${name} ${layers.join()}`);
  const manifest = bytes(`manifest of ${name}`);
  mkdirSync(paths.blobs, { recursive: true });
  writeFileSync(blobPath(paths, sha256(config)), config);
  writeFileSync(blobPath(paths, sha256(manifest)), manifest);
  const layerRecords = layers.map((l) => {
    const blob = bytes(`blob ${l}`);
    writeFileSync(blobPath(paths, sha256(blob)), blob);
    mkdirSync(layerPath(paths, sha256(bytes(l))), { recursive: true });
    return { digest: sha256(blob), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: blob.length, diffId: sha256(bytes(l)) };
  });
  return {
    id: sha256(config),
    names: [name],
    manifestDigest: sha256(manifest),
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    configDigest: sha256(config),
    platform: { os: 'linux', architecture: 'amd64' },
    layers: layerRecords,
    size: 1,
    importTime: lastUsed,
    lastUsed,
  };
}

test('records merge names by ID, and a re-pushed name moves to the new image', async (t) => {
  const paths = storePaths(tempDir(t));
  const a = fakeImage(paths, 'reg/app:1', ['base', 'a']);
  await recordImage(paths, a);
  await recordImage(paths, { ...a, names: ['reg/app:latest'] });
  t.deepEqual(readImageIndex(paths)[0]?.names, ['reg/app:1', 'reg/app:latest']);
  const b = fakeImage(paths, 'reg/app:latest', ['base', 'b']);
  await recordImage(paths, b);
  const index = readImageIndex(paths);
  t.deepEqual(index.find((i) => i.id === a.id)?.names, ['reg/app:1']);
  t.deepEqual(index.find((i) => i.id === b.id)?.names, ['reg/app:latest']);
});

test('images are found by name, full ID and unique prefix; ambiguity and absence are clear errors', async (t) => {
  const paths = storePaths(tempDir(t));
  const a = fakeImage(paths, 'reg/app:1', ['x']);
  await recordImage(paths, a);
  const images = readImageIndex(paths);
  t.is(findImage(images, 'reg/app:1').id, a.id);
  t.is(findImage(images, a.id).id, a.id);
  t.is(findImage(images, a.id.slice(7, 19)).id, a.id);
  const missing = t.throws(() => findImage(images, 'reg/none:1'));
  t.true(missing instanceof NotFoundError);
  t.regex(missing?.message ?? '', /no image reg\/none:1/);
});

test('image rm keeps layers another image shares and refuses an image a pod uses', async (t) => {
  const paths = storePaths(tempDir(t));
  const a = fakeImage(paths, 'reg/a:1', ['base', 'only-a']);
  const b = fakeImage(paths, 'reg/b:1', ['base', 'only-b']);
  await recordImage(paths, a);
  await recordImage(paths, b);

  mkdirSync(join(paths.pods, 'run', 'pod-1'), { recursive: true });
  writeFileSync(join(paths.pods, 'run', 'pod-1', 'images'), `${b.id}\n`);
  const refused = await t.throwsAsync(removeImages(paths, ['reg/b:1']));
  t.true(refused instanceof InvalidStateError);
  t.regex(refused?.message ?? '', /used by pod pod-1/);

  const { removed, sweep } = await removeImages(paths, ['reg/a:1']);
  t.deepEqual(removed.map((r) => r.id), [a.id]);
  t.true(existsSync(layerPath(paths, sha256(bytes('base')))), 'shared layer kept');
  t.false(existsSync(layerPath(paths, sha256(bytes('only-a')))), 'own layer removed');
  t.true(hasBlob(paths, b.layers[1]?.digest ?? ''));
  t.false(hasBlob(paths, a.manifestDigest));
  t.deepEqual(sweep, { blobs: 3, layers: 1 }, 'config, manifest and its own layer blob');
});

test('image gc removes images unused past the grace period, never one a pod uses', async (t) => {
  const paths = storePaths(tempDir(t));
  const now = new Date('2026-06-01T00:00:00Z');
  const old = fakeImage(paths, 'reg/old:1', ['o'], '2026-05-01T00:00:00.000Z');
  const fresh = fakeImage(paths, 'reg/fresh:1', ['f'], '2026-05-31T12:00:00.000Z');
  const pinned = fakeImage(paths, 'reg/pinned:1', ['p'], '2026-01-01T00:00:00.000Z');
  for (const i of [old, fresh, pinned]) await recordImage(paths, i);
  mkdirSync(join(paths.pods, 'exited-garbage', 'pod-2'), { recursive: true });
  writeFileSync(join(paths.pods, 'exited-garbage', 'pod-2', 'images'), `${pinned.id}\n`);
  const { removed } = await collectImages(paths, 24 * 3_600_000, now);
  t.deepEqual(removed.map((r) => r.names[0]), ['reg/old:1']);
  t.deepEqual(readImageIndex(paths).map((i) => i.names[0]).sort(), ['reg/fresh:1', 'reg/pinned:1']);
  t.false(existsSync(layerPath(paths, sha256(bytes('o')))));
  t.true(existsSync(layerPath(paths, sha256(bytes('p')))));
});

test('a use marks the image without rewriting the index, and gc counts from the last use', async (t) => {
  const { markImageUsed } = await import('../../image/store/image-index.js');
  const { statSync } = await import('node:fs');
  const paths = storePaths(tempDir(t));
  const img = fakeImage(paths, 'reg/used:1', ['u'], '2026-01-01T00:00:00.000Z');
  await recordImage(paths, img);
  const before = statSync(paths.index).mtimeMs;
  markImageUsed(paths, img.id, new Date('2026-05-31T23:00:00Z'));
  t.is(statSync(paths.index).mtimeMs, before, 'the index was not rewritten');
  t.is(readImageIndex(paths)[0]?.lastUsed, '2026-05-31T23:00:00.000Z');
  const { removed } = await collectImages(paths, 24 * 3_600_000, new Date('2026-06-01T00:00:00Z'));
  t.deepEqual(removed, [], 'used an hour ago: kept');
  const later = await collectImages(paths, 24 * 3_600_000, new Date('2026-06-03T00:00:00Z'));
  t.deepEqual(later.removed.map((r) => r.id), [img.id]);
  t.false(existsSync(join(paths.images, 'last-used', img.id.slice(7))), 'its marker went with it');
});

// Security audit (issue 13), item 15: messages.

test('a descriptor larger than its blob is a size mismatch, not a digest mismatch naming one digest twice', async (t) => {
  const paths = storePaths(tempDir(t));
  const data = bytes('0123456789');
  const err = await t.throwsAsync(ingestBlob(paths, { digest: sha256(data), size: 20 }, stream(data), 'oci:/l:img'));
  t.true(err instanceof VerifyError);
  const message = err?.message ?? '';
  t.regex(message, /size/);
  t.regex(message, /expected 20 bytes, got 10 bytes/);
  t.is(message.split(sha256(data)).length - 1, 1, `the digest is named once: ${message}`);
  t.false(hasBlob(paths, sha256(data)));
  t.deepEqual(readdirSync(paths.tmp), []);
});

/** One stored image (one config ID) recorded under two names, its first layer dir gone. */
async function twoNamesOneImage(t: { teardown(fn: () => void): void }): Promise<{ paths: StorePaths; id: string }> {
  const paths = storePaths(tempDir(t));
  const fake = fakeImage(paths, 'reg.example/first:1', ['l']);
  const config = bytes(JSON.stringify({ os: 'linux', architecture: 'amd64', config: {}, rootfs: { type: 'layers', diff_ids: [fake.layers[0]!.diffId] } }));
  writeFileSync(blobPath(paths, sha256(config)), config);
  const a = { ...fake, id: sha256(config), configDigest: sha256(config) };
  await recordImage(paths, a);
  await recordImage(paths, { ...a, names: ['reg.example/second:2'] });
  rmSync(layerPath(paths, a.layers[0]!.diffId), { recursive: true });
  return { paths, id: a.id };
}

test('an image found by its second name is reported under that name, not the first', async (t) => {
  const { loadStoredImage } = await import('../../image/store/stored-image.js');
  const { paths } = await twoNamesOneImage(t);
  const record = findImage(readImageIndex(paths), 'reg.example/second:2');
  t.is(record.names[0], 'reg.example/second:2');
  const err = t.throws(() => loadStoredImage(paths, record));
  t.regex(err?.message ?? '', /of reg\.example\/second:2 is missing/);
  t.notRegex(`${err?.message ?? ''} ${(err as ImageError | undefined)?.hint ?? ''}`, /first/);
  t.deepEqual(readImageIndex(paths)[0]?.names, ['reg.example/first:1', 'reg.example/second:2'], 'the stored order is unchanged');
});

test('a stored image pulled by its second name (pull policy new) is reported under that name', async (t) => {
  const { pullImage } = await import('../../image/pull.js');
  const { loadStoredImage } = await import('../../image/store/stored-image.js');
  const { paths } = await twoNamesOneImage(t);
  const record = await pullImage(paths, 'docker://reg.example/second:2', { policy: 'new', insecure: new Set() });
  t.is(record.names[0], 'reg.example/second:2');
  t.regex(t.throws(() => loadStoredImage(paths, record))?.message ?? '', /of reg\.example\/second:2 is missing/);
});

/**
 * find-image.ts: every form `fetch` takes for an image names it in the
 * store afterwards (issue 11: `image rm docker://HOST/x:1` said "no image").
 * Records built in code; the CLI side is test/integration/image-references.test.ts.
 */
import test from 'ava';
import { ImageError, NotFoundError, UsageError } from '../../runtime/errors.js';
import { findImage, lookupImage } from '../../image/store/find-image.js';
import type { ImageRecord } from '../../image/store/image-index.js';
import { sha256 } from '../support/oci-image.js';

function record(names: string[], seed: string, id = sha256(Buffer.from(`config ${seed}`))): ImageRecord {
  return {
    id,
    names,
    manifestDigest: sha256(Buffer.from(`manifest ${seed}`)),
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    configDigest: id,
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [],
    size: 1,
    importTime: '2026-01-01T00:00:00.000Z',
    lastUsed: '2026-01-01T00:00:00.000Z',
  };
}

const hub = record(['docker.io/library/busybox:latest'], 'hub');
const local = record(['127.0.0.1:5000/skiff/probe:oci'], 'local');
const layout = record(['oci:/srv/layout:img', 'oci-archive:/srv/probe.tar:img', 'docker-archive:/srv/save.tar:skiff/probe:1'], 'layout');
const pinned = record(['127.0.0.1:5000/skiff/pinned@' + sha256(Buffer.from('manifest pinned'))], 'pinned');
const images = [hub, local, layout, pinned];

test('a registry image is found by every form fetch takes: docker://, bare name, docker.io defaults', (t) => {
  for (const q of ['docker://127.0.0.1:5000/skiff/probe:oci', '127.0.0.1:5000/skiff/probe:oci']) t.is(findImage(images, q).id, local.id, q);
  for (const q of [
    'busybox',
    'busybox:latest',
    'library/busybox',
    'docker.io/busybox',
    'docker.io/library/busybox:latest',
    'index.docker.io/library/busybox',
    'docker://busybox',
    'docker://docker.io/library/busybox:latest',
  ]) {
    t.is(findImage(images, q).id, hub.id, q);
  }
});

test('the name it was asked by comes first (default app names and messages use it)', (t) => {
  const two = record(['127.0.0.1:5000/a:1', '127.0.0.1:5000/b:2'], 'two');
  t.deepEqual(findImage([two], 'docker://127.0.0.1:5000/b:2').names, ['127.0.0.1:5000/b:2', '127.0.0.1:5000/a:1']);
});

test('name@digest: the image recorded by digest, or an image of that repository whose manifest has the digest', (t) => {
  t.is(findImage(images, `docker://127.0.0.1:5000/skiff/probe@${local.manifestDigest}`).id, local.id);
  t.is(findImage(images, `127.0.0.1:5000/skiff/probe:oci@${local.manifestDigest}`).id, local.id);
  t.is(findImage(images, pinned.names[0]!).id, pinned.id);
  t.is(findImage(images, `docker://${pinned.names[0]!}`).id, pinned.id);
  // The same digest under another repository is not that image.
  t.is(lookupImage(images, `127.0.0.1:5000/other/repo@${local.manifestDigest}`), undefined);
});

test('oci:, oci-archive: and docker-archive: references', (t) => {
  for (const q of layout.names) t.is(findImage(images, q).id, layout.id, q);
  t.is(lookupImage(images, 'oci:/srv/layout:other'), undefined);
});

test('an ID, with or without sha256:, and a unique prefix of at least 4 hex digits', (t) => {
  for (const q of [local.id, local.id.slice(7), local.id.slice(0, 19), local.id.slice(7, 11)]) t.is(findImage(images, q).id, local.id, q);
  t.is(lookupImage(images, local.id.slice(7, 10)), undefined, 'three digits are a name, not a prefix');
});

test('an ID prefix two images share is ambiguous, and says which images', (t) => {
  const a = record(['127.0.0.1:5000/a:1'], 'a', `sha256:abcd1${'0'.repeat(59)}`);
  const b = record(['127.0.0.1:5000/b:1'], 'b', `sha256:abcd2${'0'.repeat(59)}`);
  const err = t.throws(() => findImage([a, b], 'abcd'));
  t.true(err instanceof ImageError);
  t.regex(err?.message ?? '', /ID prefix abcd is ambiguous: it matches 2 images \(abcd10000000, abcd20000000\)/);
  t.is(findImage([a, b], 'abcd1').id, a.id);
  // A name wins over an ID prefix (docker's order).
  const named = record(['docker.io/library/abcd:latest'], 'named');
  t.is(findImage([a, b, named], 'abcd').id, named.id);
});

test('a name not in the store: NotFoundError naming what was typed and what it stands for', (t) => {
  const err = t.throws(() => findImage(images, 'docker://127.0.0.1:5000/skiff/none:1'));
  t.true(err instanceof NotFoundError);
  t.is(err?.message, 'no image docker://127.0.0.1:5000/skiff/none:1 (127.0.0.1:5000/skiff/none:1) in the store');
  const bare = t.throws(() => findImage(images, 'alpine'));
  t.is(bare?.message, 'no image alpine (docker.io/library/alpine:latest) in the store');
});

test('an argument that is neither a reference nor an ID is a usage error saying why', (t) => {
  const err = t.throws(() => findImage(images, 'Upper/Case'));
  t.true(err instanceof UsageError);
  t.regex(err?.message ?? '', /invalid image reference "Upper\/Case"/);
});

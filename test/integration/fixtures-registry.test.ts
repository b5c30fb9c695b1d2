/**
 * Proves the harness end to end: a real registry, the fixture images pushed in
 * all three shapes, every manifest and blob served back with the digest it was
 * pushed under, an OCI layout on disk, and nothing left afterwards.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { DOCKER_MANIFEST, MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST } from '../../image/media-types.js';
import { fixtureImages, publishFixtures, writeFixtureLayout } from '../support/fixture-images.js';
import { sha256, type Blob } from '../support/oci-image.js';
import { startRegistry, type RegistryServer } from '../support/registry-server.js';
import { tempDir } from '../support/temp-dir.js';

async function get(registry: RegistryServer, path: string, accept?: string) {
  const res = await request(`${registry.url}${path}`, {
    headers: { ...registry.authHeader(), ...(accept === undefined ? {} : { accept }) },
    dispatcher: registry.dispatcher,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

test('fixtures are pushed as OCI, Docker v2s2 and an index, and every digest checks out', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  const published = await publishFixtures(registry);
  t.is(published.refs.oci, `docker://${registry.host}/skiff/probe:oci`);

  const cases: Array<[string, Blob, string]> = [
    ['oci', published.oci.manifest, OCI_MANIFEST],
    ['v2s2', published.docker.manifest, DOCKER_MANIFEST],
    ['multi', published.index.blob, OCI_INDEX],
  ];
  for (const [tag, manifest, mediaType] of cases) {
    const res = await get(registry, `/v2/skiff/probe/manifests/${tag}`, MANIFEST_ACCEPT);
    t.is(res.status, 200, `${tag}: ${res.body.toString()}`);
    t.is(res.headers['content-type'], mediaType);
    t.is(res.headers['docker-content-digest'], manifest.digest);
    t.is(sha256(res.body), manifest.digest, `${tag} manifest bytes hash to its digest`);
  }

  const index = JSON.parse((await get(registry, '/v2/skiff/probe/manifests/multi', MANIFEST_ACCEPT)).body.toString()) as {
    manifests: Array<{ digest: string; platform: { architecture: string } }>;
  };
  t.deepEqual(
    index.manifests.map((m) => m.platform.architecture),
    ['amd64', 'arm64'],
  );
  for (const image of [published.oci, published.docker, ...published.index.images]) {
    for (const blob of image.blobs) {
      const res = await get(registry, `/v2/skiff/probe/blobs/${blob.digest}`);
      t.is(res.status, 200);
      t.is(sha256(res.body), blob.digest);
      t.is(res.body.length, blob.size);
    }
  }

  // The layer is a real rootfs: busybox, the probe, the platform marker.
  const config = JSON.parse(published.oci.config.data.toString()) as { rootfs: { diff_ids: string[] }; config: { Cmd: string[] } };
  t.deepEqual(config.config.Cmd, ['/probe', 'info']);
  t.is(config.rootfs.diff_ids.length, 1);

  const pid = registry.pid;
  await registry.stop();
  t.false(existsSync(registry.storageDir), 'storage removed');
  t.throws(() => process.kill(pid, 0), undefined, 'registry process gone');
});

test('a v2s2 tag asked for without the v2s2 Accept is down-converted to schema 1 (why Skiff always sends both)', async (t) => {
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  await publishFixtures(registry);
  const res = await get(registry, '/v2/skiff/probe/manifests/v2s2', OCI_MANIFEST);
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /manifest\.v1\+prettyjws/);
});

test('the OCI layout dir holds every blob under its digest and names refs in index.json', async (t) => {
  const dir = tempDir(t);
  await writeFixtureLayout(join(dir, 'layout'));
  const layout = join(dir, 'layout');
  t.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }>;
  };
  t.deepEqual(
    index.manifests.map((m) => [m.annotations['org.opencontainers.image.ref.name'], m.mediaType]),
    [
      ['oci', OCI_MANIFEST],
      ['multi', OCI_INDEX],
    ],
  );
  const images = await fixtureImages();
  for (const blob of [images.oci.manifest, images.index.blob, ...images.oci.blobs, ...images.index.images.flatMap((i) => i.blobs)]) {
    const path = join(layout, 'blobs', 'sha256', blob.digest.slice('sha256:'.length));
    t.is(sha256(readFileSync(path)), blob.digest);
  }
});

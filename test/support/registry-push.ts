/**
 * Pushes built images to a test registry over the Distribution HTTP API v2:
 * blobs by monolithic upload (POST, then PUT with ?digest=), skipping blobs the
 * registry already has, then manifests and indexes by tag.
 */
import { request, type Dispatcher } from 'undici';
import type { Blob, BuiltImage } from './oci-image.js';

/** What pushing needs of a registry; RegistryServer fits it. */
export interface RegistryTarget {
  url: string;
  dispatcher: Dispatcher;
  authHeader(): Record<string, string>;
}

async function expectStatus(res: Dispatcher.ResponseData, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.statusCode)) {
    await res.body.dump();
    return;
  }
  const body = await res.body.text();
  throw new Error(`${what}: HTTP ${res.statusCode} ${body.slice(0, 300)}`);
}

async function pushBlob(registry: RegistryTarget, repo: string, blob: Blob): Promise<void> {
  const headers = registry.authHeader();
  const head = await request(`${registry.url}/v2/${repo}/blobs/${blob.digest}`, {
    method: 'HEAD',
    headers,
    dispatcher: registry.dispatcher,
  });
  await head.body.dump();
  if (head.statusCode === 200) return;

  const start = await request(`${registry.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers,
    dispatcher: registry.dispatcher,
  });
  const location = start.headers['location'];
  await expectStatus(start, [202], `start upload of ${blob.digest} to ${repo}`);
  if (typeof location !== 'string') throw new Error(`registry gave no upload location for ${repo}`);
  const uploadUrl = new URL(location, registry.url);
  uploadUrl.searchParams.set('digest', blob.digest);
  const put = await request(uploadUrl, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: blob.data,
    dispatcher: registry.dispatcher,
  });
  await expectStatus(put, [201], `upload of ${blob.digest} to ${repo}`);
}

async function pushManifest(registry: RegistryTarget, repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await request(`${registry.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...registry.authHeader(), 'content-type': manifest.mediaType },
    body: manifest.data,
    dispatcher: registry.dispatcher,
  });
  await expectStatus(res, [201], `push of manifest ${repo}:${reference}`);
}

/** Pushes an image's blobs, then its manifest under `tag` (and by digest). */
export async function pushImage(registry: RegistryTarget, repo: string, tag: string, image: BuiltImage): Promise<void> {
  for (const blob of image.blobs) await pushBlob(registry, repo, blob);
  await pushManifest(registry, repo, tag, image.manifest);
}

/** Pushes every image of an index by digest, then the index under `tag`. */
export async function pushIndex(registry: RegistryTarget, repo: string, tag: string, index: Blob, images: BuiltImage[]): Promise<void> {
  for (const image of images) {
    for (const blob of image.blobs) await pushBlob(registry, repo, blob);
    await pushManifest(registry, repo, image.manifest.digest, image.manifest);
  }
  await pushManifest(registry, repo, tag, index);
}

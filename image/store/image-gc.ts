/**
 * Removing images, and sweeping the blobs and layers no image refers to
 * (layers by diffID, and by chainID where a record keys them so).
 *
 * Removal never touches what a pod (in any state) or another image still
 * uses: an image used by a pod is refused (rm) or kept (gc), and a layer or
 * blob shared with another image stays. The sweep runs under gc.lock taken
 * exclusively, which waits for running fetches (they hold it shared), so a
 * blob stored by a fetch that has not recorded its image yet is never swept.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidStateError } from '../../runtime/errors.js';
import { SHA256_DIGEST } from '../digest.js';
import { removeBlob } from './blob-store.js';
import { withGcLock } from './gc-lock.js';
import { findImage } from './find-image.js';
import { readImageRecords, updateImageIndex, withLastUse, type ImageRecord } from './image-index.js';
import { imagesInUse } from './images-in-use.js';
import { removeLayer } from './layer-store.js';
import { sweepDeadScratch } from './scratch-dir.js';
import { chainLayerPath, layerPath, listStoreDir, type StorePaths } from './store-paths.js';

export interface SweepResult {
  blobs: number;
  layers: number;
}

/** Removes the `sha256:<name>` digests in `dir` that `keep` lacks; returns how many. */
function sweepDigests(dir: string, keep: Set<string>, remove: (digest: string) => void): number {
  let removed = 0;
  for (const hex of listStoreDir(dir)) {
    const digest = `sha256:${hex}`;
    if (!keep.has(digest) && SHA256_DIGEST.test(digest)) {
      remove(digest);
      removed++;
    }
  }
  return removed;
}

/** Removes blobs and layers that no recorded image refers to. Caller holds gc.lock. */
function sweep(paths: StorePaths): SweepResult {
  const images = readImageRecords(paths);
  const blobs = new Set<string>();
  const layers = new Set<string>();
  const chains = new Set<string>();
  for (const image of images) {
    blobs.add(image.manifestDigest).add(image.configDigest);
    for (const layer of image.layers) {
      blobs.add(layer.digest);
      // A layer is kept under the key its record names (layer-store.ts): diffID, or chainID.
      if (layer.chainId === undefined) layers.add(layer.diffId);
      else chains.add(layer.chainId);
    }
  }
  const result = {
    blobs: sweepDigests(paths.blobs, blobs, (digest) => removeBlob(paths, digest)),
    layers:
      sweepDigests(paths.layers, layers, (diffId) => removeLayer(paths, layerPath(paths, diffId))) +
      sweepDigests(paths.chains, chains, (chainId) => removeLayer(paths, chainLayerPath(paths, chainId))),
  };
  const ids = new Set(images.map((i) => i.id.replace(/^sha256:/, '')));
  for (const hex of listStoreDir(paths.lastUsed)) {
    if (!ids.has(hex)) rmSync(join(paths.lastUsed, hex), { force: true });
  }
  sweepDeadScratch(paths);
  return result;
}

/** `image rm`: removes each named image; refuses images a pod uses. */
export async function removeImages(paths: StorePaths, queries: string[]): Promise<{ removed: ImageRecord[]; sweep: SweepResult }> {
  return withGcLock(paths, 'exclusive', async () => {
    const removed = await updateImageIndex(paths, (images) => {
      const inUse = imagesInUse(paths);
      const doomed = queries.map((q) => findImage(images, q));
      for (const image of doomed) {
        const pods = inUse.get(image.id);
        if (pods !== undefined) {
          throw new InvalidStateError(`image ${image.names[0] ?? image.id} is used by pod ${pods.join(', ')}`, {
            input: image.id,
            hint: "remove the pod first with 'skiff rm', or let 'skiff gc' collect it",
          });
        }
      }
      const ids = new Set(doomed.map((i) => i.id));
      const kept = images.filter((i) => !ids.has(i.id));
      images.splice(0, images.length, ...kept);
      return [...new Map(doomed.map((i) => [i.id, i])).values()];
    });
    return { removed, sweep: sweep(paths) };
  });
}

/** `image gc`: removes images unused for longer than the grace period (and not used by any pod). */
export async function collectImages(
  paths: StorePaths,
  gracePeriodMs: number,
  now: Date = new Date(),
): Promise<{ removed: ImageRecord[]; sweep: SweepResult }> {
  return withGcLock(paths, 'exclusive', async () => {
    const removed = await updateImageIndex(paths, (images) => {
      const inUse = imagesInUse(paths);
      const cutoff = now.getTime() - gracePeriodMs;
      const doomed = images.filter((i) => !inUse.has(i.id) && Date.parse(withLastUse(paths, i).lastUsed) < cutoff);
      images.splice(0, images.length, ...images.filter((i) => !doomed.includes(i)));
      return doomed;
    });
    return { removed, sweep: sweep(paths) };
  });
}

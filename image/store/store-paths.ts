/**
 * The image store's layout under `--dir` (DESIGN.md, "Image store"):
 *
 *   blobs/sha256/<hex>      content-addressed blobs, always whole and verified
 *   layers/sha256/<hex>/    each layer unpacked once per diffID, in overlayfs form
 *   layers/chains/<hex>/    a layer whose hardlinks reach into the layers below it,
 *                           unpacked once per chainID (layer-store.ts)
 *   images/index.json       image records: names, manifest, layers, import/last-used times
 *   images/last-used/<hex>  an image's last use since it was recorded (the file's mtime)
 *   tmp/<pid>-<rand>/       a writer's scratch space; renamed into place when verified
 *   store.lock              flock'd (exclusive) while the image index is changed
 *   gc.lock                 fetches hold it shared for their whole run; gc and rm take it
 *                           exclusive to sweep, so they never delete a blob a fetch has
 *                           stored but not yet recorded
 *
 * layers/ and tmp/ are root-only (0700, private-dirs.ts): layer trees keep
 * the images' device nodes and modes.
 *
 * Everything visible outside tmp/ got there by rename, so a crash (kill -9)
 * at any moment leaves only whole blobs and layers, and tmp/ leftovers that
 * the next writer removes once their process is gone.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError } from '../../runtime/errors.js';
import { SHA256_DIGEST } from '../digest.js';

export interface StorePaths {
  root: string;
  blobs: string;
  layers: string;
  /** Layers keyed by chainID (layer-store.ts). */
  chains: string;
  images: string;
  index: string;
  lastUsed: string;
  tmp: string;
  lock: string;
  gcLock: string;
  pods: string;
}

export function storePaths(dir: string): StorePaths {
  return {
    root: dir,
    blobs: join(dir, 'blobs', 'sha256'),
    layers: join(dir, 'layers', 'sha256'),
    chains: join(dir, 'layers', 'chains'),
    images: join(dir, 'images'),
    index: join(dir, 'images', 'index.json'),
    lastUsed: join(dir, 'images', 'last-used'),
    tmp: join(dir, 'tmp'),
    lock: join(dir, 'store.lock'),
    gcLock: join(dir, 'gc.lock'),
    pods: join(dir, 'pods'),
  };
}

/** The hex of a sha256 digest; anything else is refused before it becomes a path. */
export function digestHex(digest: string, what = 'digest'): string {
  const m = SHA256_DIGEST.exec(digest);
  if (m === null || m[1] === undefined) {
    throw new ImageError(`unsupported ${what} ${JSON.stringify(digest)}: expected sha256:<64 hex digits>`, {
      input: digest,
    });
  }
  return m[1];
}

export function blobPath(paths: StorePaths, digest: string): string {
  return join(paths.blobs, digestHex(digest));
}

export function layerPath(paths: StorePaths, diffId: string): string {
  return join(paths.layers, digestHex(diffId, 'diffID'));
}

export function hasLayer(paths: StorePaths, diffId: string): boolean {
  return existsSync(layerPath(paths, diffId));
}

export function chainLayerPath(paths: StorePaths, chainId: string): string {
  return join(paths.chains, digestHex(chainId, 'chainID'));
}

/** The dir of a recorded layer: by chainID when the record says so, else by diffID. */
export function storedLayerPath(paths: StorePaths, layer: { diffId: string; chainId?: string | undefined }): string {
  return layer.chainId === undefined ? layerPath(paths, layer.diffId) : chainLayerPath(paths, layer.chainId);
}

/** The names in a store dir; none if it does not exist (yet). */
export function listStoreDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Unpacked layers, one per diffID, shared by every image that has it.
 *
 * A layer is unpacked from its stored (verified) blob into a scratch dir while
 * the uncompressed stream is hashed; only when that hash equals the diffID the
 * image config names is the dir renamed to layers/sha256/<diffID>. A layer dir
 * is therefore always complete (syncfs before the rename: also after a power
 * loss), and a second process unpacking the same layer
 * at the same time loses the rename race harmlessly.
 */
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { syncTree } from '../../native/syncfs.js';
import { fsyncDir } from '../../runtime/atomic-file.js';
import { VerifyError } from '../../runtime/errors.js';
import { applyLayer, type ApplyOptions, type ApplyResult } from '../applier/index.js';
import { decompressedLayerStream } from '../applier/decompress.js';
import { DigestingStream } from './blob-store.js';
import { ensurePrivateDirs } from './private-dirs.js';
import { makeScratchDir } from './scratch-dir.js';
import { blobPath, layerPath, type StorePaths } from './store-paths.js';

export interface LayerRef {
  /** The stored (possibly compressed) blob. */
  digest: string;
  mediaType: string;
  /** The digest of the uncompressed tar, from the image config's rootfs.diff_ids. */
  diffId: string;
}

/**
 * Applies a layer blob's bytes (compressed as `layer.mediaType` says) onto
 * `target` while hashing the uncompressed tar, and refuses the layer when that
 * hash is not its diffID. The hash is known only at the end of the stream, so
 * `target` is trusted only once this returns; `describe` names the layer in
 * errors ('layer sha256:… of docker://…').
 */
export async function applyVerifiedLayer(
  blob: NodeJS.ReadableStream,
  layer: LayerRef,
  target: string,
  options: Pick<ApplyOptions, 'mode' | 'devices' | 'maxBytes' | 'maxBytesHint' | 'spaceOf'> & { describe: string },
): Promise<ApplyResult> {
  const hashing = new DigestingStream(Number.MAX_SAFE_INTEGER, `layer ${layer.digest}`);
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  const feeding = pipeline(decompressedLayerStream(blob, layer.mediaType), hashing, tar);
  // applyLayer reads the stream to its end (padding after the end blocks included, which the
  // diffID covers); on failure it stops reading, so the feed is torn down.
  const applying = applyLayer(tar, target, options).catch((err: unknown) => {
    tar.destroy();
    throw err;
  });
  const [result] = await Promise.all([applying, feeding]);
  const diffId = hashing.digest();
  if (diffId !== layer.diffId) {
    throw new VerifyError(`${options.describe} does not unpack to the diffID its image config names`, layer.diffId, diffId, {
      input: layer.digest,
      hint: 'the image is corrupt; rebuild or re-push it',
    });
  }
  return result;
}

function countingReader(path: string, onProgress: ((bytes: number) => void) | undefined): NodeJS.ReadableStream {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  if (onProgress !== undefined) {
    let bytes = 0;
    stream.on('data', (chunk: Buffer | string) => onProgress((bytes += chunk.length)));
  }
  return stream;
}

export interface UnpackOptions {
  onProgress?: (storedBytes: number) => void;
  /** The cap on the layer's unpacked size (SKIFF_MAX_LAYER_SIZE); default the applier's 64 GiB. */
  maxLayerBytes?: number;
}

/** What to do about a layer over the cap: where the cap is set. */
export const LAYER_SIZE_HINT =
  'a decompression bomb, or a layer bigger than this host allows: nothing of it was kept; if you trust the image, raise SKIFF_MAX_LAYER_SIZE (e.g. SKIFF_MAX_LAYER_SIZE=128G) and fetch again';

/**
 * Unpacks a stored layer blob to layers/sha256/<diffID>; `from` names the
 * image for errors. A layer already there (unpacked by another process in the
 * meantime) is kept. A refused layer (too big, no room, corrupt) leaves
 * nothing: its scratch dir is removed.
 */
export async function unpackLayer(paths: StorePaths, layer: LayerRef, from: string, options: UnpackOptions = {}): Promise<void> {
  const target = layerPath(paths, layer.diffId);
  const scratch = makeScratchDir(paths, 'layer');
  const tree = join(scratch, 'tree');
  mkdirSync(tree, { mode: 0o755 });
  try {
    await applyVerifiedLayer(countingReader(blobPath(paths, layer.digest), options.onProgress), layer, tree, {
      describe: `layer ${layer.digest} of ${from}`,
      ...(options.maxLayerBytes === undefined ? {} : { maxBytes: options.maxLayerBytes }),
      maxBytesHint: LAYER_SIZE_HINT,
      spaceOf: paths.root,
    });
    // layers/ is root-only (private-dirs.ts); sha256/ below it may keep the usual mode.
    ensurePrivateDirs(paths);
    mkdirSync(paths.layers, { recursive: true, mode: 0o755 });
    syncTree(tree);
    try {
      renameSync(tree, target);
    } catch (err) {
      // Another process finished the same layer first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(target)) throw err;
    }
    fsyncDir(paths.layers);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function removeLayer(paths: StorePaths, diffId: string): void {
  const target = layerPath(paths, diffId);
  if (!existsSync(target)) return;
  // Rename first so a half-removed layer is never visible under its diffID.
  const doomed = join(makeScratchDir(paths, 'rm'), 'tree');
  renameSync(target, doomed);
  rmSync(join(doomed, '..'), { recursive: true, force: true });
}

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
import { applyLayer, type ApplyResult } from '../applier/index.js';
import { decompressedLayerStream } from '../applier/decompress.js';
import { DigestingStream } from './blob-store.js';
import { makeScratchDir } from './scratch-dir.js';
import { blobPath, layerPath, type StorePaths } from './store-paths.js';

export interface LayerRef {
  /** The stored (possibly compressed) blob. */
  digest: string;
  mediaType: string;
  /** The digest of the uncompressed tar, from the image config's rootfs.diff_ids. */
  diffId: string;
}

function countingReader(path: string, onProgress: ((bytes: number) => void) | undefined): NodeJS.ReadableStream {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  if (onProgress !== undefined) {
    let bytes = 0;
    stream.on('data', (chunk: Buffer | string) => onProgress((bytes += chunk.length)));
  }
  return stream;
}

/** Upper bound for an uncompressed layer (a tar bomb guard); generous for real images. */
export const MAX_LAYER_BYTES = 64 * 1024 ** 3;

export async function unpackLayer(
  paths: StorePaths,
  layer: LayerRef,
  from: string,
  options: { allowDevices?: boolean; maxBytes?: number; onProgress?: (storedBytes: number) => void } = {},
): Promise<ApplyResult | null> {
  const target = layerPath(paths, layer.diffId);
  if (existsSync(target)) return null;
  const scratch = makeScratchDir(paths, 'layer');
  const tree = join(scratch, 'tree');
  mkdirSync(tree, { mode: 0o755 });
  try {
    const hashing = new DigestingStream(Number.MAX_SAFE_INTEGER, `layer ${layer.digest}`);
    const tar = new PassThrough({ highWaterMark: 1 << 20 });
    const feeding = pipeline(
      decompressedLayerStream(countingReader(blobPath(paths, layer.digest), options.onProgress), layer.mediaType),
      hashing,
      tar,
    );
    const applying = applyLayer(tar, tree, {
      describe: `layer ${layer.digest} of ${from}`,
      allowDevices: options.allowDevices ?? true,
      maxBytes: options.maxBytes ?? MAX_LAYER_BYTES,
    }).then(
      (r) => {
        // The diffID covers the whole stream, padding after the end blocks included.
        tar.resume();
        return r;
      },
      (err: unknown) => {
        tar.destroy();
        throw err;
      },
    );
    const [result] = await Promise.all([applying, feeding]);
    const actual = hashing.digest();
    if (actual !== layer.diffId) {
      throw new VerifyError(
        `layer ${layer.digest} from ${from} does not unpack to the diffID its image config names; nothing was stored`,
        layer.diffId,
        actual,
        { input: layer.digest, hint: 'the image is corrupt; rebuild or re-push it' },
      );
    }
    mkdirSync(paths.layers, { recursive: true });
    syncTree(tree);
    try {
      renameSync(tree, target);
    } catch (err) {
      // Another process finished the same layer first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(target)) throw err;
    }
    fsyncDir(paths.layers);
    return result;
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

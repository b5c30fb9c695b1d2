/**
 * Unpacked layers, one per diffID, shared by every image that has it; or one
 * per chainID for a layer that hardlinks files of the layers below it.
 *
 * A layer is unpacked from its stored (verified) blob into a scratch dir while
 * the uncompressed stream is hashed; only when that hash equals the diffID the
 * image config names is the dir renamed into place. A layer dir is therefore
 * always complete (syncfs before the rename: also after a power loss), and a
 * second process unpacking the same layer at the same time loses the rename
 * race harmlessly.
 *
 * Keys (issue 11: hardlinks to lower layers). A layer tar may hardlink a file
 * it does not hold; the applier copies that file up from the image's lower
 * layers (image/applier/lower-layers.ts). Such a layer's unpacked form is no
 * longer a function of its diffID: the same diffID over other parents gives
 * other content. Two ways to key it were weighed:
 * - every layer by chainID, as containerd keys its snapshots: one rule,
 *   but a layer is then shared only by images with the same layers below
 *   it (an app layer pushed over two bases is unpacked twice), and every
 *   store made so far, keyed by diffID, would need migrating;
 * - by diffID, and by chainID only for the layers that need it. Chosen:
 *   whether a layer hardlinks outside itself is a property of its tar alone
 *   (a target is in the layer at that point of the archive or not), so a
 *   given diffID is always one kind or always the other; layers without such
 *   links (nearly all) stay shared across images as before, existing stores
 *   stay valid, and only the rare copy-up layer is kept per chain, under
 *   layers/chains/<chainID>/. The image record says which (ImageLayerRecord
 *   .chainId), so pods, gc and rm find it without guessing.
 * A layer is unpacked before it is known which kind it is: the applier
 * reports whether it copied anything up, and the verified tree is renamed to
 * the matching key. Crash and concurrency guarantees are the diffID dirs'
 * (scratch dir, syncfs, rename; fetches hold gc.lock shared, so gc and rm,
 * which sweep both kinds under it exclusive, never remove what a fetch is
 * unpacking or reading as a lower layer). Lower layers are read-only inputs:
 * the copy-up reads them and never writes there.
 */
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { syncTree } from '../../native/bindings/syncfs.js';
import { fsyncDir } from '../../runtime/atomic-file.js';
import { VerifyError } from '../../runtime/errors.js';
import { applyLayer, LowersPending, type ApplyOptions, type ApplyResult } from '../applier/index.js';
import { decoderDigest, decompressedLayerStream } from '../applier/decompress.js';
import { DigestingStream } from './blob-store.js';
import { BackgroundWriteback } from './background-writeback.js';
import { ensurePrivateDirs } from './private-dirs.js';
import { makeScratchDir } from './scratch-dir.js';
import { blobPath, chainLayerPath, layerPath, type StorePaths } from './store-paths.js';
import { STREAM_CHUNK } from '../stream-chunk.js';

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
  options: Pick<ApplyOptions, 'mode' | 'devices' | 'maxBytes' | 'maxBytesHint' | 'spaceOf' | 'lowerDirs'> & { describe: string },
): Promise<ApplyResult> {
  const decoded = decompressedLayerStream(blob, layer.mediaType);
  // ISA-L's shim hashes the tar on its worker thread; other decoders' output is hashed here.
  const decoderHash = decoderDigest(decoded);
  const hashing = decoderHash === undefined ? new DigestingStream(Number.MAX_SAFE_INTEGER, `layer ${layer.digest}`) : undefined;
  const tar = new PassThrough({ highWaterMark: STREAM_CHUNK });
  let pending = false;
  // Stopped for the lower layers (LowersPending): the torn-down feed's own error is not the news.
  const feeding = pipeline([decoded, ...(hashing === undefined ? [] : [hashing]), tar]).catch((err: unknown) => {
    if (!pending) throw err;
  });
  // applyLayer reads the stream to its end (padding after the end blocks included, which the
  // diffID covers); on failure it stops reading, so the feed is torn down.
  const applying = applyLayer(tar, target, options).catch((err: unknown) => {
    pending = err instanceof LowersPending;
    tar.destroy();
    throw err;
  });
  const [result] = await Promise.all([applying, feeding]);
  const diffId = hashing?.digest() ?? decoderHash?.() ?? 'sha256:(not computed)';
  if (diffId !== layer.diffId) {
    throw new VerifyError(`${options.describe} does not unpack to the diffID its image config names`, layer.diffId, diffId, {
      input: layer.digest,
      hint: 'the image is corrupt; rebuild or re-push it',
    });
  }
  return result;
}

function countingReader(path: string, onProgress: ((bytes: number) => void) | undefined): NodeJS.ReadableStream {
  const stream = createReadStream(path, { highWaterMark: STREAM_CHUNK });
  if (onProgress !== undefined) {
    let bytes = 0;
    stream.on('data', (chunk: Buffer | string) => onProgress((bytes += chunk.length)));
  }
  return stream;
}

/** The layers of the same image below the one being unpacked, as the applier's copy-up reads them. */
export interface LowerLayers {
  /** The layer's chainID: its key if it turns out to hardlink into the layers below. */
  chainId: string;
  /** Their dirs, top-most first, once all are unpacked; undefined before. */
  ready(): readonly string[] | undefined;
  /** Resolves when all are unpacked (rejects if one fails). */
  settled(): Promise<unknown>;
}

export interface UnpackOptions {
  onProgress?: (storedBytes: number) => void;
  /** The cap on the layer's unpacked size (SKIFF_MAX_LAYER_SIZE); default the applier's 64 GiB. */
  maxLayerBytes?: number;
  /** Not for an image's bottom layer: the layers below this one. */
  lowers?: LowerLayers;
}

export interface UnpackedLayer {
  dir: string;
  /** Stored under its chainID (it copied files up from the layers below). */
  chained: boolean;
}

/** What to do about a layer over the cap: where the cap is set. */
export const LAYER_SIZE_HINT =
  'a decompression bomb, or a layer bigger than this host allows: nothing of it was kept; if you trust the image, raise SKIFF_MAX_LAYER_SIZE (e.g. SKIFF_MAX_LAYER_SIZE=128G) and fetch again';

/**
 * Unpacks a stored layer blob to layers/sha256/<diffID>, or to
 * layers/chains/<chainID> when it hardlinks files of its lower layers; `from`
 * names the image for errors. A layer already there (unpacked by another
 * process in the meantime) is kept. A refused layer (too big, no room,
 * corrupt) leaves nothing: its scratch dir is removed. A layer that needs
 * its lower layers before they are all unpacked is applied again once they
 * are (lower-layers.ts).
 */
export async function unpackLayer(paths: StorePaths, layer: LayerRef, from: string, options: UnpackOptions = {}): Promise<UnpackedLayer> {
  for (;;) {
    const done = await unpackOnce(paths, layer, from, options, countingReader(blobPath(paths, layer.digest), options.onProgress));
    if (done !== undefined) return done;
    await options.lowers!.settled();
  }
}

/**
 * One try at unpacking a layer from `blob` (its stored file, or its download:
 * streamed-layer.ts); undefined when it stopped for the lower layers.
 * `beforeCommit` runs once the tree is verified and before it is made durable
 * and visible: a download stores its blob there, so a layer is never in place
 * before the blob it came from was checked.
 */
export async function unpackOnce(
  paths: StorePaths,
  layer: LayerRef,
  from: string,
  options: UnpackOptions & { beforeCommit?: () => Promise<void> },
  blob: NodeJS.ReadableStream,
): Promise<UnpackedLayer | undefined> {
  const scratch = makeScratchDir(paths, 'layer');
  const tree = join(scratch, 'tree');
  mkdirSync(tree, { mode: 0o755 });
  try {
    // The disk writes while the layer unpacks; the syncfs before the rename below is still the barrier.
    const writeback = new BackgroundWriteback(scratch);
    let result: ApplyResult;
    try {
      result = await applyVerifiedLayer(blob, layer, tree, {
        describe: `layer ${layer.digest} of ${from}`,
        ...(options.maxLayerBytes === undefined ? {} : { maxBytes: options.maxLayerBytes }),
        maxBytesHint: LAYER_SIZE_HINT,
        spaceOf: paths.root,
        ...(options.lowers === undefined ? {} : { lowerDirs: options.lowers.ready }),
      });
    } catch (err) {
      if (err instanceof LowersPending) return undefined;
      throw err;
    } finally {
      await writeback.stop();
    }
    await options.beforeCommit?.();
    const chained = result.copiedUp > 0 && options.lowers !== undefined;
    const target = chained ? chainLayerPath(paths, options.lowers!.chainId) : layerPath(paths, layer.diffId);
    const parent = chained ? paths.chains : paths.layers;
    // layers/ is root-only (private-dirs.ts); sha256/ and chains/ below it may keep the usual mode.
    ensurePrivateDirs(paths);
    mkdirSync(parent, { recursive: true, mode: 0o755 });
    syncTree(tree);
    try {
      renameSync(tree, target);
    } catch (err) {
      // Another process finished the same layer first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(target)) throw err;
    }
    fsyncDir(parent);
    return { dir: target, chained };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Removes a layer dir (layerPath() or chainLayerPath()). */
export function removeLayer(paths: StorePaths, target: string): void {
  if (!existsSync(target)) return;
  // Rename first so a half-removed layer is never visible under its diffID.
  const doomed = join(makeScratchDir(paths, 'rm'), 'tree');
  renameSync(target, doomed);
  rmSync(join(doomed, '..'), { recursive: true, force: true });
}

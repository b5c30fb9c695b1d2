/**
 * A stored image rendered into one dir: its layers applied bottom to top in
 * render mode (image/applier, render-whiteouts.ts), the flattened rootfs that
 * `skiff image extract` writes and `--no-overlay` pods run on.
 *
 * Each layer is read from its stored blob (the unpacked layers/ dirs are in
 * overlay form: their whiteouts are devices), through decompressedLayerStream,
 * while two hashes are taken: of the stored bytes, which must still be the
 * layer's digest (a blob is verified when stored, but the file may have been
 * changed since), and of the uncompressed tar, which must be the diffID the
 * image config names. Both are known only when the stream ends, after the
 * layer was applied; so a render is trusted only once it returns, and the
 * callers render into a dir they discard on failure.
 *
 * extractImage(), in this order:
 * 1. DIR is checked: absent, an empty dir, or (--overwrite) anything;
 * 2. gc.lock is held shared, as fetches hold it, so `image rm`/`image gc`
 *    cannot remove the blobs being read;
 * 3. the image is rendered into a temp dir next to DIR (same filesystem),
 *    with manifest.json and config.json beside rootfs/ unless rootfs-only,
 *    and the filesystem is synced;
 * 4. the temp dir is renamed to DIR (over an empty DIR in one step; an
 *    existing DIR is first renamed aside and removed afterwards), so DIR is
 *    at every moment either whole or absent, and a failure leaves it as it
 *    was. Trees are removed without following their symlinks (removeTreeAt).
 */
import { createHash } from 'node:crypto';
import { createReadStream, chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, pipeline as connect } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lockPath } from '../native/flock.js';
import { syncTree } from '../native/syncfs.js';
import { fsyncDir } from '../runtime/atomic-file.js';
import { ImageError, VerifyError } from '../runtime/errors.js';
import { applyLayer, removeTreeAt } from './applier/index.js';
import { decompressedLayerStream } from './applier/decompress.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { DigestingStream, readBlob } from './store/blob-store.js';
import type { ImageLayerRecord, ImageRecord } from './store/image-index.js';
import { MAX_LAYER_BYTES } from './store/layer-store.js';
import { blobPath, type StorePaths } from './store/store-paths.js';
import { sha256Digest } from './source.js';


const nameOf = (record: ImageRecord): string => record.names[0] ?? record.id;

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

function changedBlob(layer: ImageLayerRecord, where: string, actual: string, cause?: unknown): VerifyError {
  return new VerifyError(`the stored blob of layer ${layer.digest} of ${where} was changed since it was fetched`, layer.digest, actual, {
    input: layer.digest,
    hint: `remove the image and fetch it again ('skiff image rm ${where}', 'skiff fetch ${where}')`,
    cause,
  });
}

/** One layer from its stored blob onto `target`, both digests checked. */
async function renderLayer(paths: StorePaths, layer: ImageLayerRecord, where: string, target: string): Promise<void> {
  const blob = blobPath(paths, layer.digest);
  const stored = new DigestingStream(layer.size, `the stored blob of layer ${layer.digest}`);
  const hashing = new DigestingStream(Number.MAX_SAFE_INTEGER, `layer ${layer.digest}`);
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  // A read error destroys `stored` with it, and so reaches the decompressor's own pipeline.
  const storedBytes = connect(createReadStream(blob, { highWaterMark: 1 << 20 }), stored, () => {});
  const feeding = pipeline(decompressedLayerStream(storedBytes, layer.mediaType), hashing, tar);
  const applying = applyLayer(tar, target, { mode: 'render', describe: `layer ${layer.digest} of ${where}`, maxBytes: MAX_LAYER_BYTES }).then(
    // The diffID covers the whole stream, padding after the end blocks included.
    () => void tar.resume(),
    (err: unknown) => {
      tar.destroy();
      throw err;
    },
  );
  try {
    await Promise.all([applying, feeding]);
  } catch (err) {
    // A changed blob often fails as bad gzip or a bad tar first: say what it is.
    const actual = await fileDigest(blob).catch(() => undefined);
    if (actual !== undefined && actual !== layer.digest) throw changedBlob(layer, where, actual, err);
    throw err;
  }
  const storedDigest = stored.digest();
  if (storedDigest !== layer.digest) throw changedBlob(layer, where, storedDigest);
  const diffId = hashing.digest();
  if (diffId !== layer.diffId) {
    throw new VerifyError(`layer ${layer.digest} of ${where} does not unpack to the diffID its image config names`, layer.diffId, diffId, {
      input: layer.digest,
      hint: 'the image is corrupt; rebuild or re-push it',
    });
  }
}

/**
 * Renders the stored image's layers, bottom to top, into `target` (an
 * existing empty dir). On failure `target` holds a partial render: remove it.
 */
export async function renderImage(paths: StorePaths, record: ImageRecord, target: string): Promise<void> {
  for (const layer of record.layers) await renderLayer(paths, layer, nameOf(record), target);
}

/** A small stored blob, checked against its digest. */
function verifiedBlob(paths: StorePaths, digest: string, max: number, what: string, where: string): Buffer {
  const bytes = readBlob(paths, digest, max);
  const actual = sha256Digest(bytes);
  if (actual !== digest) {
    throw new VerifyError(`the stored ${what} of ${where} was changed since it was fetched`, digest, actual, {
      input: digest,
      hint: `remove the image and fetch it again ('skiff image rm ${where}', 'skiff fetch ${where}')`,
    });
  }
  return bytes;
}

function isEmptyDir(path: string): boolean {
  return lstatSync(path).isDirectory() && readdirSync(path).length === 0;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}


export interface ExtractOptions {
  /** The rootfs straight into DIR, without manifest.json and config.json. */
  rootfsOnly?: boolean;
  /** Replace DIR if it exists and is not empty. */
  overwrite?: boolean;
}

/** `skiff image extract`: DIR/rootfs, DIR/manifest.json and DIR/config.json (or the rootfs as DIR). */
export async function extractImage(paths: StorePaths, record: ImageRecord, dir: string, options: ExtractOptions = {}): Promise<void> {
  const out = resolve(dir);
  const where = nameOf(record);
  const replace = exists(out) && !isEmptyDir(out);
  if (replace && options.overwrite !== true) {
    throw new ImageError(`${out} exists and is not an empty directory`, { input: out, hint: 'pass --overwrite to replace it' });
  }
  const gcLock = await lockPath(paths.gcLock, 'shared', { timeoutMs: 10 * 60_000, what: `the image store ${paths.root}` });
  let tmp: string | undefined;
  try {
    const manifest = verifiedBlob(paths, record.manifestDigest, MAX_MANIFEST_BYTES, 'manifest', where);
    const config = verifiedBlob(paths, record.configDigest, MAX_CONFIG_BYTES, 'config', where);
    tmp = mkdtempSync(join(dirname(out), `.${basename(out)}.extract-`));
    chmodSync(tmp, 0o755);
    const rootfs = options.rootfsOnly === true ? tmp : join(tmp, 'rootfs');
    if (rootfs !== tmp) {
      mkdirSync(rootfs);
      chmodSync(rootfs, 0o755);
    }
    await renderImage(paths, record, rootfs);
    if (options.rootfsOnly !== true) {
      writeFileSync(join(tmp, 'manifest.json'), manifest, { mode: 0o644 });
      writeFileSync(join(tmp, 'config.json'), config, { mode: 0o644 });
    }
    syncTree(tmp);
    if (replace) {
      const aside = `${tmp}.old`;
      renameSync(out, aside);
      try {
        renameSync(tmp, out);
      } catch (err) {
        renameSync(aside, out);
        throw err;
      }
      tmp = aside;
    } else {
      renameSync(tmp, out);
      tmp = undefined;
    }
    fsyncDir(dirname(out));
  } catch (err) {
    // The error that matters is the first one; a failed cleanup leaves a dot-dir next to DIR.
    if (tmp !== undefined) {
      try {
        removeTreeAt(tmp);
      } catch {
        // ignored: see above
      }
      tmp = undefined;
    }
    throw err;
  } finally {
    gcLock.release();
  }
  // The replaced DIR, now aside.
  if (tmp !== undefined) removeTreeAt(tmp);
}

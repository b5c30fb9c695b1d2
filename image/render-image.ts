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
 * 3. the image is rendered into a temp tree inside a 0700 holder dir next
 *    to DIR (same filesystem; no other user reaches a half-made tree), with
 *    manifest.json and config.json beside rootfs/ unless rootfs-only, and
 *    the filesystem is synced; device nodes are skipped unless asked for;
 * 4. the tree is renamed to DIR (over an empty DIR in one step; an
 *    existing DIR is first renamed aside into the holder and removed
 *    afterwards), so DIR is at every moment either whole or absent, and a
 *    failure leaves it as it was. Trees are removed without following their
 *    symlinks (removeTreeAt).
 */
import { createHash } from 'node:crypto';
import { createReadStream, chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline as connect } from 'node:stream';
import { syncTree } from '../native/bindings/syncfs.js';
import { fsyncDir } from '../runtime/atomic-file.js';
import { ImageError, VerifyError } from '../runtime/errors.js';
import { removeTreeAt, type ApplyResult, type DevicePolicy } from './applier/index.js';
import { verifiedBytes } from './digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { DigestingStream, readBlob } from './store/blob-store.js';
import { withGcLock } from './store/gc-lock.js';
import type { ImageLayerRecord, ImageRecord } from './store/image-index.js';
import { applyVerifiedLayer } from './store/layer-store.js';
import { blobPath, type StorePaths } from './store/store-paths.js';
import { requireLayerBlobs } from './store/layer-blobs.js';

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
async function renderLayer(paths: StorePaths, layer: ImageLayerRecord, where: string, target: string, options: RenderOptions): Promise<ApplyResult> {
  const blob = blobPath(paths, layer.digest);
  const stored = new DigestingStream(layer.size, `the stored blob of layer ${layer.digest}`);
  // A read error destroys `stored` with it, and so reaches the decompressor's own pipeline.
  const storedBytes = connect(createReadStream(blob, { highWaterMark: 1 << 20 }), stored, () => {});
  let result: ApplyResult;
  try {
    result = await applyVerifiedLayer(storedBytes, layer, target, { ...options, mode: 'render', describe: `layer ${layer.digest} of ${where}` });
  } catch (err) {
    // A changed blob often fails as bad gzip, a bad tar or a wrong diffID first: say what it is.
    const actual = await fileDigest(blob).catch(() => undefined);
    if (actual !== undefined && actual !== layer.digest) throw changedBlob(layer, where, actual, err);
    throw err;
  }
  const storedDigest = stored.digest();
  if (storedDigest !== layer.digest) throw changedBlob(layer, where, storedDigest);
  return result;
}

/** Device nodes a render left out: how many, and the first few paths. */
export interface SkippedDevices {
  count: number;
  examples: string[];
}

export interface RenderOptions {
  /** Device nodes: made (default: pods run on what the image says; their rootfs is mounted nodev), or skipped. */
  devices?: DevicePolicy;
  /** The dir free-space messages name; default `target`. */
  spaceOf?: string;
}

/**
 * Renders the stored image's layers, bottom to top, into `target` (an
 * existing empty dir). On failure `target` holds a partial render: remove it.
 */
export async function renderImage(paths: StorePaths, record: ImageRecord, target: string, options: RenderOptions = {}): Promise<SkippedDevices> {
  requireLayerBlobs(paths, record, 'a rendered copy of the image (--no-overlay, image extract)');
  const skipped: SkippedDevices = { count: 0, examples: [] };
  for (const layer of record.layers) {
    const result = await renderLayer(paths, layer, nameOf(record), target, options);
    skipped.count += result.skippedDevices.count;
    skipped.examples.push(...result.skippedDevices.examples.slice(0, 3 - skipped.examples.length));
  }
  return skipped;
}

/** A small stored blob, checked against its digest. */
function verifiedBlob(paths: StorePaths, digest: string, max: number, what: string, where: string): Buffer {
  return verifiedBytes(readBlob(paths, digest, max), digest, `the stored ${what} of ${where} was changed since it was fetched`, {
    input: digest,
    hint: `remove the image and fetch it again ('skiff image rm ${where}', 'skiff fetch ${where}')`,
  });
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
  /**
   * Make the layers' device nodes (char/block) as they say. Without it they
   * are skipped and counted: an extracted tree is the user's, in a place
   * other users may reach, and a hostile image's `c 10:183 0666` there would
   * hand them the host's device. Skipped rather than refused, as podman and
   * docker skip them where they cannot make them (rootless, user
   * namespaces): base images often carry a few in /dev, a runtime mounts its
   * own /dev over them, and the rest of the rootfs is still wanted.
   */
  allowDevices?: boolean;
}

/**
 * `skiff image extract`: DIR/rootfs, DIR/manifest.json and DIR/config.json
 * (or the rootfs as DIR). Returns the device nodes it skipped.
 */
export async function extractImage(paths: StorePaths, record: ImageRecord, dir: string, options: ExtractOptions = {}): Promise<SkippedDevices> {
  const out = resolve(dir);
  const where = nameOf(record);
  const replace = exists(out) && !isEmptyDir(out);
  if (replace && options.overwrite !== true) {
    throw new ImageError(`${out} exists and is not an empty directory`, { input: out, hint: 'pass --overwrite to replace it' });
  }
  const devices: DevicePolicy = options.allowDevices === true ? 'create' : 'skip';
  const { holder, skipped } = await withGcLock(paths, 'shared', async () => {
    // `holder` (mkdtemp: 0700) keeps the tree out of other users' reach until it is whole;
    // what is renamed to DIR is the tree inside it.
    let holder: string | undefined;
    let aside: string | undefined;
    try {
      const manifest = verifiedBlob(paths, record.manifestDigest, MAX_MANIFEST_BYTES, 'manifest', where);
      const config = verifiedBlob(paths, record.configDigest, MAX_CONFIG_BYTES, 'config', where);
      holder = mkdtempSync(join(dirname(out), `.${basename(out)}.extract-`));
      const tree = join(holder, 'tree');
      mkdirSync(tree);
      chmodSync(tree, 0o755);
      const rootfs = options.rootfsOnly === true ? tree : join(tree, 'rootfs');
      if (rootfs !== tree) {
        mkdirSync(rootfs);
        chmodSync(rootfs, 0o755);
      }
      const skipped = await renderImage(paths, record, rootfs, { devices, spaceOf: dirname(out) });
      if (options.rootfsOnly !== true) {
        writeFileSync(join(tree, 'manifest.json'), manifest, { mode: 0o644 });
        writeFileSync(join(tree, 'config.json'), config, { mode: 0o644 });
      }
      syncTree(tree);
      if (replace) {
        aside = join(holder, 'old');
        renameSync(out, aside);
        try {
          renameSync(tree, out);
        } catch (err) {
          renameSync(aside, out);
          aside = undefined;
          throw err;
        }
      } else {
        renameSync(tree, out);
      }
      fsyncDir(dirname(out));
      return { holder, skipped };
    } catch (err) {
      // The error that matters is the first one; a failed cleanup leaves a dot-dir next to DIR.
      if (holder !== undefined) {
        try {
          // `aside` is still set only if putting the old DIR back failed: it is kept, never lost.
          removeTreeAt(aside === undefined ? holder : join(holder, 'tree'));
        } catch {
          // ignored: see above
        }
      }
      throw err;
    }
  });
  // The holder, with the replaced DIR in it if there was one.
  removeTreeAt(holder);
  return skipped;
}

/**
 * A layer downloaded and unpacked at once (issue 11 §3): the blob's bytes go
 * from the network both to its scratch file and into the unpack, so the
 * download, the blob's sha256, the inflate, the diffID's sha256 and the file
 * writes overlap instead of the unpack waiting for the whole blob.
 *
 * The crash and verification guarantees are those of the two steps done one
 * after the other (blob-store.ts, layer-store.ts): the blob is checked
 * against its digest, fsynced and renamed into blobs/ before the verified
 * tree is synced and renamed into layers/ (unpackOnce's beforeCommit), so a
 * kill leaves at most a whole blob without its layer, which the next fetch
 * unpacks. When the blob is wrong, its error is the one reported (not the
 * inflater's or the diffID's, which it causes): the unpack may stop early,
 * but the download runs to its end into the scratch file to be judged.
 *
 * A layer that must wait for its lower layers (LowersPending: it hardlinks
 * into them before they are unpacked) has its blob stored whole first, then
 * is unpacked from it as unpackLayer() does.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { BlobDescriptor } from '../source.js';
import { STREAM_CHUNK } from '../stream-chunk.js';
import { commitBlob, DigestingStream } from './blob-store.js';
import { unpackLayer, unpackOnce, type LayerRef, type UnpackedLayer, type UnpackOptions } from './layer-store.js';
import { makeScratchDir } from './scratch-dir.js';
import type { StorePaths } from './store-paths.js';

export async function downloadAndUnpack(
  paths: StorePaths,
  layer: LayerRef & Pick<BlobDescriptor, 'size'>,
  download: NodeJS.ReadableStream,
  from: string,
  options: UnpackOptions & { onDownloaded?: (bytes: number) => void } = {},
): Promise<UnpackedLayer> {
  const scratch = makeScratchDir(paths, 'blob');
  const tmp = join(scratch, 'data');
  try {
    const digesting = new DigestingStream(layer.size, `blob ${layer.digest} from ${from}`);
    const file = createWriteStream(tmp, { mode: 0o644, highWaterMark: STREAM_CHUNK });
    const feed = new PassThrough({ highWaterMark: STREAM_CHUNK });
    const onDownloaded = options.onDownloaded;
    if (onDownloaded !== undefined) digesting.on('data', () => onDownloaded(digesting.bytes));
    // .pipe() forwards no errors: a failed download fails both branches with its error.
    const fail = (err: Error): void => {
      file.destroy(err);
      feed.destroy(err);
    };
    download.on('error', fail);
    digesting.on('error', fail);
    download.pipe(digesting);
    digesting.pipe(file);
    // An unpack that stops destroys the feed; .pipe() then unplugs it and the file goes on alone.
    digesting.pipe(feed);
    let blob: Promise<void> | undefined;
    const blobStored = (): Promise<void> =>
      (blob ??= finished(file).then(() => {
        commitBlob(paths, layer, tmp, digesting, from);
      }));
    let unpacked: UnpackedLayer | undefined;
    try {
      unpacked = await unpackOnce(paths, layer, from, { ...unpackOptions(options), beforeCommit: blobStored }, feed);
    } catch (err) {
      // A wrong or broken blob explains a failed unpack: its error comes first.
      await blobStored();
      throw err;
    }
    if (unpacked !== undefined) return unpacked;
    await blobStored();
  } catch (err) {
    // The source's stream (a socket, a file) is ours to close.
    (download as PassThrough).destroy?.();
    throw err;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  await options.lowers!.settled();
  return unpackLayer(paths, layer, from, unpackOptions(options));
}

/** The unpack's own options: its progress counts stored bytes, which the download already reports. */
function unpackOptions(options: UnpackOptions & { onDownloaded?: unknown }): UnpackOptions {
  const { onDownloaded: _download, ...rest } = options;
  return rest;
}

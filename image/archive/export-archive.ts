/**
 * `skiff image export IMAGE FILE`: writes a stored image as an OCI archive (a
 * tar of an OCI image layout: oci-layout, index.json naming the image, and
 * the manifest, config and layer blobs exactly as stored, so every digest
 * still holds). Blobs are streamed from the store; the archive is written to
 * a temp file and renamed into place, so FILE is either whole or absent.
 *
 * The temp file is written through a FileHandle, not a write stream: a stream
 * that fails to open reports it as an 'error' event, which nothing awaits
 * before the first write (an unhandled event, a crash with a stack). Every
 * failure to write FILE becomes one ImageError naming FILE.
 */
import { createReadStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, tempPathFor } from '../../runtime/atomic-file.js';
import { ImageError } from '../../runtime/errors.js';
import { OCI_INDEX } from '../media-types.js';
import { blobPath, digestHex, type StorePaths } from '../store/store-paths.js';
import { requireLayerBlobs } from '../store/layer-blobs.js';
import type { ImageRecord } from '../store/image-index.js';
import { TAR_END, tarEntry, tarFileHeader, tarPadding } from './tar-writer.js';

/** The OCI ref name for a stored name: its tag (`app:1.2` → `1.2`), else `latest`. */
export function refNameOf(name: string | undefined): string {
  if (name === undefined) return 'latest';
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const at = name.indexOf('@');
  if (at >= 0) return 'latest';
  return colon >= 0 ? name.slice(colon + 1) : 'latest';
}

export async function exportImage(
  paths: StorePaths,
  image: ImageRecord,
  file: string,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  if (existsSync(file) && options.overwrite !== true) {
    throw new ImageError(`${file} exists`, { input: file, hint: 'pass --overwrite to replace it' });
  }
  requireLayerBlobs(paths, image, 'image export');
  const tmp = tempPathFor(file);
  let out: FileHandle;
  try {
    // wx: a temp name of ours that exists is not ours to overwrite.
    out = await open(tmp, 'wx', 0o644);
  } catch (err) {
    throw cannotWrite(file, err);
  }
  const write = async (chunk: Buffer): Promise<void> => {
    for (let done = 0; done < chunk.length; ) done += (await out.write(chunk, done, chunk.length - done)).bytesWritten;
  };
  try {
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: image.manifestMediaType,
          digest: image.manifestDigest,
          size: statSync(blobPath(paths, image.manifestDigest)).size,
          annotations: { 'org.opencontainers.image.ref.name': refNameOf(image.names[0]) },
          platform: image.platform,
        },
      ],
    };
    await write(tarEntry({ path: 'oci-layout', type: 'file', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) }));
    await write(tarEntry({ path: 'index.json', type: 'file', content: JSON.stringify(index) }));
    await write(tarEntry({ path: 'blobs/', type: 'dir' }));
    await write(tarEntry({ path: 'blobs/sha256/', type: 'dir' }));
    const digests = [...new Set([image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)])];
    for (const digest of digests) {
      const path = blobPath(paths, digest);
      const size = statSync(path).size;
      await write(tarFileHeader(`blobs/sha256/${digestHex(digest)}`, size));
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) await write(chunk as Buffer);
      await write(tarPadding(size));
    }
    await write(TAR_END);
    await out.sync();
    await out.close();
    renameSync(tmp, file);
    fsyncDir(dirname(file));
  } catch (err) {
    await out.close().catch(() => undefined);
    rmSync(tmp, { force: true });
    // A store blob that cannot be read is the store's problem, reported as is; the rest is FILE's.
    const path = (err as NodeJS.ErrnoException).path;
    throw path !== undefined && path.startsWith(paths.root) ? err : cannotWrite(file, err);
  }
}

/** One line naming FILE (not the temp name) and what to do. */
function cannotWrite(file: string, err: unknown): ImageError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const why: Record<string, string> = {
    ENOENT: `its directory ${dirname(file)} does not exist`,
    ENOTDIR: `${dirname(file)} is not a directory`,
    EISDIR: 'it is a directory',
    EACCES: `${dirname(file)} is not writable`,
    ENOSPC: 'the filesystem is full',
    EROFS: 'the filesystem is read-only',
  };
  return new ImageError(`cannot write ${file}: ${why[code] ?? (err as Error).message ?? code} (${code})`, {
    input: file,
    hint: 'give a FILE in an existing, writable directory',
    cause: err,
  });
}

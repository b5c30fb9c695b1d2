/**
 * What needs an image's layer blobs after the fetch: `image export` (it writes them), and
 * rendering a copy of the image (`--no-overlay`, `image extract`), which applies them again. A
 * fetch with --discard-blobs (SKIFF_DISCARD_BLOBS=1) dropped them once the layers were unpacked;
 * those commands then say so and how to get them back, before they write anything.
 */
import { ImageError } from '../../runtime/errors.js';
import { hasBlob } from './blob-store.js';
import type { ImageRecord } from './image-index.js';
import type { StorePaths } from './store-paths.js';

export function requireLayerBlobs(paths: StorePaths, record: ImageRecord, what: string): void {
  const missing = record.layers.filter((l) => !hasBlob(paths, l.digest));
  if (missing.length === 0) return;
  const name = record.names[0] ?? record.id;
  throw new ImageError(`${what} needs the layer blobs of ${name}, and ${missing.length} of ${record.layers.length} were dropped after unpacking (--discard-blobs): first ${missing[0]!.digest}`, {
    input: name,
    hint: `fetch them again: skiff fetch --pull-policy=update ${name} (without --discard-blobs and with SKIFF_DISCARD_BLOBS unset)`,
  });
}

/**
 * The image side of `fetch`, `run` and `prepare`: a reference in, an image in
 * the store out, following the pull policy (rkt's --pull-policy):
 *   new     use the stored image if the name is there, else fetch;
 *   update  always ask the source, fetch what changed (fetch's default);
 *   never   only the store; a missing image is an error.
 */
import { NotFoundError } from '../runtime/errors.js';
import type { FetchListener } from './fetch-events.js';
import type { NormalPlatform } from './platform.js';
import { parseReference } from './reference.js';
import { recordName } from './sources/record-name.js';
import type { SourceOptions } from './sources/open-source.js';
import { lookupImage } from './store/find-image.js';
import { markImageUsed, readImageRecords, type ImageRecord } from './store/image-index.js';
import type { StorePaths } from './store/store-paths.js';

export type PullPolicy = 'new' | 'update' | 'never';

export interface PullOptions extends SourceOptions {
  policy: PullPolicy;
  platform?: NormalPlatform;
  listener?: FetchListener;
  /** The cap on each layer's unpacked size (SKIFF_MAX_LAYER_SIZE); default 64 GiB. */
  maxLayerBytes?: number;
  /** Drop layer blobs once unpacked (fetch.ts). */
  discardBlobs?: boolean;
}

export async function pullImage(paths: StorePaths, input: string, options: PullOptions): Promise<ImageRecord> {
  if (options.policy !== 'update') {
    // As the image verbs resolve it (find-image.ts): a stored image may also be named by its ID.
    const stored = lookupImage(readImageRecords(paths), input);
    if (stored !== undefined) {
      markImageUsed(paths, stored.id);
      return stored;
    }
    if (options.policy === 'never') {
      throw new NotFoundError(`image ${recordName(parseReference(input))} is not in the store and --pull-policy=never forbids fetching it`, {
        input,
        hint: "fetch it first with 'skiff fetch', or use --pull-policy=new",
      });
    }
  }
  const ref = parseReference(input);
  const name = recordName(ref);
  // Only a fetch needs the sources, the registry client and the layer applier: `run` of a
  // stored image does not pay for loading them.
  const [{ openSource }, { fetchImage }] = await Promise.all([import('./sources/open-source.js'), import('./fetch.js')]);
  const source = await openSource(ref, options);
  return fetchImage(paths, source, {
    name,
    platform: options.platform,
    listener: options.listener,
    ...(options.maxLayerBytes === undefined ? {} : { maxLayerBytes: options.maxLayerBytes }),
    ...(options.discardBlobs === true ? { discardBlobs: true } : {}),
  });
}

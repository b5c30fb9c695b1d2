/** A stored image as pods use it: its run config and its layer dirs (bottom to top). */
import { ImageError } from '../../runtime/errors.js';
import { parseImageConfig, type ImageConfig } from '../image-config.js';
import { MAX_CONFIG_BYTES } from '../manifest.js';
import { readBlob } from './blob-store.js';
import type { ImageRecord } from './image-index.js';
import { hasLayer, layerPath, type StorePaths } from './store-paths.js';

export interface StoredImage {
  record: ImageRecord;
  config: ImageConfig;
  layerDirs: string[];
}

export function loadStoredImage(paths: StorePaths, record: ImageRecord): StoredImage {
  const where = record.names[0] ?? record.id;
  // The record's layers are the manifest's, checked against the config when it was fetched.
  const config = parseImageConfig(readBlob(paths, record.configDigest, MAX_CONFIG_BYTES), record.layers.length, where);
  for (const layer of record.layers) {
    if (!hasLayer(paths, layer.diffId)) {
      throw new ImageError(`layer ${layer.diffId} of ${where} is missing from the store`, {
        input: where,
        hint: `fetch the image again with 'skiff fetch ${where}'`,
      });
    }
  }
  return { record, config, layerDirs: record.layers.map((l) => layerPath(paths, l.diffId)) };
}

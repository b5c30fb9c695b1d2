/** A stored image as pods use it: its run config and its layer dirs (bottom to top). */
import { existsSync } from 'node:fs';
import { ImageError } from '../../runtime/errors.js';
import { parseImageConfig, type ImageConfig } from '../image-config.js';
import { MAX_CONFIG_BYTES } from '../manifest.js';
import { readBlob } from './blob-store.js';
import type { ImageRecord } from './image-index.js';
import { storedLayerPath, type StorePaths } from './store-paths.js';

export interface StoredImage {
  record: ImageRecord;
  config: ImageConfig;
  layerDirs: string[];
}

export function loadStoredImage(paths: StorePaths, record: ImageRecord): StoredImage {
  const where = record.names[0] ?? record.id;
  // The record's layers are the manifest's, checked against the config when it was fetched.
  const config = parseImageConfig(readBlob(paths, record.configDigest, MAX_CONFIG_BYTES), record.layers.length, where);
  const layerDirs = record.layers.map((l) => storedLayerPath(paths, l));
  for (const [i, layer] of record.layers.entries()) {
    if (!existsSync(layerDirs[i]!)) {
      throw new ImageError(`layer ${layer.chainId ?? layer.diffId} of ${where} is missing from the store`, {
        input: where,
        hint: `fetch the image again with 'skiff fetch ${where}'`,
      });
    }
  }
  return { record, config, layerDirs };
}

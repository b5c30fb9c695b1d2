/**
 * Which images pods use, so `image rm` and `image gc` never remove them. A pod
 * in any state (prepare, prepared, run, exited-garbage, garbage) lists the IDs
 * of its images, one per line, in `<dir>/pods/<state>/<uuid>/images`, written
 * before the pod dir becomes visible under its state.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listStoreDir, type StorePaths } from './store-paths.js';

export const POD_IMAGES_FILE = 'images';

/** image ID → UUIDs of the pods that use it. */
export function imagesInUse(paths: StorePaths): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const state of listStoreDir(paths.pods)) {
    for (const uuid of listStoreDir(join(paths.pods, state))) {
      let text: string;
      try {
        text = readFileSync(join(paths.pods, state, uuid, POD_IMAGES_FILE), 'utf8');
      } catch {
        continue;
      }
      for (const id of text.split('\n').filter(Boolean)) used.set(id, [...(used.get(id) ?? []), uuid]);
    }
  }
  return used;
}

/** `skiff image rm|gc|cat-manifest|export|extract` (`image list`: image-list.ts). */
import { readBlob } from '../../../image/store/blob-store.js';
import { collectImages, removeImages } from '../../../image/store/image-gc.js';
import { findImage } from '../../../image/store/find-image.js';
import { readImageIndex, type ImageRecord } from '../../../image/store/image-index.js';
import type { GlobalOptions } from '../global-options.js';
import { storeOf } from '../image-options.js';
import { printResult } from '../output.js';

function summary(removed: ImageRecord[], sweep: { blobs: number; layers: number }): object {
  return { removed: removed.map((r) => ({ id: r.id, names: r.names })), blobsRemoved: sweep.blobs, layersRemoved: sweep.layers };
}

export async function rm(global: GlobalOptions, images: string[]): Promise<void> {
  const { removed, sweep } = await removeImages(storeOf(global), images);
  printResult(global.format, summary(removed, sweep), () => removed.map((r) => `removed ${r.id}`).join('\n'));
}

export async function gc(global: GlobalOptions, flags: { gracePeriod: number }): Promise<void> {
  const { removed, sweep } = await collectImages(storeOf(global), flags.gracePeriod);
  printResult(global.format, summary(removed, sweep), () =>
    [...removed.map((r) => `removed ${r.id} (${r.names.join(', ') || '<none>'})`), `freed ${sweep.blobs} blobs and ${sweep.layers} layers`].join('\n'),
  );
}

export function catManifest(global: GlobalOptions, image: string): void {
  const paths = storeOf(global);
  const record = findImage(readImageIndex(paths), image);
  const manifest = JSON.parse(readBlob(paths, record.manifestDigest).toString('utf8')) as unknown;
  process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
}

export async function exportCmd(global: GlobalOptions, image: string, file: string, flags: { overwrite: boolean }): Promise<void> {
  const { exportImage } = await import('../../../image/archive/export-archive.js');
  const paths = storeOf(global);
  const record = findImage(readImageIndex(paths), image);
  await exportImage(paths, record, file, { overwrite: flags.overwrite });
}

export async function extract(
  global: GlobalOptions,
  image: string,
  dir: string,
  flags: { rootfsOnly: boolean; overwrite: boolean; allowDevices: boolean },
): Promise<void> {
  const { extractImage } = await import('../../../image/render-image.js');
  const paths = storeOf(global);
  const record = findImage(readImageIndex(paths), image);
  const skipped = await extractImage(paths, record, dir, { rootfsOnly: flags.rootfsOnly, overwrite: flags.overwrite, allowDevices: flags.allowDevices });
  if (skipped.count > 0) {
    const more = skipped.count > skipped.examples.length ? ', ...' : '';
    process.stderr.write(
      `skiff: warning: skipped ${skipped.count} device node${skipped.count === 1 ? '' : 's'} of ${image} (${skipped.examples.map((p) => `/${p}`).join(', ')}${more}); pass --allow-devices to create them\n`,
    );
  }
}

/**
 * `skiff image list`: on its own, so the query fast path (query-fast-path.ts)
 * loads only the image index reader, not the store's writers and the applier.
 */
import { readImageIndex } from '../../../image/store/image-index.js';
import { formatBytes } from '../fetch-progress.js';
import type { GlobalOptions } from '../global-options.js';
import { shortId, storeOf } from '../image-options.js';
import { printResult, renderTable } from '../output.js';

export function list(global: GlobalOptions, flags: { full: boolean; noLegend: boolean }): void {
  const images = readImageIndex(storeOf(global));
  printResult(global.format, images, (all) => {
    const rows = [['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED']];
    for (const image of all) {
      const names = image.names.length === 0 ? ['<none>'] : image.names;
      for (const name of names) {
        rows.push([shortId(image.id, flags.full), name, formatBytes(image.size), image.importTime, image.lastUsed]);
      }
    }
    return renderTable(rows, !flags.noLegend);
  });
}

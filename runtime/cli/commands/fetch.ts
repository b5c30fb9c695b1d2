import { pullImage, type PullPolicy } from '../../../image/pull.js';
import { parsePlatform } from '../../../image/platform.js';
import { progressFor } from '../fetch-progress.js';
import type { GlobalOptions } from '../global-options.js';
import { sourceOptionsOf, storeOf } from '../image-options.js';
import { printResult } from '../output.js';

export interface FetchFlags {
  platform?: string;
  quiet: boolean;
  pullPolicy: PullPolicy;
  /** --discard-blobs: drop layer blobs once unpacked (else SKIFF_DISCARD_BLOBS decides). */
  discardBlobs?: boolean;
}

export default async function fetch(global: GlobalOptions, images: string[], flags: FetchFlags): Promise<void> {
  const paths = storeOf(global);
  const records = [];
  for (const image of images) {
    records.push(
      await pullImage(paths, image, {
        ...sourceOptionsOf(global),
        ...(flags.discardBlobs === true ? { discardBlobs: true } : {}),
        policy: flags.pullPolicy,
        ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
        listener: progressFor(flags.quiet || global.format === 'json'),
      }),
    );
  }
  printResult(global.format, records, (rs) => rs.map((r) => r.id).join('\n'));
}

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
}

export default async function fetch(global: GlobalOptions, images: string[], flags: FetchFlags): Promise<void> {
  const paths = storeOf(global);
  const records = [];
  for (const image of images) {
    records.push(
      await pullImage(paths, image, {
        ...sourceOptionsOf(global),
        policy: flags.pullPolicy,
        ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
        listener: progressFor(flags.quiet || global.format === 'json'),
      }),
    );
  }
  printResult(global.format, records, (rs) => rs.map((r) => r.id).join('\n'));
}

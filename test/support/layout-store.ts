/**
 * A store holding one image built in code, fetched through the CLI from an
 * OCI layout (no registry): for tests of the image commands on hostile or
 * odd images.
 */
import { join } from 'node:path';
import type { BuiltImage } from './oci-image.js';
import { writeOciLayout } from './oci-layout.js';
import { runSkiff, type SkiffResult } from './skiff-cli.js';
import { tempDir, type Teardown } from './temp-dir.js';

export interface LayoutStore {
  /** The temp dir holding layout/ and store/. */
  work: string;
  layout: string;
  /** `--dir`: <work>/store unless the test moves it. */
  store: string;
  /** `oci:<layout>:img`. */
  ref: string;
  skiff(args: string[], env?: NodeJS.ProcessEnv): Promise<SkiffResult>;
}

/** The image written as a layout in a fresh temp dir, and a store next to it (not fetched yet). */
export async function layoutStore(t: Teardown, image: BuiltImage, prefix = 'skiff-image-'): Promise<LayoutStore> {
  const work = tempDir(t, prefix);
  const layout = join(work, 'layout');
  await writeOciLayout(layout, [{ ref: 'img', image }]);
  const s: LayoutStore = {
    work,
    layout,
    store: join(work, 'store'),
    ref: `oci:${layout}:img`,
    // s.store, not a copy: a test may move the store (onto a small tmpfs) before using it.
    skiff: (args, env) => runSkiff(['--dir', s.store, ...args], env === undefined ? {} : { env }),
  };
  return s;
}

/** layoutStore() with the image fetched; throws when the fetch fails. */
export async function fetchedStore(t: Teardown, image: BuiltImage, prefix?: string): Promise<LayoutStore & { id: string }> {
  const s = await layoutStore(t, image, prefix);
  const r = await s.skiff(['fetch', '--quiet', s.ref]);
  if (r.code !== 0) throw new Error(`fetch failed: ${r.stderr}`);
  return Object.assign(s, { id: r.stdout.trim() });
}

/**
 * Writes images as an OCI image layout directory (image-layout spec):
 * `oci-layout`, `index.json` naming each image by `org.opencontainers.image.ref.name`,
 * and `blobs/sha256/<hex>`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_INDEX } from '../../image/media-types.js';
import { descriptorOf, type Blob, type BuiltImage } from './oci-image.js';

export interface LayoutEntry {
  /** The ref name (`oci:DIR:ref`). */
  ref: string;
  /** A single image, or an index with the images it lists. */
  image?: BuiltImage;
  index?: { blob: Blob; images: BuiltImage[] };
}

async function writeBlob(dir: string, blob: Blob): Promise<void> {
  const [algo, hex] = blob.digest.split(':') as [string, string];
  await mkdir(join(dir, 'blobs', algo), { recursive: true });
  await writeFile(join(dir, 'blobs', algo, hex), blob.data);
}

export async function writeOciLayout(dir: string, entries: LayoutEntry[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = [];
  for (const entry of entries) {
    const images = entry.image !== undefined ? [entry.image] : (entry.index?.images ?? []);
    for (const image of images) {
      for (const blob of image.blobs) await writeBlob(dir, blob);
      await writeBlob(dir, image.manifest);
    }
    const top = entry.image?.manifest ?? entry.index?.blob;
    if (top === undefined) throw new Error(`layout entry ${entry.ref} has neither an image nor an index`);
    if (entry.index !== undefined) await writeBlob(dir, entry.index.blob);
    manifests.push(descriptorOf(top, { annotations: { 'org.opencontainers.image.ref.name': entry.ref } }));
  }
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index, null, 2));
}

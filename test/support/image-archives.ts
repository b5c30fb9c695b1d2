/**
 * Image archives for tests: an oci-archive (a tar of an OCI layout) and a
 * `docker save` tarball (manifest.json, <hex>.json config, <id>/layer.tar
 * uncompressed layers), both built in code from BuiltImages.
 */
import { writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { descriptorOf, type BuiltImage } from './oci-image.js';
import { tarArchive, type TarEntry } from './tar-writer.js';
import { OCI_INDEX } from '../../image/media-types.js';

const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

export function writeOciArchive(file: string, entries: Array<{ ref: string; image: BuiltImage }>): void {
  const tar: TarEntry[] = [
    { path: 'oci-layout', type: 'file', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    {
      path: 'index.json',
      type: 'file',
      content: JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: entries.map((e) => descriptorOf(e.image.manifest, { annotations: { 'org.opencontainers.image.ref.name': e.ref } })),
      }),
    },
    { path: 'blobs/', type: 'dir' },
    { path: 'blobs/sha256/', type: 'dir' },
  ];
  const seen = new Set<string>();
  for (const { image } of entries) {
    for (const blob of [image.manifest, ...image.blobs]) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      tar.push({ path: `blobs/sha256/${hexOf(blob.digest)}`, type: 'file', content: blob.data });
    }
  }
  writeFileSync(file, tarArchive(tar));
}

/** A `docker save` archive. Layers are stored uncompressed, as docker does. */
export function writeDockerArchive(file: string, entries: Array<{ repoTags: string[]; image: BuiltImage }>): void {
  const tar: TarEntry[] = [];
  const manifest = [];
  for (const { repoTags, image } of entries) {
    const configName = `${hexOf(image.config.digest)}.json`;
    tar.push({ path: configName, type: 'file', content: image.config.data });
    const layers = image.layers.map((layer) => {
      const raw = layer.mediaType.endsWith('gzip') ? gunzipSync(layer.data) : layer.data;
      const dir = hexOf(layer.digest).slice(0, 64);
      tar.push({ path: `${dir}/`, type: 'dir' }, { path: `${dir}/layer.tar`, type: 'file', content: raw });
      return `${dir}/layer.tar`;
    });
    manifest.push({ Config: configName, RepoTags: repoTags, Layers: layers });
  }
  tar.unshift({ path: 'manifest.json', type: 'file', content: JSON.stringify(manifest) });
  writeFileSync(file, tarArchive(tar));
}

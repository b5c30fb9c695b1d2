/**
 * `docker-archive:FILE[:name:tag]`: a `docker save` tarball. Its manifest.json
 * lists, per image, the config file, the repo tags and the layer tars (which
 * are uncompressed, so each layer's digest is its diffID). Skiff turns that
 * into an OCI manifest in memory; every blob is still verified against its
 * digest when it is stored.
 */
import { ImageError, NotFoundError } from '../../runtime/errors.js';
import { sha256Digest as sha256 } from '../digest.js';
import { MAX_CONFIG_BYTES } from '../manifest.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from '../media-types.js';
import { parseDockerName, type DockerArchiveReference, type DockerReference } from '../reference.js';
import type { ImageSource } from '../source.js';
import type { FileBackend } from './file-backend.js';

interface SaveManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}


/** docker save writes familiar names ('busybox:latest'); compare them fully qualified. */
function sameName(repoTag: string, want: DockerReference): boolean {
  try {
    const have = parseDockerName(repoTag);
    return have.registry === want.registry && have.repository === want.repository && have.tag === want.tag;
  } catch {
    return false;
  }
}

export function dockerArchiveSource(name: string, backend: FileBackend, ref: DockerArchiveReference['ref']): ImageSource {
  const files = new Map<string, string>(); // digest → file in the archive
  return {
    name,
    async resolve() {
      if (!backend.has('manifest.json')) {
        throw new ImageError(`${backend.location} is not a docker save archive (no manifest.json)`, {
          input: name,
          hint: 'use oci-archive: for OCI archives',
        });
      }
      // docker save's manifest.json is bounded like a config (it is no registry manifest).
      const entries = JSON.parse(backend.read('manifest.json', MAX_CONFIG_BYTES).toString('utf8')) as SaveManifestEntry[];
      const tags = entries.flatMap((e) => e.RepoTags ?? []);
      const entry =
        ref === undefined
          ? entries.length === 1
            ? entries[0]
            : undefined
          : 'index' in ref
            ? entries[ref.index]
            : entries.find((e) => (e.RepoTags ?? []).some((t) => sameName(t, ref.name)));
      const want = ref === undefined ? undefined : 'index' in ref ? `@${ref.index}` : `${ref.name.repository}:${ref.name.tag ?? 'latest'}`;
      if (entry?.Config === undefined || entry.Layers === undefined) {
        throw new NotFoundError(
          want === undefined
            ? `${backend.location} holds ${entries.length} images; name one with ${name}:NAME:TAG or ${name}:@N (tags: ${tags.join(', ') || 'none'})`
            : `${backend.location} has no image ${want} (tags: ${tags.join(', ') || 'none'})`,
          { input: name },
        );
      }
      const configBytes = backend.read(entry.Config, MAX_CONFIG_BYTES);
      const config = JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== entry.Layers.length) {
        throw new ImageError(`${backend.location}: the image config names ${diffIds.length} layers, manifest.json ${entry.Layers.length}`, {
          input: name,
        });
      }
      const configDigest = sha256(configBytes);
      files.set(configDigest, entry.Config);
      const layers = entry.Layers.map((file, i) => {
        const digest = diffIds[i] as string;
        files.set(digest, file);
        return { mediaType: OCI_LAYER, digest, size: backend.size(file) };
      });
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
        layers,
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      return { bytes, mediaType: OCI_MANIFEST, digest: sha256(bytes) };
    },
    async fetchManifest(digest) {
      throw new NotFoundError(`${backend.location} has no manifest ${digest}: docker save archives hold one manifest per image`, {
        input: name,
      });
    },
    async openBlob(descriptor) {
      const file = files.get(descriptor.digest);
      if (file === undefined) throw new NotFoundError(`${backend.location} has no blob ${descriptor.digest}`, { input: name });
      return backend.open(file);
    },
    async close() {},
  };
}

/**
 * `oci:DIR[:ref]` and `oci-archive:FILE[:ref]`: an OCI image layout, from a
 * directory or from a tar of one. The ref is matched against the
 * `org.opencontainers.image.ref.name` annotations of index.json; without one,
 * the layout must hold exactly one image.
 */
import { ImageError, NotFoundError } from '../../runtime/errors.js';
import { verifiedBytes } from '../digest.js';
import { MAX_MANIFEST_BYTES } from '../manifest.js';
import { OCI_INDEX } from '../media-types.js';
import type { ImageSource } from '../source.js';
import { digestHex } from '../store/store-paths.js';
import type { FileBackend } from './file-backend.js';

const REF_ANNOTATION = 'org.opencontainers.image.ref.name';

interface IndexJson {
  manifests?: Array<{ mediaType?: string; digest?: string; size?: number; annotations?: Record<string, string> }>;
}

function blobName(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** A manifest or index blob, read into memory and checked against its digest. */
function readManifestBlob(backend: FileBackend, digest: string): Buffer {
  return verifiedBytes(backend.read(blobName(digest), MAX_MANIFEST_BYTES), digest, `blob in ${backend.location} does not match its name`, {
    input: backend.location,
    hint: 'the layout is corrupt',
  });
}

function mediaTypeOf(bytes: Buffer, fallback: string | undefined): string {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
  } catch {
    // Not JSON: the manifest parser reports it with context.
  }
  return fallback ?? OCI_INDEX;
}

export function ociLayoutSource(name: string, backend: FileBackend, ref: string | undefined): ImageSource {
  return {
    name,
    async resolve() {
      if (!backend.has('oci-layout') || !backend.has('index.json')) {
        throw new ImageError(`${name} is not an OCI image layout (no oci-layout or index.json in ${backend.location})`, {
          input: name,
          hint: 'point oci: at a directory written by skopeo, umoci, buildah or skiff image export',
        });
      }
      const index = JSON.parse(backend.read('index.json', MAX_MANIFEST_BYTES).toString('utf8')) as IndexJson;
      const manifests = index.manifests ?? [];
      const refs = manifests.map((m) => m.annotations?.[REF_ANNOTATION]).filter((r): r is string => r !== undefined);
      const chosen =
        ref === undefined
          ? manifests.length === 1
            ? manifests[0]
            : undefined
          : manifests.find((m) => m.annotations?.[REF_ANNOTATION] === ref);
      if (chosen?.digest === undefined) {
        const listing = refs.length === 0 ? 'none' : refs.join(', ');
        throw new NotFoundError(
          ref === undefined
            ? `${backend.location} holds ${manifests.length} images; name one with ${name}:REF (refs: ${listing})`
            : `${backend.location} has no image named ${ref} (refs: ${listing})`,
          { input: name },
        );
      }
      const bytes = readManifestBlob(backend, chosen.digest);
      return { bytes, mediaType: mediaTypeOf(bytes, chosen.mediaType), digest: chosen.digest };
    },
    async fetchManifest(digest) {
      const bytes = readManifestBlob(backend, digest);
      return { bytes, mediaType: mediaTypeOf(bytes, undefined), digest };
    },
    async openBlob(descriptor) {
      return backend.open(blobName(descriptor.digest));
    },
    async close() {},
  };
}

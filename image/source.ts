/**
 * Where image content comes from, as the fetch pipeline sees it: a registry,
 * an OCI layout dir, an oci-archive or a docker-archive all answer the same
 * four calls. Manifests come back verified (their digest is the sha256 of the
 * bytes returned, checked against the digest asked for); blobs come back raw,
 * because the store hashes them while writing and one pass is enough.
 *
 * This file loads no HTTP code: `registrySource` lives in image/registry/.
 */
import { ImageError, VerifyError } from '../runtime/errors.js';
import { verifiedBytes } from './digest.js';
import { MAX_CONFIG_BYTES } from './manifest.js';

export interface FetchedManifest {
  bytes: Buffer;
  /** As the source served it (Content-Type, or the descriptor's); may be generic. */
  mediaType: string;
  /** sha256 of `bytes`. */
  digest: string;
}

export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ImageSource {
  /** e.g. 'docker://127.0.0.1:5000/skiff/probe:oci', for messages. */
  readonly name: string;
  /** The top-level manifest or index the reference names. */
  resolve(): Promise<FetchedManifest>;
  /** A manifest by digest (verified), at most MAX_MANIFEST_BYTES. */
  fetchManifest(digest: string): Promise<FetchedManifest>;
  /** Raw blob bytes, unverified (the store verifies while writing); resumable for registries. */
  openBlob(descriptor: BlobDescriptor): Promise<NodeJS.ReadableStream>;
  close(): Promise<void>;
}

/** Refuses a blob whose descriptor says it is over `maxBytes`, before it is read. */
export function refuseOversized(source: ImageSource, descriptor: BlobDescriptor, maxBytes: number): void {
  if (descriptor.size > maxBytes) {
    throw new ImageError(
      `blob ${descriptor.digest} from ${source.name} is ${descriptor.size} bytes, over the ${maxBytes}-byte limit for ${descriptor.mediaType}`,
      { input: source.name },
    );
  }
}

/**
 * Reads a small blob (an image config) whole through `openBlob`, refusing one
 * whose descriptor or stream is over `maxBytes`, and verifies size and digest.
 */
export async function readSmallBlob(
  source: ImageSource,
  descriptor: BlobDescriptor,
  maxBytes: number = MAX_CONFIG_BYTES,
): Promise<Buffer> {
  const what = `blob ${descriptor.digest} from ${source.name}`;
  refuseOversized(source, descriptor, maxBytes);
  const stream = await source.openBlob(descriptor);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      length += buf.length;
      if (length > descriptor.size) {
        throw new VerifyError(`${what} is longer than its descriptor says`, `${descriptor.size} bytes`, `more than ${descriptor.size}`, {
          input: source.name,
        });
      }
      chunks.push(buf);
    }
  } finally {
    (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
  const bytes = Buffer.concat(chunks, length);
  if (length !== descriptor.size) {
    throw new VerifyError(`${what} has the wrong size`, `${descriptor.size} bytes`, `${length} bytes`, { input: source.name });
  }
  return verifiedBytes(bytes, descriptor.digest, `${what} does not match its digest`, { input: source.name });
}

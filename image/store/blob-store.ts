/**
 * Content-addressed blobs. A blob is streamed into a scratch file while its
 * sha256 and size are computed, fsynced, and renamed to blobs/sha256/<hex>
 * only if it matches the digest it was asked for. So a blob on disk is always
 * whole and correct, and a mismatch stores nothing.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncDir, fsyncFile } from '../../runtime/atomic-file.js';
import { ImageError, VerifyError } from '../../runtime/errors.js';
import { MAX_CONFIG_BYTES } from '../manifest.js';
import { noteStreamed } from '../young-garbage.js';
import type { BlobDescriptor } from '../source.js';
import { makeScratchDir } from './scratch-dir.js';
import { blobPath, type StorePaths } from './store-paths.js';

export function hasBlob(paths: StorePaths, digest: string): boolean {
  return existsSync(blobPath(paths, digest));
}

/** Counts and hashes what passes through, and stops a stream that runs past its declared size. */
export class DigestingStream extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limit: number, private readonly what: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new ImageError(`${this.what} is larger than the ${this.limit} bytes its descriptor declares`));
      return;
    }
    this.hash.update(chunk);
    noteStreamed(chunk.length);
    done(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Stores a blob from a stream; `from` names where it came from, for errors.
 * Returns its path. Two processes ingesting the same blob both succeed: each
 * renames an identical, verified file into place.
 */
export async function ingestBlob(
  paths: StorePaths,
  descriptor: Pick<BlobDescriptor, 'digest' | 'size'>,
  stream: NodeJS.ReadableStream,
  from: string,
): Promise<string> {
  const scratch = makeScratchDir(paths, 'blob');
  const tmp = join(scratch, 'data');
  try {
    const digesting = new DigestingStream(descriptor.size, `blob ${descriptor.digest} from ${from}`);
    await pipeline(stream, digesting, createWriteStream(tmp, { mode: 0o644 }));
    return commitBlob(paths, descriptor, tmp, digesting, from);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Moves a blob written to the scratch file `tmp` to blobs/ if the bytes that
 * went through `digesting` are its size and digest: fsynced first, so what is
 * under a digest is always whole, also after a power loss. Returns its path.
 */
export function commitBlob(
  paths: StorePaths,
  descriptor: Pick<BlobDescriptor, 'digest' | 'size'>,
  tmp: string,
  digesting: DigestingStream,
  from: string,
): string {
  const target = blobPath(paths, descriptor.digest);
  const actual = digesting.digest();
  const hint = 'the registry or file is corrupt or was tampered with';
  // The size first: a short blob whose bytes still hash to the digest is a wrong descriptor,
  // and "expected X, got X" would say nothing.
  if (digesting.bytes !== descriptor.size) {
    throw new VerifyError(`blob ${descriptor.digest} from ${from} has the wrong size; nothing was stored`, `${descriptor.size} bytes`, `${digesting.bytes} bytes`, {
      input: descriptor.digest,
      hint,
    });
  }
  if (actual !== descriptor.digest) {
    throw new VerifyError(`blob from ${from} does not match its digest; nothing was stored`, descriptor.digest, actual, { input: descriptor.digest, hint });
  }
  fsyncFile(tmp);
  mkdirSync(paths.blobs, { recursive: true });
  renameSync(tmp, target);
  fsyncDir(paths.blobs);
  return target;
}

/** Stores bytes already held in memory (manifests, configs) after checking their digest. */
export function putBlob(paths: StorePaths, digest: string, bytes: Buffer, from: string): Promise<string> {
  return ingestBlob(paths, { digest, size: bytes.length }, Readable.from([bytes]), from);
}

/** Reads a small blob (manifest, config), with a size cap. */
export function readBlob(paths: StorePaths, digest: string, maxBytes = MAX_CONFIG_BYTES): Buffer {
  const path = blobPath(paths, digest);
  const size = statSync(path).size;
  if (size > maxBytes) throw new ImageError(`blob ${digest} is ${size} bytes, more than the ${maxBytes} allowed here`);
  return readFileSync(path);
}

export function removeBlob(paths: StorePaths, digest: string): void {
  rmSync(blobPath(paths, digest), { force: true });
}

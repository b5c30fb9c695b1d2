/**
 * sha256 digests: the only algorithm Skiff verifies, so the only one that may
 * name content (a blob, a layer, a manifest, an image ID).
 */
import { createHash } from 'node:crypto';
import { VerifyError, type SkiffErrorOptions } from '../runtime/errors.js';

/** `sha256:<64 lower-case hex digits>`; group 1 is the hex. */
export const SHA256_DIGEST = /^sha256:([a-f0-9]{64})$/;

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `bytes` if their sha256 is `digest`; else a VerifyError saying `message`. */
export function verifiedBytes(bytes: Buffer, digest: string, message: string, options: SkiffErrorOptions): Buffer {
  const actual = sha256Digest(bytes);
  if (actual !== digest) throw new VerifyError(message, digest, actual, options);
  return bytes;
}

/**
 * A stored layer blob as its uncompressed tar stream, by media type.
 *
 * gzip is strict: Node's gunzip already fails on non-gzip bytes after the
 * last member, but silently drops trailing NUL bytes; here any byte after the
 * last member is an error (as in Go's gzip reader, which containerd uses), so
 * a blob cannot carry data no consumer reads. Concatenated gzip members are
 * valid gzip and accepted. gzip is inflated with ISA-L where the host has it
 * (isal-gunzip.ts, ~4x faster), else with zlib; both are held to these rules.
 */
import { PassThrough, Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import {
  DOCKER_LAYER_GZIP,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_LAYER_ZSTD,
} from '../media-types.js';
import { ImageError, SkiffError } from '../../runtime/errors.js';
import { createIsalGunzip, TrailingGarbage } from './isal-gunzip.js';
import { createZstdDecompress } from './zstd-stream.js';
import { STREAM_CHUNK } from '../stream-chunk.js';

const GZIP_TYPES = new Set([
  OCI_LAYER_GZIP,
  DOCKER_LAYER_GZIP,
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const TAR_TYPES = new Set([
  OCI_LAYER,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar',
]);
const ZSTD_TYPES = new Set([OCI_LAYER_ZSTD, 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd']);

/** Output chunks big enough that the applier makes few writes per file, small enough to keep RSS low. */
const CHUNK = STREAM_CHUNK;

class ByteCounter extends Transform {
  bytes = 0;
  /** The first bytes of the stream (a gzip member header starts there). */
  readonly head = Buffer.alloc(4);
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.bytes < this.head.length) chunk.copy(this.head, this.bytes, 0, this.head.length - this.bytes);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

const DAMAGED_HINT = 'the stored blob is damaged or not what its media type says; fetch the image again';

function wrap(err: Error, what: string): Error {
  if (err instanceof SkiffError) return err;
  return new ImageError(`${what}: ${err.message}`, { cause: err, hint: DAMAGED_HINT });
}

/** zlib's messages for a bad gzip member header: at the start of a later member they mean trailing garbage. */
const GZIP_HEADER_ERRORS = /^(incorrect header check|unknown compression method|unknown header flags set)$/;

/**
 * stored → [counter] → decoder → [check] → out. `out` is ours so the error the
 * consumer sees is an ImageError; destroying `out` tears the chain down. The
 * counter and the end check are there only for a `checkEnd` (zlib's trailing
 * bytes; `head`, the first stored bytes, is only filled then): every stage is
 * a few microseconds of the main thread per chunk.
 */
function decode(
  stored: NodeJS.ReadableStream,
  decoder: Transform,
  what: string,
  checkEnd?: (fed: number) => Error | undefined,
  explain: (err: Error, head: Buffer) => Error = (err) => wrap(err, what),
): Readable {
  const counter = checkEnd === undefined ? undefined : new ByteCounter({ highWaterMark: CHUNK });
  const check =
    checkEnd === undefined
      ? undefined
      : new Transform({
          readableHighWaterMark: CHUNK,
          transform(chunk: Buffer, _encoding, callback) {
            callback(null, chunk);
          },
          flush(callback) {
            callback(checkEnd(counter!.bytes) ?? null);
          },
        });
  const last = check ?? decoder;
  const out = new PassThrough({ highWaterMark: CHUNK });
  const stages = [stored, ...(counter === undefined ? [] : [counter]), decoder, ...(check === undefined ? [] : [check])];
  pipeline(stages, (err) => {
    if (err) out.destroy(explain(err, counter?.head ?? Buffer.alloc(0)));
  });
  last.pipe(out);
  out.on('close', () => {
    if (!last.readableEnded) last.destroy();
  });
  return out;
}

/** Streams whose decoder hashed what it gave (on its worker thread): how to read that hash. */
const decoderDigests = new WeakMap<Readable, () => string | undefined>();

/**
 * The sha256 of everything a decompressedLayerStream() gave, as its decoder
 * computed it, read once the stream has ended: the layer's diffID without
 * hashing the tar again on the main thread. Undefined when this decoder does
 * not hash (zlib, zstd, plain tar, or no libcrypto for the ISA-L shim): then
 * the caller hashes the stream itself.
 */
export function decoderDigest(stream: Readable): (() => string | undefined) | undefined {
  return decoderDigests.get(stream);
}

function unsupported(stored: NodeJS.ReadableStream, message: string): never {
  // The caller's stream was opened for us: do not leak its fd.
  (stored as Readable).destroy?.();
  throw new ImageError(message, { hint: 'Skiff unpacks gzip, zstd and uncompressed tar layers' });
}

/** `env`: SKIFF_INFLATE=zlib inflates gzip with zlib even where ISA-L is there (tests compare both). */
export function decompressedLayerStream(stored: NodeJS.ReadableStream, mediaType: string, env: NodeJS.ProcessEnv = process.env): Readable {
  if (GZIP_TYPES.has(mediaType)) {
    const garbage = (detail: string): ImageError =>
      new ImageError(`gzip layer has trailing garbage after the compressed data (${detail})`, { hint: DAMAGED_HINT });
    const isal = createIsalGunzip(env);
    if (isal !== null) {
      // ISA-L checks what follows the last member itself (isal-gunzip.ts).
      const out = decode(stored, isal, 'gzip layer is corrupt', undefined, (err) =>
        err instanceof TrailingGarbage ? garbage(err.message) : wrap(err, 'gzip layer is corrupt'),
      );
      if (isal.hashesOutput) decoderDigests.set(out, () => isal.outputDigest());
      return out;
    }
    const gunzip = zlib.createGunzip({ chunkSize: CHUNK });
    return decode(
      stored,
      gunzip,
      'gzip layer is corrupt',
      (fed) => {
        // zlib stops counting at the end of the last member and drops what follows if it is NULs.
        const extra = fed - gunzip.bytesWritten;
        return extra > 0 ? garbage(`${extra} bytes`) : undefined;
      },
      (err, head) => {
        // A bad member header when the first member's header is sound: the "next member" zlib looked for is garbage.
        const firstHeaderSound = head[0] === 0x1f && head[1] === 0x8b && head[2] === 8 && ((head[3] ?? 0) & 0xe0) === 0;
        if (!(err instanceof SkiffError) && firstHeaderSound && GZIP_HEADER_ERRORS.test(err.message)) return garbage(err.message);
        return wrap(err, 'gzip layer is corrupt');
      },
    );
  }
  if (TAR_TYPES.has(mediaType)) return decode(stored, new PassThrough({ highWaterMark: CHUNK }), 'reading the layer failed');
  if (ZSTD_TYPES.has(mediaType)) {
    const zstd = createZstdDecompress();
    if (zstd === null) unsupported(stored, `unsupported layer media type ${mediaType}: zstd needs libzstd.so.1, which this host does not have`);
    return decode(stored, zstd, 'zstd layer is corrupt');
  }
  return unsupported(stored, `unsupported layer media type ${JSON.stringify(mediaType)}`);
}

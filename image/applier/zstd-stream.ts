/**
 * zstd decompression for `+zstd` layers without a new dependency: Node 20's
 * zlib has none (it came in Node 22.15 / 23.8: the fallback when libzstd is
 * missing), so this calls the system's libzstd.so.1 through koffi, which we already load.
 * Debian's dpkg depends on libzstd1, so it is on every Debian host; where it
 * is missing the caller gets a clear "unsupported" error.
 *
 * Strict like the gzip path: data after the last frame that is not another
 * frame fails in ZSTD_decompressStream itself, and a stream that ends inside
 * a frame is refused in flush().
 */
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { koffi } from '../../native/bindings/libc.js';
import { ImageError } from '../../runtime/errors.js';
import { STREAM_CHUNK } from '../stream-chunk.js';

interface ZstdApi {
  create: () => unknown;
  free: (ctx: unknown) => number;
  decompress: (ctx: unknown, out: { dst: Buffer; size: number; pos: number }, input: { src: Buffer; size: number; pos: number }) => number;
  isError: (code: number) => number;
  errorName: (code: number) => string;
}

let api: ZstdApi | null | undefined;

function loadZstd(): ZstdApi | null {
  if (api !== undefined) return api;
  try {
    const lib = koffi.load('libzstd.so.1');
    koffi.struct('ZSTD_inBuffer', { src: 'const void *', size: 'size_t', pos: 'size_t' });
    koffi.struct('ZSTD_outBuffer', { dst: 'void *', size: 'size_t', pos: 'size_t' });
    api = {
      create: lib.func('void *ZSTD_createDCtx(void)') as ZstdApi['create'],
      free: lib.func('size_t ZSTD_freeDCtx(void *)') as ZstdApi['free'],
      decompress: lib.func('size_t ZSTD_decompressStream(void *, _Inout_ ZSTD_outBuffer *, _Inout_ ZSTD_inBuffer *)') as ZstdApi['decompress'],
      isError: lib.func('unsigned int ZSTD_isError(size_t)') as ZstdApi['isError'],
      errorName: lib.func('const char *ZSTD_getErrorName(size_t)') as ZstdApi['errorName'],
    };
  } catch {
    api = null;
  }
  return api;
}

const OUT_CHUNK = 256 * 1024;

class LibzstdDecompress extends Transform {
  private ctx: unknown;
  /** ZSTD_decompressStream's last hint: 0 means the last frame is complete. */
  private pending = 0;

  constructor(private readonly zstd: ZstdApi) {
    super({ readableHighWaterMark: STREAM_CHUNK });
    this.ctx = zstd.create();
    if (this.ctx === null) throw new ImageError('cannot create a zstd decompression context (out of memory?)');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pos = 0;
    for (;;) {
      const dst = Buffer.allocUnsafe(OUT_CHUNK);
      // Fresh objects each call: koffi copies the structs back, pointers included.
      const input = { src: chunk, size: chunk.length, pos };
      const output = { dst, size: dst.length, pos: 0 };
      const ret = this.zstd.decompress(this.ctx, output, input);
      if (this.zstd.isError(ret) !== 0) {
        callback(new ImageError(`zstd layer is corrupt: ${this.zstd.errorName(ret)}`));
        return;
      }
      pos = Number(input.pos);
      this.pending = Number(ret);
      if (output.pos > 0) this.push(dst.subarray(0, Number(output.pos)));
      // Done with this chunk once all input is taken and the output was not filled (nothing left inside).
      if (pos >= chunk.length && output.pos < dst.length) break;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending !== 0) callback(new ImageError('zstd layer is truncated: the stream ends inside a frame'));
    else callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ctx !== null && this.ctx !== undefined) this.zstd.free(this.ctx);
    this.ctx = null;
    callback(err);
  }
}

/** A zstd decompressing Transform, or null when this host cannot decompress zstd. */
export function createZstdDecompress(): Transform | null {
  const zstd = loadZstd();
  if (zstd !== null) return new LibzstdDecompress(zstd);
  const native = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  return typeof native === 'function' ? native() : null;
}

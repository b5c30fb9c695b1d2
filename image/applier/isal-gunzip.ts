/**
 * gzip inflate with ISA-L's igzip (issue 11 §3): 0.24 s for a 95 MB layer
 * where zlib takes ~1.1 s. Through native/isal/skiff-gunzip.c (a shim: isal's
 * inflate_state is too big and version-specific to mirror in koffi), called
 * with koffi's async calls so the inflating runs on a libuv worker thread, as
 * Node's own zlib does, and the main thread goes on hashing and writing files.
 *
 * Optional: without libisal (or libskiff-gunzip.so, built only where
 * libisal-dev is), or with SKIFF_INFLATE=zlib, createIsalGunzip() returns null
 * and the caller inflates with zlib. Strictness is the zlib path's: members
 * concatenated are one stream, every member's CRC and length are checked, and
 * bytes after the last member that are not a whole member are refused
 * (TrailingGarbage).
 */
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { koffi } from '../../native/bindings/libc.js';
import { packageRoot } from '../../runtime/install-paths.js';
import { STREAM_CHUNK } from '../stream-chunk.js';

/** Bytes after the last member that are not another whole gzip member. */
export class TrailingGarbage extends Error {
  override readonly name = 'TrailingGarbage';
}

type AsyncCall = (...args: unknown[]) => void;

interface IsalApi {
  create: () => unknown;
  free: (ctx: unknown) => void;
  gunzip: { async: AsyncCall };
}

let api: IsalApi | null | undefined;

/** The shim, or null where it cannot be loaded (reported once as null, not as an error). */
function loadIsal(): IsalApi | null {
  if (api !== undefined) return api;
  try {
    const lib = koffi.load(join(packageRoot(), 'native', 'build', 'libskiff-gunzip.so'));
    api = {
      create: lib.func('void *skiff_gunzip_new(void)') as IsalApi['create'],
      free: lib.func('void skiff_gunzip_free(void *)') as IsalApi['free'],
      gunzip: lib.func('int skiff_gunzip(void *, const void *, uint32_t, void *, uint32_t, void *)') as unknown as IsalApi['gunzip'],
    };
  } catch {
    api = null;
  }
  return api;
}

/** isal's errors in zlib's words, so messages do not depend on which inflater ran. */
const MESSAGES = new Map<number, string>([
  [-1, 'invalid block type'],
  [-2, 'invalid code lengths set'],
  [-3, 'invalid distance too far back'],
  [-4, 'incorrect header check'],
  [-5, 'unknown compression method'],
  [-6, 'incorrect data check'],
]);
const HEADER_ERRORS = new Set([-4, -5]);

class IsalGunzip extends Transform {
  private ctx: unknown;
  /** Filled by each call: input taken, output made, members completed, at a member's end. */
  private readonly io = new Uint32Array(4);
  private busy = false;
  private freeWhenIdle = false;
  private fed = 0;

  constructor(private readonly isal: IsalApi) {
    super({ readableHighWaterMark: STREAM_CHUNK });
    this.ctx = isal.create();
    if (this.ctx === null) throw new Error('cannot create an ISA-L inflate state (out of memory?)');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.fed += chunk.length;
    this.#inflate(chunk, 0, callback);
  }

  #inflate(chunk: Buffer, pos: number, callback: TransformCallback): void {
    const out = Buffer.allocUnsafe(STREAM_CHUNK);
    const input = chunk.subarray(pos);
    this.busy = true;
    this.isal.gunzip.async(this.ctx, input, input.length, out, out.length, this.io, (err: unknown, ret: number) => {
      this.busy = false;
      if (this.freeWhenIdle) {
        this.#free();
        return;
      }
      if (err) return callback(err as Error);
      const [used = 0, made = 0, members = 0] = this.io;
      if (ret < 0) {
        const message = MESSAGES.get(ret) ?? `ISA-L inflate error ${ret}`;
        // A member ended well and what follows does not start like one: trailing garbage.
        if (members > 0 && HEADER_ERRORS.has(ret)) return callback(new TrailingGarbage(message));
        return callback(new Error(message));
      }
      if (made > 0) this.push(made === out.length ? out : out.subarray(0, made));
      const next = pos + used;
      if (next < chunk.length || made === out.length) this.#inflate(chunk, next, callback);
      else callback();
    });
  }

  override _flush(callback: TransformCallback): void {
    const [, , members = 0, atEnd = 0] = this.io;
    if (this.fed > 0 && atEnd === 1) return callback();
    if (members > 0) return callback(new TrailingGarbage('bytes after the last member that are not a whole gzip member'));
    callback(new Error('unexpected end of file'));
  }

  #free(): void {
    if (this.ctx !== null) this.isal.free(this.ctx);
    this.ctx = null;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // A call in flight still uses the state: free it when that call returns.
    if (this.busy) this.freeWhenIdle = true;
    else this.#free();
    callback(err);
  }
}

/** An ISA-L gunzip Transform, or null when this host has none (or SKIFF_INFLATE=zlib asks for zlib). */
export function createIsalGunzip(env: NodeJS.ProcessEnv = process.env): Transform | null {
  if (env['SKIFF_INFLATE'] === 'zlib') return null;
  const isal = loadIsal();
  return isal === null ? null : new IsalGunzip(isal);
}

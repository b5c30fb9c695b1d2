/**
 * gzip inflate with ISA-L's igzip (issue 11 §3): 0.24 s for a 95 MB layer
 * where zlib takes ~1.1 s. Through native/isal/skiff-gunzip.c (a shim: isal's
 * inflate_state is too big and version-specific to mirror in koffi), called
 * with koffi's async calls so the inflating runs on a libuv worker thread, as
 * Node's own zlib does, and the main thread goes on parsing and writing files.
 *
 * Pipelined: the next call is started before the output of the last one is
 * pushed, and a second input chunk is taken while the first is inflated, so
 * the worker inflates while the main thread unpacks what came out (one call
 * at a time, waiting for each, left the two cores taking turns). Backpressure
 * still holds: when push() says stop, no call is started until the consumer
 * reads, so at most one output chunk more than the consumer asked for is made
 * (an input chunk of a gzip bomb cannot balloon memory).
 *
 * The shim also hashes the output on that worker thread (the layer's diffID;
 * outputDigest()), with the OpenSSL already in the process; where it cannot,
 * outputDigest() is undefined and the caller hashes.
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
import { noteStreamed } from '../young-garbage.js';

/** Bytes after the last member that are not another whole gzip member. */
export class TrailingGarbage extends Error {
  override readonly name = 'TrailingGarbage';
}

type AsyncCall = (...args: unknown[]) => void;

interface IsalApi {
  create: () => unknown;
  free: (ctx: unknown) => void;
  gunzip: { async: AsyncCall };
  hashOutput: (ctx: unknown) => number;
  outputDigest: (ctx: unknown, digest: Buffer) => number;
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
      hashOutput: lib.func('int skiff_gunzip_hash_output(void *)') as IsalApi['hashOutput'],
      outputDigest: lib.func('int skiff_gunzip_output_digest(void *, void *)') as IsalApi['outputDigest'],
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

const NO_INPUT = Buffer.alloc(0);

export class IsalGunzip extends Transform {
  private ctx: unknown;
  /** Filled by each call: input taken, output made, members completed, at a member's end. */
  private readonly io = new Uint32Array(4);
  /** Input not yet inflated, whole chunks; the first one from `pos` on. */
  private readonly queue: Buffer[] = [];
  private pos = 0;
  /** The last call filled its output: the inflater may have more to give without more input. */
  private outputFull = false;
  private busy = false;
  /** A call's output is being handled: the stream must not end before it is pushed. */
  private delivering = false;
  /** push() said stop: no call is started until the consumer reads (_read). */
  private waitingForRead = false;
  /** The write callback of the chunk that filled the queue: called once the first chunk is used up. */
  private heldWrite: TransformCallback | undefined;
  private flushed: TransformCallback | undefined;
  private freeWhenIdle = false;
  private fed = 0;
  private readonly hashing: boolean;
  private digest: string | undefined;

  constructor(private readonly isal: IsalApi) {
    super({ readableHighWaterMark: STREAM_CHUNK });
    const ctx = isal.create();
    if (ctx === null) throw new Error('cannot create an ISA-L inflate state (out of memory?)');
    this.ctx = ctx;
    this.hashing = isal.hashOutput(ctx) === 0;
  }

  /** sha256:<hex> of everything this stream gave, once it ended; undefined if the shim could not hash. */
  outputDigest(): string | undefined {
    return this.digest;
  }

  /** Whether outputDigest() will be there at the end. */
  get hashesOutput(): boolean {
    return this.hashing;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.fed += chunk.length;
    this.queue.push(chunk);
    // Take the next chunk while this one is inflated; hold the one after until this is used up.
    if (this.queue.length < 2) callback();
    else this.heldWrite = callback;
    this.#pump();
  }

  override _flush(callback: TransformCallback): void {
    this.flushed = callback;
    this.#pump();
  }

  override _read(size: number): void {
    super._read(size);
    this.waitingForRead = false;
    this.#pump();
  }

  /** Starts the next call if there is work and room for its output; else ends the stream once all input is inflated. */
  #pump(): void {
    if (this.#start()) return;
    if (this.flushed !== undefined && !this.busy && !this.delivering && this.queue.length === 0 && !this.outputFull && this.ctx !== null && !this.destroyed) {
      this.#finish(this.flushed);
    }
  }

  #start(): boolean {
    if (this.busy || this.waitingForRead || this.ctx === null || this.destroyed) return false;
    const chunk = this.queue[0];
    if (chunk === undefined && !this.outputFull) return false;
    const input = chunk === undefined ? NO_INPUT : chunk.subarray(this.pos);
    const out = Buffer.allocUnsafe(STREAM_CHUNK);
    this.busy = true;
    this.isal.gunzip.async(this.ctx, input, input.length, out, out.length, this.io, (err: unknown, ret: number) => {
      this.busy = false;
      if (this.freeWhenIdle) {
        this.#free();
        return;
      }
      if (err) {
        this.destroy(err as Error);
        return;
      }
      const [used = 0, made = 0, members = 0] = this.io;
      if (ret < 0) {
        const message = MESSAGES.get(ret) ?? `ISA-L inflate error ${ret}`;
        // A member ended well and what follows does not start like one: trailing garbage.
        this.destroy(members > 0 && HEADER_ERRORS.has(ret) ? new TrailingGarbage(message) : new Error(message));
        return;
      }
      this.outputFull = made === out.length;
      this.delivering = true;
      if (chunk !== undefined) {
        this.pos += used;
        if (this.pos === chunk.length) {
          this.queue.shift();
          this.pos = 0;
          const write = this.heldWrite;
          this.heldWrite = undefined;
          write?.();
        }
      }
      // The next call before this output goes on: the worker inflates while the consumer works.
      this.#start();
      if (made > 0) {
        noteStreamed(made);
        if (!this.push(made === out.length ? out : out.subarray(0, made))) this.waitingForRead = true;
      }
      // Only after the push: ending the stream first would put this output after its end.
      this.delivering = false;
      this.#pump();
    });
    return true;
  }

  /** All input inflated: a stream may end only at the end of a member. */
  #finish(callback: TransformCallback): void {
    this.flushed = undefined;
    const [, , members = 0, atEnd = 0] = this.io;
    if (this.fed === 0 || atEnd !== 1) {
      callback(members > 0 ? new TrailingGarbage('bytes after the last member that are not a whole gzip member') : new Error('unexpected end of file'));
      return;
    }
    if (this.hashing) {
      const digest = Buffer.alloc(32);
      if (this.isal.outputDigest(this.ctx, digest) !== 0) {
        callback(new Error('hashing the inflated layer failed (libcrypto)'));
        return;
      }
      this.digest = `sha256:${digest.toString('hex')}`;
    }
    callback();
  }

  #free(): void {
    if (this.ctx !== null) this.isal.free(this.ctx);
    this.ctx = null;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // A call in flight still uses the state: free it when that call returns.
    if (this.busy) this.freeWhenIdle = true;
    else this.#free();
    this.heldWrite = undefined;
    this.flushed = undefined;
    callback(err);
  }
}

/** An ISA-L gunzip Transform, or null when this host has none (or SKIFF_INFLATE=zlib asks for zlib). */
export function createIsalGunzip(env: NodeJS.ProcessEnv = process.env): IsalGunzip | null {
  if (env['SKIFF_INFLATE'] === 'zlib') return null;
  const isal = loadIsal();
  return isal === null ? null : new IsalGunzip(isal);
}

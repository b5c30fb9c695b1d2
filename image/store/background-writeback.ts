/**
 * Writes a layer back to disk while it is still being unpacked (issue 11 §3).
 *
 * A layer is made durable by one syncfs before its rename (layer-store.ts).
 * Left to itself, the kernel writes nothing of it back before then (with
 * GBs of RAM, dirty pages stay far below the background threshold), so that
 * syncfs found the whole layer and its blob dirty and the disk did all of its
 * work after the unpack, in turn with it: measured on the bench's 211 MB
 * layer, ~2 s of a 4.6 s fetch. Here a syncfs of the store's filesystem runs
 * on a pool thread every INTERVAL_MS while the layer is unpacked, one at a
 * time, so the disk writes while the CPU unpacks and the closing syncfs has
 * only the last part left. It changes nothing of what is durable when: the
 * closing syncfs is still what a rename waits for. On tmpfs a syncfs returns
 * at once. Its errors are not judged here: the closing syncfs reports them.
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { syncfsInPool } from '../../native/bindings/syncfs.js';

const INTERVAL_MS = 250;

/**
 * The write-back in flight in this process, whichever unpack started it: layers unpack three at a
 * time (fetch.ts), and three syncfs calls blocking three of libuv's four pool threads would leave
 * one for the inflating, hashing and blob writes. One syncfs writes back every layer's files anyway.
 */
let anyRunning: Promise<unknown> | undefined;

export interface WritebackOptions {
  intervalMs?: number;
  /** The write-back itself (tests count calls); default syncfs on a pool thread. */
  sync?: (fd: number) => Promise<unknown>;
}

export class BackgroundWriteback {
  private readonly fd: number;
  private readonly timer: NodeJS.Timeout;
  private readonly sync: (fd: number) => Promise<unknown>;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  /** `dir`: any dir on the filesystem to write back (the layer's scratch dir). */
  constructor(dir: string, options: WritebackOptions = {}) {
    this.fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    this.sync = options.sync ?? syncfsInPool;
    this.timer = setInterval(() => this.tick(), options.intervalMs ?? INTERVAL_MS);
    // Never what keeps a process alive.
    this.timer.unref();
  }

  private tick(): void {
    if (anyRunning !== undefined || this.stopped) return;
    const running = this.sync(this.fd)
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        anyRunning = undefined;
      });
    this.running = anyRunning = running;
  }

  /** Stops, waits for a syncfs in flight, and closes the fd. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    closeSync(this.fd);
  }
}

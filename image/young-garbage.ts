/**
 * Keeps a fetch's peak RSS near its live data (issue 16). Every chunk that
 * streams through a fetch (socket reads, inflated output, file reads) is a
 * fresh Buffer whose memory lives outside V8's heap. V8 frees such memory
 * only when it collects the small JS object that owns it, and it collects
 * when its heap fills, which these tiny objects barely do: measured on a
 * 95 MB layer, ~25-35 MB of dead chunks piled up before V8 looked, and the
 * allocator kept the pages afterwards (download alone: +39 MB RSS, +14 MB
 * with this). So after every STEP bytes streamed, a young-generation
 * collection (a scavenge: ~1 ms, only the newest objects) frees them, and
 * now and then a full one frees those that were still in flight.
 *
 * The collector is reached the way a Node embedder would: the expose-gc flag
 * set at run time, and `gc` read from a fresh context. Where that fails the
 * pacer does nothing and memory is V8's business as before.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const STEP = 4 * 1024 * 1024;
/**
 * Chunks still queued in a stream when a scavenge runs survive it and are
 * promoted to the old generation, where only a full collection frees them:
 * one every MAJOR_EVERY steps (a few ms with a fetch's small heap).
 */
const MAJOR_EVERY = 8;

type Gc = (options?: { type?: 'minor' | 'major' }) => void;

let collect: Gc | null | undefined;
let since = 0;
let steps = 0;

function collector(): Gc | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString('--expose-gc');
    const found = runInNewContext('gc') as unknown;
    collect = typeof found === 'function' ? (found as Gc) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/** Notes `bytes` streamed; collects the young generation once STEP bytes have passed. */
export function noteStreamed(bytes: number): void {
  since += bytes;
  if (since < STEP) return;
  since = 0;
  steps++;
  collector()?.({ type: steps % MAJOR_EVERY === 0 ? 'major' : 'minor' });
}

/**
 * Keeps V8's young generation at its start size (issue 16: a fetch's peak
 * RSS). V8 starts each semi-space at 1 MB and doubles it while objects
 * survive scavenges; the CLI's start-up and then a fetch's chunks (each
 * survives a scavenge while it waits in a stream) grew it to 16 MB committed
 * for ~1 MB of live young data. Measured on the 54 MB bench layer (bench/pull,
 * /usr/bin/time %M): growth factor 1 takes ~3 MB off the peak, no CPU time
 * measured; the short commands scavenge a few more times at ~0.5 ms each.
 *
 * Set at run time, as young-garbage.ts sets expose-gc: as a start-up flag
 * it would make V8 refuse the CLI bundle's code cache (a cache is only taken
 * under the flags it was made with). Tuning, never correctness: a V8 without
 * the flag keeps its default.
 */
import { setFlagsFromString } from 'node:v8';

export function keepYoungHeapSmall(): void {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // V8's default growth.
  }
}

/**
 * bench/overlay's writer: a child that writes leases to the store on command, so the bench can
 * write from where the store is reachable (etcd runs in a test netns: this process is started
 * there through nsenter; for the embedded store it needs no netns). One JSON command per stdin
 * line, one JSON answer per stdout line, with wall-clock times in ms (performance.timeOrigin +
 * now(), so a sub-ms time comparable across processes):
 *   {"op":"put","key":K,"value":V}            → {"before":t,"after":t}
 *   {"op":"many","entries":[[K,V],...],"concurrency":N} → {"first":t,"last":t}
 *   {"op":"del","key":K}                      → {"before":t,"after":t}
 * Leases are written as a host writes its own: create-if-absent with a TTL.
 *
 * Usage: node overlay-kv-writer.js DIR [ETCD_ENDPOINT]
 */
import { createInterface } from 'node:readline';
import { openKvStore } from '../network/kv/index.js';

const TTL_SECONDS = 3600;
const now = () => performance.timeOrigin + performance.now();

const [dir, endpoint] = process.argv.slice(2);
const kv = await openKvStore({ dir: dir!, ...(endpoint === undefined ? {} : { endpoints: [endpoint] }) });

type Command =
  | { op: 'put'; key: string; value: string }
  | { op: 'del'; key: string }
  | { op: 'many'; entries: Array<[string, string]>; concurrency: number };

async function create(key: string, value: string): Promise<void> {
  const r = await kv.createIfAbsent(key, value, { ttl: TTL_SECONDS });
  if (!r.ok) throw new Error(`${key} exists already`);
}

for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as Command;
  if (c.op === 'put' || c.op === 'del') {
    const before = now();
    if (c.op === 'put') await create(c.key, c.value);
    else await kv.delete(c.key);
    process.stdout.write(`${JSON.stringify({ before, after: now() })}\n`);
  } else {
    const first = now();
    let next = 0;
    await Promise.all(Array.from({ length: c.concurrency }, async () => {
      while (next < c.entries.length) {
        const [key, value] = c.entries[next++]!;
        await create(key, value);
      }
    }));
    process.stdout.write(`${JSON.stringify({ first, last: now() })}\n`);
  }
}
await kv.close();

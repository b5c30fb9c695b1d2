/**
 * A blob download that survives dropped connections. Layers are large and
 * registries sit behind load balancers that cut long transfers, so when the
 * body breaks off after N bytes the blob is asked for again with
 * `Range: bytes=N-` and the stream carries on where it stopped; the reader
 * never notices. A 206 must start at N (Content-Range); a server that ignores
 * Range answers 200 with the whole blob, and its first N bytes are skipped.
 * Failures in a row without progress are bounded by the retry policy.
 *
 * Bytes are passed through unverified (the blob store hashes them while
 * writing), but never more than the descriptor's size: a server that sends
 * more is cut off, so a wrong or hostile registry cannot fill the disk.
 */
import { Readable } from 'node:stream';
import { RegistryError, SkiffError, VerifyError } from '../../runtime/errors.js';
import type { BlobDescriptor } from '../source.js';
import type { RetryPolicy } from './options.js';
import { discard } from './bounded-body.js';
import { connectionError, type ErrorContext } from './registry-errors.js';
import { backoffDelay, isRetryableError, sleep } from './retry.js';
import type { HttpResponse } from './transport.js';

export interface ResumableBlobInit {
  descriptor: BlobDescriptor;
  policy: RetryPolicy;
  /** GET the blob from `offset` (with Range when > 0); resolves with a 200 or 206, or throws. */
  open(offset: number): Promise<HttpResponse>;
  context(url: string): ErrorContext;
}

/** However much each try gets, a blob is not asked for more often than this. */
const MAX_RESUMES = 64;

class BodyEndedEarly extends Error {
  override readonly name = 'BodyEndedEarly';
}

/** Opens the blob (errors such as 404 reject here) and returns its resuming stream. */
export async function openResumableBlob(init: ResumableBlobInit): Promise<Readable> {
  const first = await init.open(0);
  const length = Number(first.headers['content-length']);
  if (first.status === 200 && Number.isFinite(length) && first.headers['content-length'] !== undefined && length !== init.descriptor.size) {
    discard(first.body);
    throw new VerifyError(
      `blob ${init.descriptor.digest} from ${first.url.href} has the wrong size`,
      `${init.descriptor.size} bytes`,
      `${length} bytes (Content-Length)`,
      { input: init.context(first.url.href).input },
    );
  }
  return Readable.from(chunks(first, init), { objectMode: false });
}

async function* chunks(first: HttpResponse, init: ResumableBlobInit): AsyncGenerator<Buffer> {
  const { descriptor, policy } = init;
  let res = first;
  let offset = 0;
  let failures = 0;
  for (let resumes = 0; ; resumes++) {
    let skip = startOffset(res, offset, init);
    const before = offset;
    try {
      for await (const chunk of res.body) {
        let buf = chunk as Buffer;
        if (skip > 0) {
          if (buf.length <= skip) {
            skip -= buf.length;
            continue;
          }
          buf = buf.subarray(skip);
          skip = 0;
        }
        offset += buf.length;
        if (offset > descriptor.size) {
          throw new VerifyError(`blob ${descriptor.digest} from ${res.url.href} is longer than its descriptor says`, `${descriptor.size} bytes`, `at least ${offset} bytes`, {
            input: init.context(res.url.href).input,
          });
        }
        yield buf;
      }
      if (offset === descriptor.size) return;
      throw new BodyEndedEarly(`the body ended after ${offset} of ${descriptor.size} bytes`);
    } catch (err) {
      if (err instanceof SkiffError) throw err;
      if (!(err instanceof BodyEndedEarly) && !isRetryableError(err)) throw connectionError(err, init.context(res.url.href));
      failures = offset > before ? 1 : failures + 1;
      if (failures >= policy.attempts || resumes >= MAX_RESUMES) {
        const how = failures >= policy.attempts ? `${failures} times in a row without progress` : `after ${resumes} resumes`;
        throw new RegistryError(
          `${init.context(res.url.href).input}: blob ${descriptor.digest} broke off at byte ${offset} of ${descriptor.size}, ${how} (${(err as Error).message})`,
          { input: init.context(res.url.href).input, cause: err, hint: 'check the network to the registry and try again' },
        );
      }
      await sleep(backoffDelay(failures, policy), policy);
    } finally {
      discard(res.body);
    }
    res = await init.open(offset);
  }
}

/** How many bytes of this response to drop so the stream continues at `offset`. */
function startOffset(res: HttpResponse, offset: number, init: ResumableBlobInit): number {
  if (offset === 0) return 0;
  if (res.status === 200) return offset;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  if (range === null || Number(range[1]) !== offset) {
    discard(res.body);
    throw new RegistryError(
      `${init.context(res.url.href).input}: asked ${res.url.href} for bytes ${offset}- of blob ${init.descriptor.digest} and got Content-Range "${String(res.headers['content-range'] ?? '')}"`,
      { input: init.context(res.url.href).input, status: 206 },
    );
  }
  return 0;
}

/**
 * Reads a response body into memory, but never more than a limit: manifests,
 * tokens and error bodies come from a server we do not control, and a hostile
 * or broken one must not make us buffer gigabytes. Past the limit the body is
 * destroyed (closing the connection) and `tooBig` says what to throw.
 */
import type { HttpResponse } from './transport.js';

export async function readBounded(body: HttpResponse['body'], max: number, tooBig?: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    length += buf.length;
    if (length > max) {
      discard(body);
      if (tooBig) throw tooBig();
      return Buffer.concat(chunks);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, length);
}

/**
 * Drops a body we will not read, closing its connection. A destroyed body may
 * still emit an 'error', and with no listener that error would be uncaught.
 */
export function discard(body: HttpResponse['body']): void {
  body.on('error', () => {});
  if (!body.destroyed) body.destroy();
}

/** A body this small is read to its end so its connection is kept; a bigger one closes it. */
const DUMP_MAX = 128 * 1024;

/** Drops a body we will not read (a redirect's, a retried 5xx's), keeping the connection when it is short. */
export async function dump(body: HttpResponse['body']): Promise<void> {
  try {
    await readBounded(body, DUMP_MAX);
  } catch {
    // Its connection broke: nothing was wanted from it anyway.
  }
}

/** An error body, for messages: at most 64 KiB, and never an error of its own. */
export async function readErrorText(body: HttpResponse['body']): Promise<string> {
  try {
    return (await readBounded(body, 64 * 1024)).toString('utf8');
  } catch {
    return '';
  }
}

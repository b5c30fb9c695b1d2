/**
 * The async iterator both watch implementations hand out. A producer loop (the etcd stream
 * reader, the embedded store's poller) pushes events; the consumer pulls them with `for await`.
 *
 * Why not an async generator: breaking out of `for await` calls the generator's return(), which
 * waits until the generator reaches its next `yield`, i.e. until the next event arrives, which on
 * a quiet prefix may be never. Here return() aborts the producer at once.
 */
export type Producer<T> = (push: (value: T) => void, signal: AbortSignal) => Promise<void>;

export class WatchChannel<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  readonly #abort = new AbortController();
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  #done = false;
  #error: unknown;

  /** Starts `produce` at once, so a watch exists from the moment watch() returns. */
  constructor(produce: Producer<T>, outer?: AbortSignal) {
    if (outer?.aborted) {
      this.#finish();
      return;
    }
    const onAbort = (): void => this.#finish();
    outer?.addEventListener('abort', onAbort, { once: true });
    produce((value) => this.#push(value), this.#abort.signal).then(
      () => this.#finish(),
      (err: unknown) => this.#finish(this.#abort.signal.aborted ? undefined : err),
    ).finally(() => outer?.removeEventListener('abort', onAbort));
  }

  /** Ends the producer (e.g. the store is closing); queued events are still delivered. */
  end(): void {
    this.#finish();
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.#queue.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.#done) {
      const err = this.#error;
      this.#error = undefined;
      return err === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#queue.length = 0;
    this.#finish();
    this.#error = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #push(value: T): void {
    if (this.#done) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve({ value, done: false });
    } else {
      this.#queue.push(value);
    }
  }

  #finish(err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#abort.abort();
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    this.#error = undefined;
    if (err === undefined) waiter.resolve({ value: undefined, done: true });
    else waiter.reject(err);
  }
}

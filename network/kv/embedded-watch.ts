/**
 * Wake-ups for the embedded store's watches: a change in the store's directory (inotify through
 * fs.watch: another process appended to the journal or replaced it), a write by this process,
 * or a timer: the next lease expiry (someone must record it, and a watcher is as good as
 * anyone) or, as the fallback, a poll, for file systems where inotify sees nothing (NFS).
 */
import { watch, type FSWatcher } from 'node:fs';

/** The poll when inotify works; when it does not, the poll is all there is. */
const POLL_MS = 1_000;
const POLL_WITHOUT_INOTIFY_MS = 100;

export class ChangeNotifier {
  readonly #dir: string;
  readonly #subscribers = new Set<Subscription>();
  #watcher: FSWatcher | undefined;
  #inotify = true;

  constructor(dir: string) {
    this.#dir = dir;
  }

  subscribe(): Subscription {
    const sub = new Subscription(() => {
      this.#subscribers.delete(sub);
      if (this.#subscribers.size === 0) this.#stopWatching();
    }, () => (this.#inotify ? POLL_MS : POLL_WITHOUT_INOTIFY_MS));
    this.#subscribers.add(sub);
    this.#startWatching();
    return sub;
  }

  /** Something changed (this process wrote, or inotify said so). */
  notify(): void {
    for (const sub of this.#subscribers) sub.poke();
  }

  close(): void {
    for (const sub of [...this.#subscribers]) sub.close();
    this.#stopWatching();
  }

  #startWatching(): void {
    if (this.#watcher !== undefined || !this.#inotify) return;
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, () => this.notify());
      this.#watcher.on('error', () => {
        this.#inotify = false;
        this.#stopWatching();
      });
    } catch {
      this.#inotify = false;
    }
  }

  #stopWatching(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

export class Subscription {
  #dirty = false;
  #wake: (() => void) | undefined;
  readonly #onClose: () => void;
  readonly #pollMs: () => number;

  constructor(onClose: () => void, pollMs: () => number) {
    this.#onClose = onClose;
    this.#pollMs = pollMs;
  }

  poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Resolves on a change since the last wait, after `maxMs` (capped by the poll), or on abort. */
  wait(maxMs: number, signal: AbortSignal): Promise<void> {
    if (this.#dirty || signal.aborted) {
      this.#dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        this.#dirty = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(maxMs, this.#pollMs())));
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  close(): void {
    this.#wake?.();
    this.#onClose();
  }
}

/**
 * One process's handle on the embedded store's journal (format in embedded-log.ts): it reads
 * what other processes appended (refresh), appends under the store's lock, and rewrites the
 * journal when it has grown (compaction).
 *
 * Concurrency: every change happens under an exclusive flock on `<dir>/lock` (released by the
 * kernel if the holder dies), after catching up with the journal, so it is decided on the latest
 * state: two processes racing createIfAbsent on one key cannot both win. Reads take no lock: they
 * read to the last complete line; appends are single write() calls, and a line is visible whole
 * or not at all up to its newline. A compacted journal replaces the old one by rename; readers
 * notice by the inode and read the new one from the start.
 *
 * Everything between taking the lock and releasing it is synchronous, so the in-memory state
 * cannot change under a decision, also not from this process's other async calls.
 */
import {
  closeSync,
  constants as fsConstants,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { LockHeldError } from '../../runtime/errors.js';
import { tryFlock } from '../../native/flock.js';
import { encodeRecord, parseRecords, type LogRecord } from './embedded-log.js';
import { KvState } from './embedded-state.js';
import { KvCorruptError } from './kv-errors.js';

const LOCK_TIMEOUT_MS = 30_000;
/**
 * Waiting for the lock polls (a blocking flock would stall Node's event loop). The holder keeps it
 * for a millisecond or so (one fdatasync), so the poll stays short: with native/flock.ts's
 * backoff to 100 ms, a busy writer in one process starved a racing one in another.
 */
const LOCK_POLL_MAX_MS = 4;
export interface JournalOptions {
  /**
   * Compact automatically once what follows the snapshot passes this many bytes (and twice the
   * snapshot, and twice what the last compaction kept, so a journal that cannot shrink is not
   * rewritten on every write). Default 4 MiB.
   */
  compactMinBytes?: number;
  /** Revisions of history automatic compaction keeps, so lagging watchers need no resync. Default 1,000. */
  retainedRevisions?: number;
}

const DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024;
const DEFAULT_RETAINED_REVISIONS = 1_000;

export interface Tx {
  readonly state: KvState;
  /** Applies the record to the state now and writes it when the transaction ends. */
  append(record: LogRecord): void;
}

export class Journal {
  readonly dir: string;
  readonly path: string;
  readonly #lockPath: string;
  #fd: number | undefined;
  #ino: number | undefined;
  /** Where the last good line ends: reads resume here, appends go here. */
  #offset = 0;
  /** Where the snapshot line ends: the journal's growth is measured from here. */
  #snapshotEnd = 0;
  /** What followed the snapshot right after the last compaction by this process. */
  #tailAfterCompaction = 0;
  readonly #compactMinBytes: number;
  readonly #retainedRevisions: number;
  #state = new KvState();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: JournalOptions) {
    this.#compactMinBytes = options.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
    this.#retainedRevisions = options.retainedRevisions ?? DEFAULT_RETAINED_REVISIONS;
    this.dir = dir;
    this.path = join(dir, 'journal');
    this.#lockPath = join(dir, 'lock');
  }

  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const journal = new Journal(dir, options);
    if (!exists(journal.path)) {
      await journal.#locked(() => {
        if (!exists(journal.path)) writeFileAtomic(journal.path, encodeRecord(new KvState().snapshot(0)), 0o600);
      });
    }
    journal.refresh(false);
    return journal;
  }

  get state(): KvState {
    return this.#state;
  }

  /**
   * Catches up with the journal. Unlocked (a reader), a bad line just ends the read: it may be a
   * writer's line in progress. Locked, a bad line followed by more data is damage.
   */
  refresh(locked: boolean): void {
    const ino = statSync(this.path).ino;
    if (this.#fd === undefined || ino !== this.#ino) {
      this.#reload(locked);
      return;
    }
    const size = fstatSync(this.#fd).size;
    if (size <= this.#offset) return;
    const buf = readRange(this.#fd, this.#offset, size);
    const parsed = parseRecords(buf);
    if (parsed.damaged && locked) throw this.#damaged(this.#offset + parsed.goodEnd);
    for (const { record } of parsed.lines) this.#state.apply(record);
    this.#offset += parsed.goodEnd;
  }

  /**
   * Runs `fn` under the store's lock on the latest state, after recording the expiry of any lease
   * past its time, and makes what it appended durable before the lock is released.
   */
  transact<T>(fn: (tx: Tx) => T): Promise<T> {
    return this.#locked(() => {
      this.refresh(true);
      this.#cutTornTail();
      const pending: string[] = [];
      const tx: Tx = {
        state: this.#state,
        append: (record) => {
          this.#state.apply(record);
          pending.push(encodeRecord(record));
        },
      };
      let result: T;
      try {
        expireLeases(tx, Date.now());
        result = fn(tx);
        if (pending.length > 0) this.#write(Buffer.from(pending.join(''), 'utf8'));
      } catch (err) {
        // The state may hold records that never reached the file: read it afresh next time.
        if (pending.length > 0) this.#forget();
        throw err;
      }
      const tail = this.#offset - this.#snapshotEnd;
      if (tail > Math.max(this.#compactMinBytes, 2 * this.#snapshotEnd, 2 * this.#tailAfterCompaction)) {
        try {
          this.#rewrite(Math.max(this.#state.compactRevision, this.#state.revision - this.#retainedRevisions + 1));
          this.#tailAfterCompaction = this.#offset - this.#snapshotEnd;
        } catch {
          // The write above is durable and the old journal whole (the rewrite is a rename);
          // a disk too full to compact only means a longer journal, tried again once it doubled.
          this.#tailAfterCompaction = tail;
          this.#forget();
        }
      }
      return result;
    });
  }

  /** Resolves once every transaction queued so far has finished. */
  idle(): Promise<void> {
    return this.#queue.then(() => undefined);
  }

  /** Drops the history before `revision` (call inside transact). */
  compact(revision: number): void {
    this.#rewrite(revision);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#ino = undefined;
  }

  /** In-process order first (one flock per process at a time), then the flock across processes. */
  #locked<T>(fn: () => T): Promise<T> {
    const run = this.#queue.then(async () => {
      const fd = await this.#lock();
      try {
        return fn();
      } finally {
        closeSync(fd);
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The flock on `<dir>/lock`, held until the returned fd is closed (or the process dies). */
  async #lock(): Promise<number> {
    const fd = openSync(this.#lockPath, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600);
    try {
      const deadline = Date.now() + LOCK_TIMEOUT_MS;
      for (let delay = 1; !tryFlock(fd, 'exclusive', this.#lockPath); delay = Math.min(delay * 2, LOCK_POLL_MAX_MS)) {
        if (Date.now() > deadline) {
          throw new LockHeldError(`the kv store ${this.dir} stayed locked for ${LOCK_TIMEOUT_MS / 1000} s`, {
            input: this.#lockPath,
            hint: 'another process holds it; check for a stuck skiff process',
          });
        }
        await sleep(delay);
      }
      return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  #reload(locked: boolean): void {
    const fd = openSync(this.path, 'r+');
    try {
      const size = fstatSync(fd).size;
      const parsed = parseRecords(readRange(fd, 0, size));
      const first = parsed.lines[0]?.record;
      if (first?.t !== 'snap') throw new KvCorruptError(`${this.path} does not start with a snapshot record`, { input: this.path });
      if (parsed.damaged && locked) throw this.#damaged(parsed.goodEnd);
      const state = KvState.fromSnapshot(first);
      for (const { record } of parsed.lines.slice(1)) state.apply(record);
      this.close();
      this.#fd = fd;
      this.#ino = fstatSync(fd).ino;
      this.#offset = parsed.goodEnd;
      this.#snapshotEnd = parsed.lines[0]!.end;
      this.#state = state;
    } catch (err) {
      if (this.#fd !== fd) closeSync(fd);
      throw err;
    }
  }

  /** A crashed writer's partial line: only ever at the end, cut off before appending. */
  #cutTornTail(): void {
    const fd = this.#fd!;
    if (fstatSync(fd).size > this.#offset) {
      ftruncateSync(fd, this.#offset);
      fdatasyncSync(fd);
    }
  }

  #write(buf: Buffer): void {
    const fd = this.#fd!;
    let done = 0;
    while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, this.#offset + done);
    fdatasyncSync(fd);
    this.#offset += buf.length;
  }

  #forget(): void {
    this.close();
  }

  /**
   * Writes a new journal: the state just before `revision` as the snapshot, then the records from
   * `revision` on (lease keepalives folded: only each lease's last one matters), and renames it
   * over the old one. A crash leaves either journal whole.
   */
  #rewrite(revision: number): void {
    const fd = this.#fd!;
    const parsed = parseRecords(readRange(fd, 0, this.#offset));
    const first = parsed.lines[0]!.record as Extract<LogRecord, { t: 'snap' }>;
    const folded = KvState.fromSnapshot(first);
    let i = 1;
    let foldedChanges = false;
    for (; i < parsed.lines.length; i++) {
      const record = parsed.lines[i]!.record;
      const r = 'r' in record ? record.r : undefined;
      if (r !== undefined && r >= revision) break;
      folded.apply(record);
      if (r !== undefined) foldedChanges = true;
    }
    const tail = parsed.lines.slice(i).map((l) => l.record);
    const lastKeep = new Map<string, number>();
    tail.forEach((record, index) => {
      if (record.t === 'keep' || record.t === 'revoke') lastKeep.set(record.id, index);
    });
    const kept = tail.filter((record, index) => record.t !== 'keep' || lastKeep.get(record.id) === index);
    const compact = foldedChanges ? folded.revision + 1 : first.compact;
    const text = [encodeRecord(folded.snapshot(compact)), ...kept.map(encodeRecord)].join('');
    this.#removeStaleTempFiles();
    writeFileAtomic(this.path, text, 0o600);
    this.#reload(true);
  }

  /** A compaction cut short by a crash leaves its temp file; only a lock holder writes one. */
  #removeStaleTempFiles(): void {
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith('.journal.tmp-')) rmSync(join(this.dir, name), { force: true });
    }
  }

  #damaged(at: number): KvCorruptError {
    return new KvCorruptError(`${this.path} has a damaged record at byte ${at} with more records after it`, { input: this.path });
  }
}

/** Records the expiry of every lease past its time: its keys go, with DELETE events. */
function expireLeases(tx: Tx, now: number): void {
  for (const lease of tx.state.expired(now)) {
    const keys = [...lease.keys].sort();
    tx.append(keys.length > 0 ? { t: 'revoke', id: lease.id, r: tx.state.revision + 1, k: keys } : { t: 'revoke', id: lease.id, k: [] });
  }
}

function readRange(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.alloc(to - from);
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, from + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

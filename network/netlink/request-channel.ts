/**
 * Requests over one rtnetlink socket, pipelined.
 *
 * Why a window: the kernel handles a request inside sendmsg() and queues the
 * ACK on our socket at once. Sent all together, 1,000 requests would queue
 * 1,000 ACKs (each echoing the request) before we read one; past the receive
 * buffer the kernel drops ACKs and flags ENOBUFS, and the dropped requests'
 * promises would never settle. So at most `window` requests are in flight;
 * more wait in FIFO order. That still programs 1,000 peers in a few tens of
 * ms (the measured rate is in network/README.md).
 *
 * Why dumps run alone: the package gathers one multipart reply at a time and
 * cuts it short when any other message arrives in between, and the kernel
 * runs one dump per socket (EBUSY). So a dump waits for the requests before
 * it to finish, and the ones after it wait for the dump.
 *
 * Why checkError:false: the ERROR message carries the errno as a number; we
 * read it here rather than parse the package's "Request rejected: EEXIST".
 */
import { Flags, FlagsGet, MessageType, parseError, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import { fromPackageError, NetlinkError } from './netlink-error.js';

/**
 * 64 ACKs (~0.8 KB of receive buffer each: the kernel echoes the request)
 * fit the default 208 KB buffer four times over. Measured: ~270 outstanding
 * ACKs overflow it, and the package's native ENOBUFS path then aborts the
 * whole process ("terminate called after throwing an instance of
 * 'Napi::Error'"), so the window is capped well below that. 64 was the
 * fastest setting measured (1 → 64: ~4× the rate; 128: no better).
 */
export const DEFAULT_WINDOW = 64;
export const MAX_WINDOW = 128;

/** A dump the kernel marked inconsistent (NLM_F_DUMP_INTR: the table changed under it) is retried. */
const DUMP_RETRIES = 5;

interface Job {
  dump: boolean;
  type: number;
  payload: Uint8Array[];
  flags: number;
  operation: string;
  resolve(messages: NetlinkMessage[]): void;
  reject(err: unknown): void;
}

export class RequestChannel {
  private readonly queue: Job[] = [];
  private readonly running = new Set<Job>();
  private dumping = false;
  private failure: NetlinkError | undefined;

  private readonly window: number;
  /** Our address, read once: the package would otherwise ask the kernel (getsockname) for every message. */
  private readonly localPort: number;

  constructor(private readonly socket: NetlinkSocket, window = DEFAULT_WINDOW) {
    this.window = Math.max(1, Math.min(MAX_WINDOW, Math.floor(window)));
    this.localPort = socket.address().port;
    // An 'error' on the socket (a failed recvmsg) means some promises would
    // never settle: fail everything and close, loudly.
    socket.on('error', (err) => this.fail(fromPackageError('netlink socket', err)));
  }

  /** A request that expects an ACK (or one reply); resolves to the replies, without the ACK. */
  request(type: number, payload: Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    return this.enqueue(false, type, payload, flags, operation);
  }

  /** A dump (NLM_F_DUMP): resolves to every message of the reply. */
  dump(type: number, payload: Uint8Array[], operation: string): Promise<NetlinkMessage[]> {
    return this.enqueue(true, type, payload, FlagsGet.DUMP, operation);
  }

  close(): void {
    this.fail(new NetlinkError('netlink socket closed', 0));
  }

  private enqueue(dump: boolean, type: number, payload: Uint8Array[], flags: number, operation: string): Promise<NetlinkMessage[]> {
    if (this.failure !== undefined) return Promise.reject(new NetlinkError(operation, this.failure.errno, { cause: this.failure }));
    return new Promise((resolve, reject) => {
      this.queue.push({ dump, type, payload, flags, operation, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.failure === undefined) {
      const job = this.queue[0]!;
      if (this.dumping) return;
      if (job.dump ? this.running.size > 0 : this.running.size >= this.window) return;
      this.queue.shift();
      this.running.add(job);
      if (job.dump) this.dumping = true;
      void this.start(job);
    }
  }

  private async start(job: Job): Promise<void> {
    try {
      const messages = job.dump ? await this.runDump(job) : await this.send(job);
      if (this.running.has(job)) job.resolve(messages);
    } catch (err) {
      if (this.running.has(job)) job.reject(fromPackageError(job.operation, err));
    } finally {
      this.running.delete(job);
      if (job.dump) this.dumping = false;
      this.pump();
    }
  }

  private async send(job: Job): Promise<NetlinkMessage[]> {
    const [messages] = await this.socket.request(job.type, job.payload, { flags: job.flags, checkError: false, localPort: this.localPort });
    const replies: NetlinkMessage[] = [];
    for (const m of messages) {
      if (m.type === MessageType.ERROR) {
        const { errno } = parseError(m.data, m.flags);
        if (errno !== 0) throw new NetlinkError(job.operation, -errno);
      } else if (m.type !== MessageType.DONE) {
        replies.push(m);
      }
    }
    return replies;
  }

  private async runDump(job: Job): Promise<NetlinkMessage[]> {
    for (let attempt = 0; ; attempt++) {
      const replies = await this.send(job);
      if (!replies.some((m) => (m.flags & Flags.DUMP_INTR) !== 0) || attempt >= DUMP_RETRIES) return replies;
    }
  }

  private fail(err: NetlinkError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    const pending = [...this.running, ...this.queue.splice(0)];
    this.running.clear();
    for (const job of pending) job.reject(new NetlinkError(job.operation, err.errno, { cause: err }));
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}

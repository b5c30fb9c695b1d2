/**
 * HTTP to etcd's v3 JSON gateway over undici, with endpoint failover and authentication.
 *
 * Failover: requests go to the endpoint that last answered; on a connection failure, a 5xx or
 * gRPC Unavailable they move on to the next one, in order, and the one that answers becomes the
 * preferred one. When every endpoint failed the error lists each one's reason.
 *
 * A write whose connection broke after it was sent may have been applied before it is retried on
 * the next endpoint; callers of conditional writes see that as a conflict with their own value
 * (the lease-holding daemon recognises its own lease; see etcd-store.ts createIfAbsent).
 *
 * Auth: with a user name, a token from /v3/auth/authenticate is sent as the `Authorization`
 * header (the gateway's convention, no "Bearer"). etcd's simple tokens expire after minutes of
 * disuse and all vanish when etcd restarts, so "invalid auth token" re-authenticates once and
 * retries; refused credentials are a KvAuthError at once.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { endpointName, loadTls, parseEndpoints, type EtcdOptions } from './etcd-endpoints.js';
import { KvAuthError, KvRequestError, KvUnavailableError } from './kv-errors.js';

const CONNECT_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 15_000;
/**
 * A watch asks for progress notifications, which etcd sends every 10 minutes on a quiet watch:
 * a stream silent for longer sits on a connection that died without a reset (a partition), and
 * is dropped and re-created.
 */
const WATCH_IDLE_TIMEOUT_MS = 11 * 60_000;

/** gRPC status codes etcd puts in its error bodies. */
export const GRPC = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface GatewayError {
  error?: string;
  message?: string;
  code?: number;
}

/** An answer from one endpoint that says that endpoint (not the request) is the problem. */
class EndpointFailure extends Error {}

export class EtcdTransport {
  readonly endpoints: readonly URL[];
  readonly #agent: Agent;
  readonly #username: string | undefined;
  readonly #password: string | undefined;
  #preferred = 0;
  #token: Promise<string> | undefined;

  constructor(opts: EtcdOptions) {
    const tls = loadTls(opts);
    this.endpoints = parseEndpoints(opts.endpoints, tls !== undefined);
    this.#agent = new Agent({
      connect: { ...tls, timeout: CONNECT_TIMEOUT_MS },
      keepAliveTimeout: 30_000,
    });
    if ((opts.username === undefined) !== (opts.password === undefined)) {
      throw new KvAuthError('--etcd-username and --etcd-password go together; one was given without the other');
    }
    this.#username = opts.username;
    this.#password = opts.password;
  }

  get describe(): string {
    return this.endpoints.map(endpointName).join(',');
  }

  /** A unary gateway call (`path` like '/v3/kv/range'); `what` names it in errors. */
  async call<T>(path: string, body: object, what: string): Promise<T> {
    const res = await this.#send(path, body, what, { timeoutMs: REQUEST_TIMEOUT_MS });
    const text = await res.body.text();
    return JSON.parse(text) as T;
  }

  /** A streaming call (the watch): the open response body, read by the caller until it ends. */
  async stream(path: string, body: object, what: string, signal: AbortSignal): Promise<Dispatcher.ResponseData['body']> {
    const res = await this.#send(path, body, what, { timeoutMs: WATCH_IDLE_TIMEOUT_MS, signal });
    return res.body;
  }

  /** Forgets the token (a watch was cancelled for an invalid one); the next request authenticates. */
  invalidateToken(): void {
    this.#token = undefined;
  }

  get usesAuth(): boolean {
    return this.#username !== undefined;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  async #send(
    path: string,
    body: object,
    what: string,
    opts: { timeoutMs: number; signal?: AbortSignal; noAuth?: boolean },
  ): Promise<Dispatcher.ResponseData> {
    const reasons: Array<{ endpoint: string; reason: string }> = [];
    let reauthenticated = false;
    const n = this.endpoints.length;
    for (let tried = 0; tried < n; tried++) {
      const index = (this.#preferred + tried) % n;
      const url = this.endpoints[index]!;
      try {
        for (;;) {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          const token = opts.noAuth ? undefined : await this.#tokenFor();
          if (token) headers['authorization'] = token;
          const res = await request(new URL(path, url), {
            method: 'POST',
            dispatcher: this.#agent,
            headers,
            body: JSON.stringify(body),
            signal: opts.signal,
            headersTimeout: REQUEST_TIMEOUT_MS,
            bodyTimeout: opts.timeoutMs,
          });
          if (res.statusCode === 200) {
            this.#preferred = index;
            return res;
          }
          const err = parseGatewayError(await res.body.text());
          const message = err.error ?? err.message ?? `HTTP ${res.statusCode}`;
          if (endpointFailed(res.statusCode, err)) {
            throw new EndpointFailure(`HTTP ${res.statusCode}: ${message}`);
          }
          if (isStaleToken(err) && token && !reauthenticated) {
            reauthenticated = true;
            this.#token = undefined;
            continue;
          }
          throw classifyError(what, message, err.code, res.statusCode);
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        if (err instanceof KvAuthError || err instanceof KvRequestError) throw err;
        reasons.push({ endpoint: endpointName(url), reason: describeFailure(err) });
      }
    }
    throw new KvUnavailableError(what, reasons);
  }

  #tokenFor(): Promise<string | undefined> {
    if (this.#username === undefined) return Promise.resolve(undefined);
    this.#token ??= this.#authenticate().catch((err: unknown) => {
      this.#token = undefined;
      throw err;
    });
    return this.#token;
  }

  async #authenticate(): Promise<string> {
    const res = await this.#send(
      '/v3/auth/authenticate',
      { name: this.#username, password: this.#password },
      `authenticate as ${this.#username}`,
      { timeoutMs: REQUEST_TIMEOUT_MS, noAuth: true },
    );
    const parsed = JSON.parse(await res.body.text()) as { token?: string };
    if (parsed.token === undefined || parsed.token === '') {
      // etcd answers authenticate without a token when auth is not enabled: send none.
      return '';
    }
    return parsed.token;
  }
}

function parseGatewayError(text: string): GatewayError {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as GatewayError) : {};
  } catch {
    return { error: text.trim().slice(0, 200) };
  }
}

/**
 * An answer that says the endpoint, not the request, failed: try the next one,
 * or again later. Besides 5xx, UNAVAILABLE and DEADLINE_EXCEEDED: CANCELLED
 * (HTTP 408), which the gateway answers when its own connection to etcd
 * closes under a call, as etcd shuts down ("grpc: the client connection is
 * closing"; a watch was lost to it during a restart). A call we cancel
 * ourselves never gets here: its abort is handled first.
 */
export function endpointFailed(statusCode: number, err: { code?: number }): boolean {
  return statusCode >= 500 || err.code === GRPC.UNAVAILABLE || err.code === GRPC.DEADLINE_EXCEEDED || err.code === GRPC.CANCELLED;
}

/** etcd lost our token (expired, or etcd restarted) or changed its auth store since it was issued. */
export function isStaleToken(err: { code?: number; error?: string; message?: string }): boolean {
  const text = err.error ?? err.message ?? '';
  // A watch's cancel_reason carries no code, just the text ("rpc error: code = Unauthenticated
  // desc = etcdserver: invalid auth token").
  return /invalid auth token|auth: revision in header is old/.test(text);
}

export function classifyError(what: string, message: string, code: number | undefined, httpStatus?: number): KvAuthError | KvRequestError {
  if (/user name is empty/.test(message)) {
    return new KvAuthError(`${what}: etcd has authentication enabled and no user was given (${message})`);
  }
  if (/authentication failed|invalid auth token|permission denied|user name not found/.test(message) || code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED) {
    return new KvAuthError(`${what}: ${message}`);
  }
  return new KvRequestError(`${what}: ${message}`, {
    ...(code === undefined ? {} : { grpcCode: code }),
    ...(httpStatus === undefined ? {} : { httpStatus }),
  });
}

function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    const text = e.message !== '' ? e.message : (code ?? e.name);
    if (!parts.some((p) => p.includes(text))) parts.push(code !== undefined && !text.includes(code) ? `${code} ${text}` : text);
  }
  return parts.join(': ');
}

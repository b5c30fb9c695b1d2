/**
 * HTTP for the registry client, on node:http/https: one keep-alive Agent per
 * host (a pull's many requests share a few connections; per host because TLS
 * trust is per host), redirects followed by hand, retries with backoff.
 *
 * Why not undici (DESIGN.md's "one client for both" registry and etcd): a
 * fetch is memory-bound on small hosts, and loading undici and making its
 * first request costs ~24 MB of RSS against ~2 MB for node:http, which is in
 * every Node already (bench/results/pull-*.md, issue 16). The registry client
 * needs nothing undici alone has: plain GETs, one form POST, bodies streamed.
 *
 * Trust follows docker's certs.d convention: `<certsDir>/<host[:port]>/*.crt`
 * are CAs added to the system roots, `client.cert` + `client.key` a client
 * identity. Redirects (blob downloads often go to an object store) are
 * followed by hand so that the Authorization header, which is for the
 * registry, never goes to another origin, and https is never downgraded to
 * http unless plain http was allowed.
 *
 * Timeouts: connecting (connectMs), then waiting for the headers (headersMs),
 * then silence within the body (bodyIdleMs); each fails the request with
 * ETIMEDOUT, which the retry policy treats as a dropped connection.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { RegistryError } from '../../runtime/errors.js';
import { dump } from './bounded-body.js';
import type { ResolvedOptions } from './options.js';
import { connectionError, type ErrorContext } from './registry-errors.js';
import { backoffDelay, isRetryableError, isRetryableStatus, retryAfterMs, sleep } from './retry.js';

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export type HttpHeaders = Record<string, string | string[] | undefined>;

export interface HttpResponse {
  status: number;
  headers: HttpHeaders;
  body: http.IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

export interface SendInit {
  method?: 'GET' | 'HEAD' | 'POST';
  headers: Record<string, string>;
  /** Only for POST (the OAuth token grant); a POST is never redirected. */
  body?: string;
}

function timedOut(what: string, ms: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
}

export class Transport {
  readonly #options: ResolvedOptions;
  readonly #agents = new Map<string, http.Agent>();

  constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  /** The Agent for an origin, built on first use with that host's certs.d trust. */
  agentFor(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const common = { keepAlive: true, scheduling: 'lifo' as const };
      agent =
        url.protocol === 'https:'
          ? new https.Agent({ ...common, ...this.#tlsFor(url.host), rejectUnauthorized: !this.#options.skipTlsVerify })
          : new http.Agent(common);
      this.#agents.set(key, agent);
    }
    return agent;
  }

  #tlsFor(host: string): { ca?: string[]; cert?: string; key?: string } {
    const dir = join(this.#options.certsDir, host);
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch {
      return {};
    }
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    const cas = files.filter((f) => f.endsWith('.crt')).sort().map(read);
    const tls: { ca?: string[]; cert?: string; key?: string } = cas.length > 0 ? { ca: [...rootCertificates, ...cas] } : {};
    const cert = files.find((f) => f.endsWith('.cert'));
    if (cert !== undefined) {
      const key = cert.replace(/\.cert$/, '.key');
      if (!files.includes(key)) {
        throw new RegistryError(`${dir}/${cert} has no matching ${key}`, { input: dir, hint: 'add the client key or remove the certificate' });
      }
      tls.cert = read(cert);
      tls.key = read(key);
    }
    return tls;
  }

  /** One request/response exchange, no redirects; rejects with node's errors as they are. */
  #exchange(url: URL, method: string, headers: Record<string, string>, body: string | undefined): Promise<http.IncomingMessage> {
    const o = this.#options;
    const agent = this.agentFor(url);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent,
        // Before the socket connects this is the connect timeout; then the headers', then the body's.
        timeout: o.connectMs,
      });
      let phase: { what: string; ms: number } = { what: `connecting to ${url.host}`, ms: o.connectMs };
      req.on('socket', (socket) => {
        const connected = (): void => {
          phase = { what: `waiting for the answer of ${url.host}`, ms: o.headersMs };
          req.setTimeout(o.headersMs);
        };
        if ((socket as { connecting?: boolean }).connecting === true) socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
        else connected();
      });
      req.on('timeout', () => req.destroy(timedOut(phase.what, phase.ms)));
      req.on('error', reject);
      req.on('response', (res) => {
        phase = { what: `the body from ${url.host}`, ms: o.bodyIdleMs };
        req.setTimeout(o.bodyIdleMs);
        // A destroyed request ends its response with an error: make it the request's (e.g. ETIMEDOUT).
        req.on('error', (err) => {
          if (!res.destroyed) res.destroy(err);
        });
        resolve(res);
      });
      req.end(body);
    });
  }

  /** One exchange, following redirects. Throws node's errors as they are. */
  async send(url: URL, init: SendInit): Promise<HttpResponse> {
    let current = url;
    let headers: Record<string, string> = { 'user-agent': this.#options.userAgent, ...init.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.#exchange(current, init.method ?? 'GET', headers, init.body);
      const status = res.statusCode ?? 0;
      const location = res.headers['location'];
      if (!REDIRECTS.has(status) || typeof location !== 'string' || init.method === 'POST') {
        return { status, headers: res.headers, body: res, url: current };
      }
      await dump(res);
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError(`${url.href}: more than ${MAX_REDIRECTS} redirects`, { input: url.href, status });
      }
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError(`${current.href} redirected to ${next.protocol} URL`, { input: url.href });
      }
      if (next.protocol === 'http:' && current.protocol === 'https:' && !this.#options.allowHttp) {
        throw new RegistryError(`${current.href} redirected to plain http (${next.origin})`, {
          input: url.href,
          hint: 'allow it with --insecure-options=http if you trust the network',
        });
      }
      if (next.origin !== current.origin) {
        // Credentials are the registry's: a blob store elsewhere gets a signed URL, not them.
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next;
    }
  }

  /**
   * send() with retries for 5xx/429 and dropped connections. After the last
   * try, a retryable status is returned (the caller reports it) and a
   * connection error is thrown as a RegistryError.
   */
  async sendWithRetry(url: URL, init: SendInit, ctx: ErrorContext): Promise<HttpResponse> {
    const policy = this.#options.retry;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.send(url, init);
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        if (!isRetryableError(err) || attempt >= policy.attempts) throw connectionError(err, ctx, attempt);
        await sleep(backoffDelay(attempt, policy), policy);
        continue;
      }
      if (!isRetryableStatus(res.status) || attempt >= policy.attempts) return res;
      await dump(res.body);
      await sleep(backoffDelay(attempt, policy, retryAfterMs(res.headers['retry-after'])), policy);
    }
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    for (const agent of agents) agent.destroy();
  }
}

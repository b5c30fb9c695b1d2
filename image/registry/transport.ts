/**
 * HTTP for the registry client: one undici Agent per host (keep-alive, so a
 * pull's many requests share a few connections; per host because TLS trust is
 * per host), redirects followed by hand, retries with backoff.
 *
 * Trust follows docker's certs.d convention: `<certsDir>/<host[:port]>/*.crt`
 * are CAs added to the system roots, `client.cert` + `client.key` a client
 * identity. Redirects (blob downloads often go to an object store) are
 * followed by hand so that the Authorization header, which is for the
 * registry, never goes to another origin, and https is never downgraded to
 * http unless plain http was allowed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { RegistryError } from '../../runtime/errors.js';
import type { ResolvedOptions } from './options.js';
import { connectionError, type ErrorContext } from './registry-errors.js';
import { backoffDelay, isRetryableError, isRetryableStatus, retryAfterMs, sleep } from './retry.js';

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  url: URL;
}

export interface SendInit {
  method?: 'GET' | 'HEAD' | 'POST';
  headers: Record<string, string>;
  /** Only for POST (the OAuth token grant); a POST is never redirected. */
  body?: string;
}

export class Transport {
  readonly #options: ResolvedOptions;
  readonly #agents = new Map<string, Agent>();

  constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  /** The Agent for a host, built on first use with that host's certs.d trust. */
  agentFor(url: URL): Agent {
    let agent = this.#agents.get(url.host);
    if (agent === undefined) {
      const o = this.#options;
      agent = new Agent({
        connect: { ...this.#tlsFor(url.host), rejectUnauthorized: !o.skipTlsVerify, timeout: o.connectMs },
        keepAliveTimeout: 30_000,
        headersTimeout: o.headersMs,
        bodyTimeout: o.bodyIdleMs,
      });
      this.#agents.set(url.host, agent);
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

  /** One exchange, following redirects. Throws undici's errors as they are. */
  async send(url: URL, init: SendInit): Promise<HttpResponse> {
    let current = url;
    let headers = { 'user-agent': this.#options.userAgent, ...init.headers };
    for (let hop = 0; ; hop++) {
      const res = await request(current, {
        method: init.method ?? 'GET',
        headers,
        body: init.body,
        dispatcher: this.agentFor(current),
      });
      const location = res.headers['location'];
      if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string' || init.method === 'POST') {
        return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
      }
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError(`${url.href}: more than ${MAX_REDIRECTS} redirects`, { input: url.href, status: res.statusCode });
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
        const { authorization: _dropped, ...rest } = headers as Record<string, string>;
        headers = rest as typeof headers;
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
      await res.body.dump();
      await sleep(backoffDelay(attempt, policy, retryAfterMs(res.headers['retry-after'])), policy);
    }
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }
}

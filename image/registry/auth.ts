/**
 * Registry authentication, as docker does it. The registry says how in the
 * `WWW-Authenticate` of a 401 (to the ping, or to any request):
 * - `Basic`: send the user's credentials with every request to the registry.
 * - `Bearer realm=…,service=…`: trade the credentials (or nothing, for
 *   anonymous pulls) at the realm for a short-lived token scoped to one
 *   repository and action (`repository:skiff/probe:pull`), then send that.
 *
 * Tokens are cached per (realm, service, scope, user) until shortly before
 * they expire: a pull makes dozens of requests to one repository, and the
 * token server is often another service with its own rate limits. The scope
 * is part of the key because a token for one repository is worthless for
 * another. Token answers carry `token` or `access_token` (OAuth2 name), and
 * `expires_in` (default 60 s per the spec).
 */
import { RegistryError } from '../../runtime/errors.js';
import type { Challenge } from './challenge.js';
import { dockerConfigPath, findCredentials, type Credentials } from './docker-config.js';
import type { ResolvedOptions } from './options.js';
import { describeErrorBody, statusError } from './registry-errors.js';
import type { SendInit, Transport } from './transport.js';
import { readBounded } from './bounded-body.js';

const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_TOKEN_BYTES = 1024 * 1024;

function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

export class Authenticator {
  readonly #options: ResolvedOptions;
  readonly #transport: Transport;
  readonly #tokens = new Map<string, Promise<CachedToken>>();
  readonly #credentials = new Map<string, Credentials | undefined>();
  readonly #now: () => number;

  constructor(options: ResolvedOptions, transport: Transport, now: () => number = Date.now) {
    this.#options = options;
    this.#transport = transport;
    this.#now = now;
  }

  /** Where credentials are looked up, for messages. */
  get credentialsSource(): string {
    return this.#options.dockerConfigPath ?? dockerConfigPath(this.#options.env);
  }

  credentialsFor(registry: string): Credentials | undefined {
    if (this.#options.credentials) return { ...this.#options.credentials, from: 'the command line' };
    if (!this.#credentials.has(registry)) this.#credentials.set(registry, findCredentials(registry, this.credentialsSource));
    return this.#credentials.get(registry);
  }

  /** The Authorization header value for a request to `repository`, if the challenge needs one. */
  async authorization(registry: string, challenges: Challenge[], repository: string, input: string): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const creds = this.credentialsFor(registry);
    if (bearer !== undefined) {
      const token = await this.#token(registry, bearer, `repository:${repository}:pull`, creds, input);
      return `Bearer ${token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && creds !== undefined) {
      return basicAuthorization(creds);
    }
    return undefined;
  }

  /** Forgets the cached token for a scope (the registry refused it). */
  invalidate(registry: string, challenges: Challenge[], repository: string): void {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer === undefined) return;
    this.#tokens.delete(this.#key(bearer, `repository:${repository}:pull`, this.credentialsFor(registry)));
  }

  #key(challenge: Challenge, scope: string, creds: Credentials | undefined): string {
    return [challenge.params['realm'], challenge.params['service'], scope, creds?.username ?? ''].join('\n');
  }

  async #token(registry: string, challenge: Challenge, scope: string, creds: Credentials | undefined, input: string): Promise<string> {
    const key = this.#key(challenge, scope, creds);
    const cached = this.#tokens.get(key);
    if (cached !== undefined) {
      const token = await cached.catch(() => undefined);
      if (token !== undefined && token.expiresAt > this.#now()) return token.value;
      if (this.#tokens.get(key) === cached) this.#tokens.delete(key);
    }
    // One fetch per scope even when many layers ask at once.
    let pending = this.#tokens.get(key);
    if (pending === undefined) {
      pending = this.#fetchToken(registry, challenge, scope, creds, input);
      this.#tokens.set(key, pending);
      pending.catch(() => this.#tokens.get(key) === pending && this.#tokens.delete(key));
    }
    return (await pending).value;
  }

  async #fetchToken(registry: string, challenge: Challenge, scope: string, creds: Credentials | undefined, input: string): Promise<CachedToken> {
    const realm = challenge.params['realm'];
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new RegistryError(`${input}: ${registry} asks for a bearer token but names no valid realm ("${realm ?? ''}")`, { input });
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.#options.allowHttp)) {
      throw new RegistryError(`${input}: the token realm ${url.href} is not https`, {
        input,
        hint: url.protocol === 'http:' ? 'allow plain http with --insecure-options=http' : undefined,
      });
    }
    const service = challenge.params['service'];
    const headers: Record<string, string> = { accept: 'application/json' };
    let init: SendInit;
    if (creds?.identityToken !== undefined) {
      // An OAuth2 refresh token (docker login with an identity token): the refresh-token grant is a
      // form POST, so the token never appears in a URL.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'skiff',
        scope,
        ...(service === undefined ? {} : { service }),
      });
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() };
    } else {
      if (creds !== undefined) {
        headers['authorization'] = basicAuthorization(creds);
        url.searchParams.set('account', creds.username);
      }
      if (service !== undefined) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      init = { headers };
    }
    const started = this.#now();
    const ctx = {
      asking: 'token' as const,
      input,
      url: `${url.origin}${url.pathname}`,
      withCredentials: creds !== undefined,
      credentialsFrom: creds?.from ?? this.credentialsSource,
      certsDir: this.#options.certsDir,
      host: registry,
    };
    const res = await this.#transport.sendWithRetry(url, init, ctx);
    const text = (await readBounded(res.body, MAX_TOKEN_BYTES)).toString('utf8');
    if (res.status !== 200) throw statusError(res.status, text, ctx);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new RegistryError(`${input}: the token server at ${ctx.url} answered with something other than JSON`, {
        input,
        hint: describeErrorBody(text),
      });
    }
    const value = typeof parsed.token === 'string' && parsed.token !== '' ? parsed.token : parsed.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new RegistryError(`${input}: the token server at ${ctx.url} returned no token`, { input });
    }
    const lifetime =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    // Renew a little early: 10% of the lifetime, at most 30 s.
    const margin = Math.min(lifetime * 100, 30_000);
    return { value, expiresAt: started + lifetime * 1000 - margin };
  }
}

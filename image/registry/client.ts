/**
 * The Docker Registry HTTP API v2 client: ping, manifests, blobs.
 *
 * The first request to a registry is `GET /v2/`: it settles the scheme and
 * how to authenticate. https is always tried first; with
 * `--insecure-options=http`, a registry that cannot be reached over TLS is
 * tried over plain http (rkt's and podman's fallback), and without it a
 * server that answers TLS in plain HTTP gets an error that says so. The
 * ping's 401 challenge (Basic or Bearer) decides the Authorization of every
 * later request; a 401 later on (an expired token, a registry that only
 * challenges per repository) re-authenticates once.
 *
 * Manifests are always asked for with every type Skiff reads in Accept:
 * distribution 2.8 answers an OCI tag with 404 unless OCI is named, and turns
 * a v2s2 tag into schema 1 unless v2s2 is named (reference/peers.md §3).
 */
import { ImageError, RegistryError, VerifyError } from '../../runtime/errors.js';
import { sha256Digest } from '../digest.js';
import { assertNotSchema1, bareMediaType, MAX_MANIFEST_BYTES } from '../manifest.js';
import { MANIFEST_ACCEPT } from '../media-types.js';
import type { BlobDescriptor, FetchedManifest } from '../source.js';
import { Authenticator } from './auth.js';
import { openResumableBlob } from './blob-stream.js';
import { discard, dump, readBounded, readErrorText } from './bounded-body.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { resolveOptions, type RegistryOptions, type ResolvedOptions } from './options.js';
import { statusError, type Asking, type ErrorContext } from './registry-errors.js';
import { Transport, type HttpResponse } from './transport.js';

interface Endpoint {
  registry: string;
  /** 'https://host:port' or 'http://host:port'. */
  origin: string;
  challenges: Challenge[];
}

export class RegistryClient {
  readonly options: ResolvedOptions;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #endpoints = new Map<string, Promise<Endpoint>>();

  constructor(options: RegistryOptions = {}) {
    this.options = resolveOptions(options);
    this.#transport = new Transport(this.options);
    this.#auth = new Authenticator(this.options, this.#transport);
  }

  /** `GET /v2/` once per registry: the scheme to use and the auth challenge. */
  ping(registry: string, input: string = registry): Promise<Endpoint> {
    let endpoint = this.#endpoints.get(registry);
    if (endpoint === undefined) {
      endpoint = this.#ping(registry, input);
      this.#endpoints.set(registry, endpoint);
      endpoint.catch(() => this.#endpoints.get(registry) === endpoint && this.#endpoints.delete(registry));
    }
    return endpoint;
  }

  async #ping(registry: string, input: string): Promise<Endpoint> {
    let origin = `https://${registry}`;
    let res: HttpResponse;
    try {
      res = await this.#transport.sendWithRetry(new URL(`${origin}/v2/`), { headers: {} }, this.#context('ping', input, origin, registry));
    } catch (err) {
      if (!this.options.allowHttp) throw err;
      // Plain http is allowed: a registry that does not answer over TLS may over http. Its
      // answer only counts if it looks like a registry's; a TLS server's 400 to plain http
      // would hide the real (https) problem.
      const httpOrigin = `http://${registry}`;
      let httpRes: HttpResponse;
      try {
        httpRes = await this.#transport.sendWithRetry(new URL(`${httpOrigin}/v2/`), { headers: {} }, this.#context('ping', input, httpOrigin, registry));
      } catch (httpErr) {
        const overHttps = (err as Error).message.replace(`${input}: `, '');
        throw new RegistryError(`${(httpErr as Error).message}; over https: ${overHttps}`, {
          input,
          cause: httpErr,
          hint: (httpErr as RegistryError).hint,
        });
      }
      if (httpRes.status !== 200 && httpRes.status !== 401) {
        await dump(httpRes.body);
        throw err;
      }
      origin = httpOrigin;
      res = httpRes;
    }
    if (res.status === 200) {
      await dump(res.body);
      return { registry, origin, challenges: [] };
    }
    const body = await readErrorText(res.body);
    if (res.status === 401) {
      const challenges = parseChallenges(res.headers['www-authenticate']);
      if (challenges.length > 0) return { registry, origin, challenges };
    }
    throw statusError(res.status, body, this.#context('ping', input, `${origin}/v2/`, registry));
  }

  #context(asking: Asking, input: string, url: string, registry: string): ErrorContext {
    const creds = asking === 'ping' ? undefined : this.#auth.credentialsFor(registry);
    return {
      asking,
      input,
      url,
      withCredentials: creds !== undefined,
      credentialsFrom: creds?.from ?? this.#auth.credentialsSource,
      certsDir: this.options.certsDir,
      host: registry,
    };
  }

  /**
   * A GET on the repository's API with authentication, retries and
   * redirects; re-authenticates once on a 401. Returns whatever status came
   * last; the caller reports non-success.
   */
  async #get(registry: string, repository: string, path: string, headers: Record<string, string>, asking: Asking, input: string): Promise<HttpResponse> {
    const endpoint = await this.ping(registry, input);
    const url = new URL(`${endpoint.origin}/v2/${repository}/${path}`);
    let reauthenticated = false;
    for (;;) {
      const authorization = await this.#auth.authorization(registry, endpoint.challenges, repository, input);
      const ctx = this.#context(asking, input, url.href, registry);
      const res = await this.#transport.sendWithRetry(url, { headers: { ...headers, ...(authorization && { authorization }) } }, ctx);
      if (res.status !== 401 || reauthenticated) return res;
      const challenges = parseChallenges(res.headers['www-authenticate']);
      const wasBearer = authorization?.startsWith('Bearer ') ?? false;
      if (!wasBearer && (challenges.length === 0 || authorization !== undefined)) return res;
      await dump(res.body);
      this.#auth.invalidate(registry, endpoint.challenges, repository);
      if (challenges.length > 0) endpoint.challenges = challenges;
      reauthenticated = true;
    }
  }

  /** A manifest by tag or digest, bounded, its digest computed and, by digest, verified. */
  async getManifest(registry: string, repository: string, reference: string, input: string): Promise<FetchedManifest> {
    const res = await this.#get(registry, repository, `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, 'manifest', input);
    const ctx = this.#context('manifest', input, res.url.href, registry);
    if (res.status !== 200) throw statusError(res.status, await readErrorText(res.body), ctx);
    const contentType = firstHeader(res.headers['content-type']);
    const tooBig = (): ImageError =>
      new ImageError(`${input}: the manifest at ${res.url.href} is over the ${MAX_MANIFEST_BYTES}-byte limit`, { input });
    try {
      assertNotSchema1(contentType, input);
    } catch (err) {
      discard(res.body);
      throw err;
    }
    if (Number(firstHeader(res.headers['content-length']) ?? 0) > MAX_MANIFEST_BYTES) {
      discard(res.body);
      throw tooBig();
    }
    const bytes = await readBounded(res.body, MAX_MANIFEST_BYTES, tooBig);
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new VerifyError(`manifest ${reference} from ${res.url.href} does not match its digest`, reference, digest, { input });
    }
    const announced = firstHeader(res.headers['docker-content-digest']);
    if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
      throw new VerifyError(`manifest ${reference} from ${res.url.href} does not match the Docker-Content-Digest the registry sent`, announced, digest, { input });
    }
    return { bytes, mediaType: bareMediaType(contentType) ?? '', digest };
  }

  /** A blob's raw bytes as a stream that resumes with Range when the connection drops. */
  openBlob(registry: string, repository: string, descriptor: BlobDescriptor, input: string): Promise<NodeJS.ReadableStream> {
    return openResumableBlob({
      descriptor,
      policy: this.options.retry,
      context: (url) => this.#context('blob', input, url, registry),
      open: async (offset) => {
        const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
        const res = await this.#get(registry, repository, `blobs/${descriptor.digest}`, headers, 'blob', input);
        if (res.status === 200 || (res.status === 206 && offset > 0)) return res;
        throw statusError(res.status, await readErrorText(res.body), this.#context('blob', input, res.url.href, registry));
      },
    });
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

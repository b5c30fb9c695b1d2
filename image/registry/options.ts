/**
 * What a registry fetch can be told: which transport insecurities the user
 * allowed (rkt's `--insecure-options`), where TLS trust and credentials come
 * from, and how hard to retry. Everything has a default that is right for
 * production; tests shorten the backoff and point certsDir and the docker
 * config at temp dirs.
 */

export const DEFAULT_CERTS_DIR = '/etc/skiff/certs.d';

export interface RetryPolicy {
  /** Tries per request, the first included (4: one try and three retries). */
  attempts: number;
  /** Delay before the first retry; doubled each time, up to maxDelayMs, with ±20% jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How to wait; tests may pass one that does not. */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4_000 };

export interface RegistryOptions {
  /**
   * `--insecure-options` values; only 'http' (allow plain HTTP when the
   * registry does not speak TLS) and 'tls' (do not verify certificates) are
   * read here, the CLI validates the rest.
   */
  insecure?: ReadonlySet<string>;
  /** docker's certs.d: `<certsDir>/<host[:port]>/*.crt` are CAs, `client.cert` + `client.key` a client identity. */
  certsDir?: string;
  /** A docker config.json; default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  dockerConfigPath?: string;
  /** Explicit credentials (e.g. `--creds`); they win over the docker config. */
  credentials?: { username: string; password: string };
  /** The environment DOCKER_CONFIG and HOME are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  retry?: Partial<RetryPolicy>;
  /** Per-request limits: connecting, waiting for headers, and silence within a body. */
  timeouts?: { connectMs?: number; headersMs?: number; bodyIdleMs?: number };
  userAgent?: string;
}

export interface ResolvedOptions {
  allowHttp: boolean;
  skipTlsVerify: boolean;
  certsDir: string;
  dockerConfigPath: string | undefined;
  credentials: { username: string; password: string } | undefined;
  env: NodeJS.ProcessEnv;
  retry: RetryPolicy;
  connectMs: number;
  headersMs: number;
  bodyIdleMs: number;
  userAgent: string;
}

export function resolveOptions(options: RegistryOptions = {}): ResolvedOptions {
  const insecure = options.insecure ?? new Set<string>();
  const all = insecure.has('all') || insecure.has('all-fetch');
  return {
    allowHttp: all || insecure.has('http'),
    skipTlsVerify: all || insecure.has('tls'),
    certsDir: options.certsDir ?? DEFAULT_CERTS_DIR,
    dockerConfigPath: options.dockerConfigPath,
    credentials: options.credentials,
    env: options.env ?? process.env,
    retry: { ...DEFAULT_RETRY, ...options.retry },
    connectMs: options.timeouts?.connectMs ?? 15_000,
    headersMs: options.timeouts?.headersMs ?? 60_000,
    bodyIdleMs: options.timeouts?.bodyIdleMs ?? 60_000,
    userAgent: options.userAgent ?? 'skiff',
  };
}

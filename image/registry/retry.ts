/**
 * Which failures are worth another try, and how long to wait. Registries and
 * the object stores behind them fail transiently (a 503 during a deploy, a
 * connection reset by a load balancer), so 5xx, 429 and dropped connections
 * are retried with exponential backoff and jitter, a bounded number of times.
 * Refused connections, TLS failures and 4xx are not: trying again cannot help,
 * and the user should hear at once.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { RetryPolicy } from './options.js';

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ENETRESET',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_CLOSED',
]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/** A dropped or stalled connection, anywhere in the cause chain. */
export function isRetryableError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
  }
  return false;
}

/** The wait before retry number `retry` (1-based): base·2^(retry−1), capped, ±20%. */
export function backoffDelay(retry: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const exp = Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxDelayMs);
  const jittered = exp * (0.8 + 0.4 * Math.random());
  const wanted = retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, policy.maxDelayMs));
  return Math.round(wanted);
}

export function sleep(ms: number, policy: RetryPolicy): Promise<void> {
  return policy.sleep ? policy.sleep(ms) : delay(ms).then(() => undefined);
}

/** `Retry-After: 3` (seconds); the HTTP-date form is rare from registries and ignored. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[0-9]+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

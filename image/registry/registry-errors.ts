/**
 * Turns what went wrong talking to a registry into a RegistryError that says
 * what, where and what to do: distribution's JSON error body
 * (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":…}]}`) when there is one,
 * the status, the URL, and a hint chosen by status and by what was asked for.
 * Connection failures are sorted the same way: a TLS handshake answered in
 * plain HTTP, an untrusted certificate, a refused connection.
 */
import { RegistryError } from '../../runtime/errors.js';

export type Asking = 'ping' | 'manifest' | 'blob' | 'token';

export interface ErrorContext {
  /** What was asked for, for the hint. */
  asking: Asking;
  /** The reference or URL the user would recognise. */
  input: string;
  url: string;
  /** Whether credentials were sent. */
  withCredentials?: boolean;
  /** Where credentials were looked for, for the 401 hint. */
  credentialsFrom?: string;
  certsDir?: string;
  host?: string;
}

export function describeErrorBody(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const parts = (parsed.errors ?? [])
      .map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': '))
      .filter((s) => s !== '');
    if (parts.length > 0) return parts.join('; ');
  } catch {
    // Not distribution's JSON: use the text itself if it is short and printable.
  }
  const text = body.trim();
  return text !== '' && text.length <= 200 && !/[\0-\x08]/.test(text) ? text : undefined;
}

export function statusError(status: number, body: string, ctx: ErrorContext): RegistryError {
  const detail = describeErrorBody(body);
  const what = ctx.asking === 'token' ? 'token server' : ctx.asking === 'ping' ? 'registry' : ctx.asking;
  const message = `${ctx.input}: ${what} request failed with HTTP ${status}${detail === undefined ? '' : ` (${detail})`} from ${ctx.url}`;
  return new RegistryError(message, { status, input: ctx.input, hint: statusHint(status, ctx) });
}

function statusHint(status: number, ctx: ErrorContext): string | undefined {
  const config = ctx.credentialsFrom ?? '~/.docker/config.json';
  switch (status) {
    case 401:
      return ctx.withCredentials
        ? `check the credentials for ${ctx.host ?? 'this registry'} in ${config}`
        : `this registry needs credentials: add them for ${ctx.host ?? 'it'} to ${config} (docker login)`;
    case 403:
      return 'the credentials are valid but may not pull this repository; check its permissions';
    case 404:
      if (ctx.asking === 'manifest') return 'check the repository name and the tag or digest';
      if (ctx.asking === 'blob') return 'the registry lost a blob its manifest names; push the image again';
      if (ctx.asking === 'ping') return 'this server does not speak the registry API v2 at /v2/';
      return undefined;
    case 429:
      return 'the registry is rate-limiting; wait and try again, or log in';
    default:
      return status >= 500 ? 'the registry failed; try again later' : undefined;
  }
}

const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return code;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The server answered our TLS ClientHello in plain HTTP: it does not speak TLS on that port. */
function isPlainHttpAnswer(err: unknown): boolean {
  const code = errorCode(err);
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST') return true;
  return err instanceof Error && /wrong version number|packet length too long|http request/i.test(err.message);
}

function isCertificateError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && CERT_CODES.has(code);
}

export function connectionError(err: unknown, ctx: ErrorContext, tries = 1): RegistryError {
  const code = errorCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  const after = tries > 1 ? ` after ${tries} tries` : '';
  const at = `${ctx.input}: cannot reach ${ctx.url}${after}`;
  if (isPlainHttpAnswer(err)) {
    return new RegistryError(`${ctx.input}: ${ctx.host ?? ctx.url} answered the TLS handshake in plain HTTP`, {
      input: ctx.input,
      cause: err,
      hint: 'if this registry serves plain http, allow it with --insecure-options=http',
    });
  }
  if (isCertificateError(err)) {
    const dir = ctx.certsDir === undefined || ctx.host === undefined ? 'the certs.d dir' : `${ctx.certsDir}/${ctx.host}/ca.crt`;
    return new RegistryError(`${ctx.input}: the TLS certificate of ${ctx.host ?? ctx.url} is not trusted (${code}: ${reason})`, {
      input: ctx.input,
      cause: err,
      hint: `put the CA that signed it in ${dir}, or skip verification with --insecure-options=tls`,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new RegistryError(`${at}: connection refused`, { input: ctx.input, cause: err, hint: 'check the host and port, and that the registry runs' });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new RegistryError(`${at}: cannot resolve the host name`, { input: ctx.input, cause: err, hint: 'check the registry host name and DNS' });
  }
  return new RegistryError(`${at}: ${code === undefined ? '' : `${code}: `}${reason}`, { input: ctx.input, cause: err });
}

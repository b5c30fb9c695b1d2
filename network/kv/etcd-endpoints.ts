/**
 * Which etcd endpoints to talk to, and how: `--etcd-endpoints` parsed into URLs, and the TLS
 * material loaded once.
 *
 * A CA file alone means TLS (trust that CA, no client identity): flannel only turned TLS on when
 * both a certificate and a key were given, so a CA-only setup silently went to plain http. A bare
 * `host:port` is https when any TLS file is given, http otherwise; an explicit `http://` endpoint
 * together with TLS files is a usage error rather than a quiet downgrade.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../../runtime/errors.js';

export interface EtcdOptions {
  endpoints: readonly string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
}

export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

export function parseEndpoints(endpoints: readonly string[], tls: boolean): URL[] {
  const urls = endpoints
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((e) => {
      const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `${tls ? 'https' : 'http'}://${e}`;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new UsageError(`etcd endpoint ${JSON.stringify(e)} is not a URL`, {
          input: e,
          hint: 'give endpoints as http(s)://host:port, separated by commas',
        });
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new UsageError(`etcd endpoint ${e} has scheme ${url.protocol} (only http and https)`, { input: e, hint: 'use http:// or https://' });
      }
      if (tls && url.protocol === 'http:') {
        throw new UsageError(`etcd endpoint ${e} is plain http, but TLS files were given`, {
          input: e,
          hint: 'use https:// for the endpoint, or drop --etcd-cafile/--etcd-certfile/--etcd-keyfile',
        });
      }
      if (url.pathname !== '/' && url.pathname !== '') {
        throw new UsageError(`etcd endpoint ${e} has a path`, { input: e, hint: 'give only scheme, host and port' });
      }
      return url;
    });
  if (urls.length === 0) throw new UsageError('no etcd endpoint given', { hint: 'pass --etcd-endpoints http://host:2379' });
  return urls;
}

export function loadTls(opts: EtcdOptions): TlsMaterial | undefined {
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    const given = opts.certFile !== undefined ? '--etcd-certfile' : '--etcd-keyfile';
    throw new UsageError(`${given} was given without its pair`, { hint: 'give both --etcd-certfile and --etcd-keyfile, or neither' });
  }
  if (opts.caFile === undefined && opts.certFile === undefined) return undefined;
  const read = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the etcd ${what} ${path}: ${(err as Error).message}`, { input: path, cause: err, hint: 'check the path and its permissions' });
    }
  };
  const tls: TlsMaterial = {};
  if (opts.caFile !== undefined) tls.ca = read(opts.caFile, 'CA file');
  if (opts.certFile !== undefined) tls.cert = read(opts.certFile, 'certificate file');
  if (opts.keyFile !== undefined) tls.key = read(opts.keyFile, 'key file');
  return tls;
}

/** The endpoint as a user wrote it, for messages: scheme://host:port. */
export function endpointName(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

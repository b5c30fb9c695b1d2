// A registry token server for tests (the Docker Registry token auth protocol): GET
// /token?service=…&scope=repository:NAME:pull,push with optional Basic credentials answers
// {token, access_token, expires_in, issued_at}, the token a JWS (ES256) that distribution 2.8
// accepts with `auth.token: {realm, service, issuer, rootcertbundle}`. The registry finds the
// signing key through the `x5c` header (the signing certificate, verified against
// rootcertbundle), which is simpler than libtrust `kid`s. Listens on 127.0.0.1 only.
import { randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, type Pki } from './pki.js';

export interface TokenServerOptions {
  /** username → password; these may have every action they ask for. */
  users?: Record<string, string>;
  /** Without credentials: a pull-only token (as Docker Hub gives), or 401 when false. */
  anonymousPull?: boolean;
  lifetimeSeconds?: number;
  service?: string;
  issuer?: string;
  /** An existing dir for the PKI files. */
  dir: string;
}

export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  user: string | undefined;
  scopes: string[];
  service: string | undefined;
  status: number;
}

export interface TokenServer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** The CA bundle the registry verifies token signatures with (auth.token.rootcertbundle). */
  rootCertBundle: string;
  /** Every request answered, in order. */
  requests: TokenRequest[];
  /** A token signed like the served ones, for the harness's own pushes. */
  mint(access: ResourceAccess[], subject?: string): string;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

function pemToDerBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/** `repository:skiff/probe:pull,push` → {type, name, actions}; names may hold colons (host:port). */
function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const pkiDir = join(options.dir, 'token-pki');
  await mkdir(pkiDir, { recursive: true });
  const pki: Pki = await makePki(pkiDir);
  const service = options.service ?? 'skiff-test-registry';
  const issuer = options.issuer ?? 'skiff-test-token-server';
  const lifetime = options.lifetimeSeconds ?? 300;
  const users = options.users ?? {};
  const x5c = [pemToDerBase64(pki.serverCert)];
  const requests: TokenRequest[] = [];

  const mint = (access: ResourceAccess[], subject = ''): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + lifetime,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), { key: pki.serverKey, dsaEncoding: 'ieee-p1363' });
    return `${signingInput}.${b64url(signature)}`;
  };

  const answer = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const log = (status: number, user: string | undefined): void => {
      requests.push({ user, scopes, service: url.searchParams.get('service') ?? undefined, status });
    };
    if (url.pathname !== '/token' || req.method !== 'GET') {
      log(404, undefined);
      answer(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'only GET /token' }] });
      return;
    }
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth !== undefined) {
      const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (colon < 0 || users[name] === undefined || users[name] !== decoded.slice(colon + 1)) {
        log(401, name || undefined);
        answer(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, {
          'www-authenticate': 'Basic realm="skiff-test-token-server"',
        });
        return;
      }
      user = name;
    } else if (!options.anonymousPull) {
      log(401, undefined);
      answer(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
        'www-authenticate': 'Basic realm="skiff-test-token-server"',
      });
      return;
    }
    const access = scopes
      .map(parseScope)
      .filter((a): a is ResourceAccess => a !== undefined)
      .map((a) => (user === undefined ? { ...a, actions: a.actions.filter((x) => x === 'pull') } : a));
    const token = mint(access, user ?? '');
    log(200, user);
    answer(res, 200, { token, access_token: token, expires_in: lifetime, issued_at: new Date().toISOString() });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no TCP address');
  let stopping: Promise<void> | undefined;
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    service,
    issuer,
    rootCertBundle: pki.paths.caCert,
    requests,
    mint,
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

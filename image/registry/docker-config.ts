/**
 * Credentials from docker's config.json (`docker login` writes it): the
 * `auths` map, keyed by registry in any of the forms docker has used over the
 * years (`host:port`, `https://host:port`, `https://index.docker.io/v1/`),
 * each entry holding base64 `user:password` in `auth`, or `username` and
 * `password`, or an OAuth `identitytoken`. Keys are compared by host, the way
 * docker's ConvertToHostname does. Credential helpers (`credsStore`,
 * `credHelpers`) run external programs and are not supported; an entry there
 * is simply not found here.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '../../runtime/errors.js';
import { DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY } from '../reference.js';

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth refresh token (`identitytoken`), traded at the token realm for access tokens. */
  identityToken?: string | undefined;
  /** Where they came from, for messages: '/root/.docker/config.json'. */
  from: string;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env['DOCKER_CONFIG'];
  if (dir !== undefined && dir !== '') return join(dir, 'config.json');
  return join(env['HOME'] || homedir(), '.docker', 'config.json');
}

/** 'https://index.docker.io/v1/' → 'index.docker.io'; '127.0.0.1:5000' stays. */
function keyHost(key: string): string {
  return key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]!.toLowerCase();
}

function hostAliases(registry: string): string[] {
  const host = registry.toLowerCase();
  if (host === DOCKER_HUB_REGISTRY || host === DOCKER_HUB_DOMAIN || host === 'index.docker.io') {
    return ['index.docker.io', DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY];
  }
  return [host];
}

/** The credentials for `registry` (host[:port]), or undefined when the config has none. */
export function findCredentials(registry: string, path: string): Credentials | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryError(`cannot read ${path}: ${(err as Error).message}`, { input: path, cause: err });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new RegistryError(`${path} is not valid JSON`, { input: path, cause: err, hint: 'fix it, or point DOCKER_CONFIG elsewhere' });
  }
  const auths = (config as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const wanted = hostAliases(registry);
  for (const alias of wanted) {
    for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
      if (keyHost(key) !== alias || typeof entry !== 'object' || entry === null) continue;
      const found = credentialsOf(entry as Record<string, unknown>, path, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function credentialsOf(entry: Record<string, unknown>, path: string, key: string): Credentials | undefined {
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  let username = str(entry['username']);
  let password = str(entry['password']);
  const auth = str(entry['auth']);
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new RegistryError(`${path}: the "auth" of "${key}" is not base64 of user:password`, {
        input: path,
        hint: 'log in again, or fix the entry',
      });
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = str(entry['identitytoken']);
  if (username === undefined || (password === undefined && identityToken === undefined)) return undefined;
  return { username, password: password ?? '', identityToken, from: path };
}

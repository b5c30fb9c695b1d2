// A real docker-registry (distribution 2.8) behind token auth, with the token server from
// token-server.ts, both on 127.0.0.1 in one temp dir. Same shape as registry-server.ts's
// RegistryServer where it matters (url, host, dispatcher, authHeader() for pushes), so
// publishFixtures() works against it: authHeader() mints a push+pull token for `repos`.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { PROBE_REPO } from './fixture-images.js';
import { freePort, retryOnPortRace } from './free-port.js';
import { ManagedProcess, makeServerDir, scrubbedEnv } from './managed-process.js';
import { registryConfig } from './registry-server.js';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js';

export interface TokenRegistry {
  host: string;
  url: string;
  dispatcher: Agent;
  /** { authorization: 'Bearer …' } with pull and push on `repos`, for the test's own pushes. */
  authHeader(): Record<string, string>;
  tokens: TokenServer;
  logPath: string;
  stop(): Promise<void>;
}

export interface TokenRegistryOptions extends Omit<TokenServerOptions, 'dir'> {
  /** Repositories the harness may push to; default skiff/probe. */
  repos?: string[];
}

export function startTokenRegistry(opts: TokenRegistryOptions = {}): Promise<TokenRegistry> {
  return retryOnPortRace(() => startOnce(opts));
}

async function startOnce(opts: TokenRegistryOptions): Promise<TokenRegistry> {
  const dir = await makeServerDir('token-registry');
  let tokens: TokenServer | undefined;
  let proc: ManagedProcess | undefined;
  const dispatcher = new Agent();
  try {
    tokens = await startTokenServer({ ...opts, dir });
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;
    const storageDir = join(dir, 'storage');
    const logPath = join(dir, 'registry.log');
    const configPath = join(dir, 'config.yml');
    await mkdir(storageDir);
    const config = registryConfig({
      addr: host,
      storageDir,
      tls: undefined,
      htpasswdPath: undefined,
      token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
    });
    await writeFile(configPath, config);
    proc = await ManagedProcess.start({
      name: 'docker-registry (token auth)',
      command: '/usr/bin/docker-registry',
      args: ['serve', configPath],
      logPath,
      ownedDir: dir,
      env: scrubbedEnv('REGISTRY_'),
    });
    await proc.waitUntil(
      async (signal) => {
        const res = await request(`${url}/v2/`, { dispatcher, signal });
        await res.body.dump();
        return res.statusCode === 401;
      },
      { timeoutMs: 15_000, what: `GET ${url}/v2/ answers 401` },
    );
    const running = proc;
    const server = tokens;
    const repos = opts.repos ?? [PROBE_REPO];
    let stopping: Promise<void> | undefined;
    return {
      host,
      url,
      dispatcher,
      authHeader: () => ({
        authorization: `Bearer ${server.mint(repos.map((name) => ({ type: 'repository', name, actions: ['pull', 'push'] })), 'harness')}`,
      }),
      tokens: server,
      logPath,
      stop: () => (stopping ??= Promise.all([dispatcher.close(), running.stop(), server.stop()]).then(() => undefined)),
    };
  } catch (err) {
    await Promise.all([dispatcher.close(), proc?.stop(), tokens?.stop()]);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

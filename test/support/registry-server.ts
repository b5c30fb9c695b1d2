// A real docker-registry (distribution 2.8, Debian's package) for image pull/push tests, on
// 127.0.0.1 only with its own temp dir. The package's default config listens on all interfaces
// and points at /var/lib, so we always write our own config and scrub REGISTRY_* overrides.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request, type Dispatcher } from 'undici';
import { freePort, retryOnPortRace } from './free-port.js';
import { ManagedProcess, makeServerDir, mkdirp, scrubbedEnv } from './managed-process.js';
import { makePki } from './pki.js';

const run = promisify(execFile);
const REGISTRY_BIN = '/usr/bin/docker-registry';
const READY_TIMEOUT_MS = 15_000;

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  tls?: boolean;
  /** htpasswd (bcrypt) basic auth; works over plain HTTP too (the registry only logs a warning). */
  auth?: RegistryCredentials;
}

export interface RegistryServer {
  /** '127.0.0.1:PORT', what goes into docker://HOST/repo:tag. */
  host: string;
  /** 'http://127.0.0.1:PORT' or 'https://127.0.0.1:PORT'. */
  url: string;
  tls: boolean;
  caCertPem: string | undefined;
  caCertPath: string | undefined;
  auth: RegistryCredentials | undefined;
  /** An undici Agent trusting the test CA (when tls); use it for every request to this server. */
  dispatcher: Dispatcher;
  /** {} or { authorization: 'Basic …' }. */
  authHeader(): Record<string, string>;
  storageDir: string;
  logPath: string;
  pid: number;
  /** The temp dir holding config, certs, storage and log; gone after stop(). */
  dir: string;
  /** Idempotent; stops the process by PID and removes the temp dir. */
  stop(): Promise<void>;
}

export function startRegistry(opts: RegistryOptions = {}): Promise<RegistryServer> {
  return retryOnPortRace(() => startOnce(opts));
}

async function startOnce(opts: RegistryOptions): Promise<RegistryServer> {
  const tls = opts.tls ?? false;
  const dir = await makeServerDir('registry');
  let proc: ManagedProcess | undefined;
  let dispatcher: Agent | undefined;
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `${tls ? 'https' : 'http'}://${host}`;
    const storageDir = join(dir, 'storage');
    const logPath = join(dir, 'registry.log');
    const configPath = join(dir, 'config.yml');
    await mkdir(storageDir);

    const pki = tls ? await makePki(await mkdirp(join(dir, 'pki'))) : undefined;
    let htpasswdPath: string | undefined;
    if (opts.auth) {
      htpasswdPath = join(dir, 'htpasswd');
      await writeFile(htpasswdPath, await bcryptLine(opts.auth));
    }
    await writeFile(
      configPath,
      registryConfig({
        addr: host,
        storageDir,
        tls: pki && { certificate: pki.paths.serverCert, key: pki.paths.serverKey },
        htpasswdPath,
      }),
    );

    dispatcher = new Agent(pki ? { connect: { ca: pki.caCert } } : {});
    proc = await ManagedProcess.start({
      name: 'docker-registry',
      command: REGISTRY_BIN,
      args: ['serve', configPath],
      logPath,
      ownedDir: dir,
      env: scrubbedEnv('REGISTRY_'), // REGISTRY_* variables override the config file
    });

    const readyStatus = opts.auth ? 401 : 200;
    const agent = dispatcher;
    await proc.waitUntil(
      async (signal) => {
        const res = await request(`${url}/v2/`, { dispatcher: agent, signal });
        await res.body.dump();
        return res.statusCode === readyStatus;
      },
      { timeoutMs: READY_TIMEOUT_MS, what: `GET ${url}/v2/ answers ${readyStatus}` },
    );

    const running = proc;
    const auth = opts.auth && { ...opts.auth };
    let stopping: Promise<void> | undefined;
    return {
      host,
      url,
      tls,
      caCertPem: pki?.caCert,
      caCertPath: pki?.paths.caCert,
      auth,
      dispatcher: agent,
      authHeader: (): Record<string, string> =>
        auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {},
      storageDir,
      logPath,
      pid: running.pid,
      dir,
      stop: () => (stopping ??= Promise.all([agent.close(), running.stop()]).then(() => undefined)),
    };
  } catch (err) {
    await Promise.all([dispatcher?.close(), proc?.stop()]);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface RegistryConfigInput {
  addr: string;
  storageDir: string;
  tls: { certificate: string; key: string } | undefined;
  htpasswdPath: string | undefined;
  /** Bearer-token auth (token-registry.ts): where tokens come from and the certs that sign them. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

// Only what the tests need: no notifications, no redis, no proxy (pull-through) and no debug
// listener, so the registry never reaches out and never listens beyond `addr`. Paths are JSON
// strings, which YAML accepts as double-quoted scalars.
export function registryConfig(c: RegistryConfigInput): string {
  const q = JSON.stringify;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(c.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(c.addr)}`,
    `  secret: ${q(randomBytes(24).toString('hex'))}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
  ];
  if (c.tls) {
    lines.push('  tls:', `    certificate: ${q(c.tls.certificate)}`, `    key: ${q(c.tls.key)}`);
  }
  if (c.htpasswdPath) {
    lines.push('auth:', '  htpasswd:', '    realm: skiff-test', `    path: ${q(c.htpasswdPath)}`);
  }
  if (c.token) {
    const t = c.token;
    lines.push('auth:', '  token:', `    realm: ${q(t.realm)}`, `    service: ${q(t.service)}`, `    issuer: ${q(t.issuer)}`, `    rootcertbundle: ${q(t.rootCertBundle)}`);
  }
  lines.push('health:', '  storagedriver:', '    enabled: false');
  return `${lines.join('\n')}\n`;
}

/** The registry accepts only bcrypt entries; `htpasswd -B` makes one. */
async function bcryptLine({ username, password }: RegistryCredentials): Promise<string> {
  try {
    const { stdout } = await run('htpasswd', ['-Bbn', username, password]);
    return `${stdout.trim()}\n`;
  } catch (err) {
    throw new Error(`htpasswd -Bbn ${username} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`, {
      cause: err,
    });
  }
}

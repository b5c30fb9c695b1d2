// A real single-member etcd 3.4 (Debian's etcd-server) for KvStore and lease tests, on 127.0.0.1
// only with its own data dir. Tests talk to it through the v3 JSON gateway (/v3/kv/range etc.),
// so an undici dispatcher is all a test needs. ETCD_* variables act as flags, so they are scrubbed.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request, type Dispatcher } from 'undici';
import { freePort, retryOnPortRace } from './free-port.js';
import { ManagedProcess, makeServerDir, mkdirp, scrubbedEnv } from './managed-process.js';
import { makePki } from './pki.js';

const execFileAsync = promisify(execFile);
const ETCD_BIN = '/usr/bin/etcd';
const MEMBER_NAME = 'skiff-test';
const READY_TIMEOUT_MS = 20_000;

export interface EtcdOptions {
  /** HTTPS on the client URL with client certificates required (--client-cert-auth). */
  tls?: boolean;
  /** With tls: false serves HTTPS but asks for no client certificate (a CA is all a client needs). */
  clientCertAuth?: boolean;
  /**
   * Run etcd inside this test netns (nsenter --net), its client URL on `ip` port 2379, so daemons
   * in other test netns reach it over their underlay. The root netns cannot reach it: `dispatcher`,
   * `enableAuth` are then of no use; talk to it with `ctl`.
   */
  netns?: { path: string; ip: string };
  /**
   * Listen on this address of the current netns, on etcd's own ports 2379/2380: on a machine of
   * the test's own (the VM tier's pair of VMs, test/vm/pair/), where other machines reach it.
   */
  listen?: string;
}

export interface EtcdServer {
  /** 'http://127.0.0.1:PORT' or 'https://127.0.0.1:PORT'. */
  endpoint: string;
  tls: boolean;
  caCertPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  /** Trusts the test CA and presents the client certificate (when tls). */
  dispatcher: Dispatcher;
  dataDir: string;
  logPath: string;
  /** The current process (changes on restart). */
  readonly pid: number;
  /** The temp dir holding data, certs and log; gone after stop(). */
  dir: string;
  /** The netns it runs in (EtcdOptions.netns), if any. */
  netnsPath?: string;
  /** Idempotent; stops the process by PID and removes the temp dir. */
  stop(): Promise<void>;
  /** etcdctl (v3) against it, with its certificates, run where it is reachable (its netns). */
  ctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /**
   * Stops etcd (SIGTERM) keeping its data, runs `whileDown` if given, and starts it again on the
   * same ports and data; resolves once the gateway answers again.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /**
   * Turns on etcd authentication with user `root` (role root) and this password, through the
   * gateway. From then on every request needs a token (POST /v3/auth/authenticate).
   */
  enableAuth(password: string): Promise<void>;
}

export function startEtcd(opts: EtcdOptions = {}): Promise<EtcdServer> {
  return retryOnPortRace(() => startOnce(opts));
}

async function startOnce(opts: EtcdOptions): Promise<EtcdServer> {
  const tls = opts.tls ?? false;
  const dir = await makeServerDir('etcd');
  let proc: ManagedProcess | undefined;
  let dispatcher: Agent | undefined;
  try {
    // A netns of the test's own has every port free.
    const [clientPort, peerPort] = opts.netns === undefined && opts.listen === undefined ? await twoFreePorts() : [2379, 2380];
    const endpoint = `${tls ? 'https' : 'http'}://${opts.netns?.ip ?? opts.listen ?? '127.0.0.1'}:${clientPort}`;
    // The peer URL stays plain HTTP on loopback: a single member never talks to peers.
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(dir, 'data');
    const logPath = join(dir, 'etcd.log');
    const pki = tls ? await makePki(await mkdirp(join(dir, 'pki')), opts.netns === undefined ? [] : [opts.netns.ip]) : undefined;
    const inNetns = (argv: string[]): [string, string[]] =>
      opts.netns === undefined ? [argv[0]!, argv.slice(1)] : ['nsenter', [`--net=${opts.netns.path}`, '--', ...argv]];
    const certArgs = pki === undefined ? [] : ['--cacert', pki.paths.caCert, ...(clientCertAuthOf(opts) ? ['--cert', pki.paths.clientCert, '--key', pki.paths.clientKey] : [])];
    const ctl = async (ctlArgs: string[]) => {
      const [command, argv] = inNetns(['etcdctl', `--endpoints=${endpoint}`, ...certArgs, ...ctlArgs]);
      try {
        const { stdout, stderr } = await execFileAsync(command, argv, { env: { ...scrubbedEnv('ETCDCTL'), ETCDCTL_API: '3' } });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code?: unknown; stdout?: string; stderr?: string };
        if (typeof e.code !== 'number') throw err;
        return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    };

    const args = [
      '--name', MEMBER_NAME,
      '--data-dir', dataDir,
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `${MEMBER_NAME}=${peerUrl}`,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `skiff-test-${randomBytes(6).toString('hex')}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ];
    const clientCertAuth = clientCertAuthOf(opts);
    if (pki) {
      args.push('--cert-file', pki.paths.serverCert, '--key-file', pki.paths.serverKey);
      // etcd 3.4 asks every client for a certificate once it has --trusted-ca-file, with or
      // without --client-cert-auth: a server-only TLS etcd must not get one.
      if (clientCertAuth) args.push('--trusted-ca-file', pki.paths.caCert, '--client-cert-auth');
    }

    dispatcher = new Agent(
      pki ? { connect: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey } } : {},
    );
    const [command, argv] = inNetns([ETCD_BIN, ...args]);
    const launch = (): Promise<ManagedProcess> =>
      ManagedProcess.start({
        name: 'etcd',
        command,
        args: argv,
        logPath,
        ownedDir: dir,
        env: scrubbedEnv('ETCD'),
      });
    proc = await launch();

    const agent = dispatcher;
    // A range through the gateway proves the member has a leader and the gateway reaches it;
    // /health alone can answer before the gateway is wired. With auth on, "user name is empty"
    // is the member answering too.
    const waitReady = (running: ManagedProcess): Promise<void> =>
      running.waitUntil(
        async (signal) => {
          if (opts.netns !== undefined) return answersInNetns(inNetns, endpoint, certArgs, signal);
          const res = await request(`${endpoint}/v3/kv/range`, {
            method: 'POST',
            dispatcher: agent,
            signal,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ key: Buffer.from('skiff-test-ready').toString('base64') }),
          });
          const text = await res.body.text();
          return res.statusCode === 200 || text.includes('user name is empty');
        },
        { timeoutMs: READY_TIMEOUT_MS, what: `POST ${endpoint}/v3/kv/range answers 200` },
      );
    await waitReady(proc);

    let running = proc;
    let stopping: Promise<void> | undefined;
    const gateway = async (path: string, body: object): Promise<void> => {
      const res = await request(`${endpoint}/v3/${path}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`etcd ${path}: HTTP ${res.statusCode} ${text}`);
    };
    return {
      endpoint,
      tls,
      caCertPath: pki?.paths.caCert,
      clientCertPath: pki?.paths.clientCert,
      clientKeyPath: pki?.paths.clientKey,
      dispatcher: agent,
      dataDir,
      logPath,
      get pid() {
        return running.pid;
      },
      dir,
      ...(opts.netns === undefined ? {} : { netnsPath: opts.netns.path }),
      ctl,
      stop: () => (stopping ??= Promise.all([agent.close(), running.stop()]).then(() => undefined)),
      restart: async (whileDown) => {
        if (stopping !== undefined) throw new Error('etcd: restart after stop');
        await running.stop({ keepDir: true });
        await whileDown?.();
        running = await launch();
        await waitReady(running);
      },
      enableAuth: async (password) => {
        await gateway('auth/role/add', { name: 'root' });
        await gateway('auth/user/add', { name: 'root', password });
        await gateway('auth/user/grant', { user: 'root', role: 'root' });
        await gateway('auth/enable', {});
      },
    };
  } catch (err) {
    await Promise.all([dispatcher?.close(), proc?.stop()]);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

const clientCertAuthOf = (opts: EtcdOptions) => opts.clientCertAuth ?? true;

/** The readiness check from inside the netns: curl's POST /v3/kv/range answers 200 (or auth's "user name is empty"). */
async function answersInNetns(inNetns: (argv: string[]) => [string, string[]], endpoint: string, certArgs: string[], signal: AbortSignal): Promise<boolean> {
  const body = JSON.stringify({ key: Buffer.from('skiff-test-ready').toString('base64') });
  const [command, argv] = inNetns(['curl', '-s', '-w', '\\n%{http_code}', '--max-time', '2', ...certArgs, '-H', 'content-type: application/json', '-d', body, `${endpoint}/v3/kv/range`]);
  const { stdout } = await execFileAsync(command, argv, { signal }).catch(() => ({ stdout: '' }));
  return stdout.endsWith('\n200') || stdout.includes('user name is empty');
}

async function twoFreePorts(): Promise<[number, number]> {
  for (;;) {
    const [a, b] = await Promise.all([freePort(), freePort()]);
    if (a !== b) return [a, b];
  }
}

// A real single-member etcd 3.4 (Debian's etcd-server) for KvStore and lease tests, on 127.0.0.1
// only with its own data dir. Tests talk to it through the v3 JSON gateway (/v3/kv/range etc.),
// so an undici dispatcher is all a test needs. ETCD_* variables act as flags, so they are scrubbed.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
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
  /**
   * Run etcd inside this test netns (nsenter --net), its client URL on `ip` port 2379, so daemons
   * in other test netns reach it over their underlay (the root netns cannot: `dispatcher` is then
   * of no use, talk to it with `ctl`).
   */
  netns?: { path: string; ip: string };
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
  /** The running process's PID (a new one after restart()). */
  readonly pid: number;
  /** The temp dir holding data, certs and log; gone after stop(). */
  dir: string;
  /** The netns it runs in (EtcdOptions.netns), if any. */
  netnsPath?: string;
  /** Idempotent; stops the process by PID and removes the temp dir. */
  stop(): Promise<void>;
  /** Stops the process (by PID, SIGTERM) and keeps its data: an etcd outage until start(). */
  halt(): Promise<void>;
  /** Starts it again after halt(), same data, same endpoint; resolves once it answers. */
  start(): Promise<void>;
  /** etcdctl (v3) against it, with its certificates, run where it is reachable (its netns). */
  ctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
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
    const [clientPort, peerPort] = opts.netns === undefined ? await twoFreePorts() : [2379, 2380];
    const host = opts.netns?.ip ?? '127.0.0.1';
    const endpoint = `${tls ? 'https' : 'http'}://${host}:${clientPort}`;
    // The peer URL stays plain HTTP on loopback: a single member never talks to peers.
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(dir, 'data');
    const logPath = join(dir, 'etcd.log');
    const pki = tls ? await makePki(await mkdirp(join(dir, 'pki')), opts.netns === undefined ? [] : [opts.netns.ip]) : undefined;

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
    if (pki) {
      args.push(
        '--cert-file', pki.paths.serverCert,
        '--key-file', pki.paths.serverKey,
        '--trusted-ca-file', pki.paths.caCert,
        '--client-cert-auth',
      );
    }

    dispatcher = new Agent(
      pki ? { connect: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey } } : {},
    );
    const agent = dispatcher;
    const certArgs = pki ? ['--cacert', pki.paths.caCert, '--cert', pki.paths.clientCert, '--key', pki.paths.clientKey] : [];
    const inNetns = (argv: string[]): [string, string[]] =>
      opts.netns === undefined ? [argv[0]!, argv.slice(1)] : ['nsenter', [`--net=${opts.netns.path}`, '--', ...argv]];
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
    // A range through the gateway proves the member has a leader and the gateway reaches it;
    // /health alone can answer before the gateway is wired. In a netns, curl asks from there.
    const rangeBody = JSON.stringify({ key: Buffer.from('skiff-test-ready').toString('base64') });
    const answers = async (signal: AbortSignal): Promise<boolean> => {
      if (opts.netns !== undefined) {
        const curlCerts = pki ? ['--cacert', pki.paths.caCert, '--cert', pki.paths.clientCert, '--key', pki.paths.clientKey] : [];
        const [command, argv] = inNetns(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', ...curlCerts,
          '-H', 'content-type: application/json', '-d', rangeBody, `${endpoint}/v3/kv/range`]);
        const { stdout } = await execFileAsync(command, argv, { signal }).catch(() => ({ stdout: '' }));
        return stdout === '200';
      }
      const res = await request(`${endpoint}/v3/kv/range`, {
        method: 'POST',
        dispatcher: agent,
        signal,
        headers: { 'content-type': 'application/json' },
        body: rangeBody,
      });
      await res.body.dump();
      return res.statusCode === 200;
    };
    // The data dir outlives a halt(), so the process does not own the dir; stop() removes it.
    const launch = async () => {
      const [command, argv] = inNetns([ETCD_BIN, ...args]);
      const p = await ManagedProcess.start({ name: 'etcd', command, args: argv, logPath, env: scrubbedEnv('ETCD') });
      proc = p;
      await p.waitUntil(answers, { timeoutMs: READY_TIMEOUT_MS, what: `POST ${endpoint}/v3/kv/range answers 200` });
    };
    ownedDirs.add(dir);
    await launch();

    let stopping: Promise<void> | undefined;
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
        return proc!.pid;
      },
      dir,
      ...(opts.netns === undefined ? {} : { netnsPath: opts.netns.path }),
      stop: () => (stopping ??= Promise.all([agent.close(), proc?.stop()]).then(async () => {
        await rm(dir, { recursive: true, force: true });
        ownedDirs.delete(dir);
      })),
      halt: async () => {
        await proc?.stop();
      },
      start: async () => {
        if (proc !== undefined && proc.exitStatus === undefined) return;
        await launch();
      },
      ctl,
    };
  } catch (err) {
    await Promise.all([dispatcher?.close(), proc?.stop()]);
    await rm(dir, { recursive: true, force: true });
    ownedDirs.delete(dir);
    throw err;
  }
}

/** Data dirs of servers not yet stopped: removed at exit (after managed-process's reaper killed them). */
const ownedDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});

async function twoFreePorts(): Promise<[number, number]> {
  for (;;) {
    const [a, b] = await Promise.all([freePort(), freePort()]);
    if (a !== b) return [a, b];
  }
}

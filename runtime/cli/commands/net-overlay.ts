/**
 * `skiff net daemon`, `skiff net config set|get`, `skiff net leases`: the overlay's commands
 * (network/overlay/). The store is etcd when --etcd-endpoints is given, else the embedded store
 * under --dir (one machine needs no etcd).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import type { GlobalOptions } from '../global-options.js';
import { printResult, renderTable } from '../output.js';
import { formatCidr } from '../../../network/ipv4.js';
import type { KvStore } from '../../../network/kv/index.js';
import type { OverlayLog } from '../../../network/overlay/overlay-daemon.js';

export interface StoreFlags {
  etcdEndpoints?: string;
  etcdPrefix: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  etcdUsername?: string;
  etcdPassword?: string;
}

export interface DaemonFlags extends StoreFlags {
  iface?: string;
  publicIp?: string;
  subnetFile: string;
  subnetLeaseRenewMargin: number;
  subnetLeaseTtl: number;
  ipMasq: boolean;
  healthzIp: string;
  healthzPort: number;
}

async function openStore(global: GlobalOptions, f: StoreFlags): Promise<KvStore> {
  const { openKvStore } = await import('../../../network/kv/index.js');
  if ((f.etcdCertfile === undefined) !== (f.etcdKeyfile === undefined)) {
    throw new UsageError('--etcd-certfile and --etcd-keyfile go together (a client certificate and its key)', { hint: 'give both, or neither' });
  }
  return openKvStore({
    dir: global.dir,
    ...(f.etcdEndpoints === undefined ? {} : { endpoints: [f.etcdEndpoints] }),
    ...(f.etcdCafile === undefined ? {} : { caFile: f.etcdCafile }),
    ...(f.etcdCertfile === undefined ? {} : { certFile: f.etcdCertfile }),
    ...(f.etcdKeyfile === undefined ? {} : { keyFile: f.etcdKeyfile }),
    ...(f.etcdUsername === undefined ? {} : { username: f.etcdUsername }),
    ...(f.etcdPassword === undefined ? {} : { password: f.etcdPassword }),
  });
}

/** `key=value` fields, quoted when they hold spaces: one line per change, for journald and grep. */
export function logLine(event: string, fields: Record<string, string | number | boolean>): string {
  const quote = (v: string) => (/[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v);
  return `skiff net: event=${event}${Object.entries(fields).map(([k, v]) => ` ${k}=${quote(String(v))}`).join('')}\n`;
}

const log: OverlayLog = (event, fields) => process.stderr.write(logLine(event, fields));

export async function netConfigSet(global: GlobalOptions, f: StoreFlags, file: string): Promise<void> {
  const { parseOverlayConfig } = await import('../../../network/overlay/flannel-config.js');
  const { configKey } = await import('../../../network/overlay/subnet-lease.js');
  const key = configKey(f.etcdPrefix);
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the overlay config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { input: file });
  }
  // Checked before it is stored: a bad config never reaches the hosts.
  parseOverlayConfig(text, `${key} (from ${file === '-' ? 'stdin' : file})`);
  const kv = await openStore(global, f);
  try {
    await kv.put(key, text.trim());
  } finally {
    await kv.close();
  }
}

export async function netConfigGet(global: GlobalOptions, f: StoreFlags): Promise<void> {
  const { configKey } = await import('../../../network/overlay/subnet-lease.js');
  const { NotFoundError } = await import('../../errors.js');
  const kv = await openStore(global, f);
  try {
    const key = configKey(f.etcdPrefix);
    const got = await kv.get(key);
    if (got === undefined) throw new NotFoundError(`no overlay config at ${key} in the ${kv.describe}`, { input: key, hint: 'write one with `skiff net config set FILE`' });
    process.stdout.write(`${got.value}\n`);
  } finally {
    await kv.close();
  }
}

export async function netLeases(global: GlobalOptions, f: StoreFlags): Promise<void> {
  const { listLeases } = await import('../../../network/overlay/own-lease.js');
  const kv = await openStore(global, f);
  try {
    const { leases, kvs } = await listLeases(kv, f.etcdPrefix);
    const rows = await Promise.all(leases.map(async (l) => {
      const lease = kvs.find((e) => e.key === l.key)?.lease;
      const ttl = lease === undefined ? undefined : await kv.timeToLive(lease);
      return {
        subnet: formatCidr(l.subnet),
        publicIp: l.attrs.publicIp,
        backend: l.attrs.backendType,
        vtepMac: l.attrs.vxlan?.vtepMac ?? null,
        expires: l.reservation ? null : ttl === undefined ? null : new Date(Date.now() + ttl * 1000).toISOString(),
        reservation: l.reservation,
      };
    }));
    printResult(global.format, rows, (r) => renderTable([
      ['SUBNET', 'PUBLIC-IP', 'BACKEND', 'VTEP-MAC', 'EXPIRES'],
      ...r.map((x) => [x.subnet, x.publicIp, x.backend, x.vtepMac ?? '-', x.reservation ? 'reservation' : x.expires ?? '-']),
    ], true));
  } finally {
    await kv.close();
  }
}

/** /healthz: the daemon runs; /readyz: its data path is programmed and subnet.env written (flannel's). */
function healthServer(ip: string, port: number, ready: () => boolean): Server {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(200).end('skiff net daemon is running\n');
    if (req.url === '/readyz') return void res.writeHead(ready() ? 200 : 503).end(ready() ? 'ready\n' : 'not ready\n');
    res.writeHead(404).end();
  });
  server.listen(port, ip);
  return server;
}

export async function netDaemon(global: GlobalOptions, f: DaemonFlags): Promise<void> {
  const [{ runOverlayDaemon }, { openNetlink }, { sdNotify }] = await Promise.all([
    import('../../../network/overlay/overlay-daemon.js'),
    import('../../../network/netlink/index.js'),
    import('../../../native/bindings/sd-notify.js'),
  ]);
  const kv = await openStore(global, f);
  const nl = await openNetlink();
  const stop = new AbortController();
  let ready = false;
  const health = f.healthzPort > 0 ? healthServer(f.healthzIp, f.healthzPort, () => ready) : undefined;
  const onSignal = (signal: string) => {
    log('stopping', { signal, lease: 'kept' });
    sdNotify('STOPPING=1');
    stop.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  try {
    await runOverlayDaemon({
      kv, nl, log,
      prefix: f.etcdPrefix,
      iface: f.iface,
      publicIp: f.publicIp,
      subnetFile: f.subnetFile,
      stateDir: join(global.dir, 'overlay'),
      ipMasq: f.ipMasq,
      leaseTtlSeconds: f.subnetLeaseTtl,
      renewMarginSeconds: f.subnetLeaseRenewMargin,
      signal: stop.signal,
      onReady: ({ subnet, mtu }) => {
        ready = true;
        sdNotify(`READY=1\nSTATUS=lease ${formatCidr(subnet)}, mtu ${mtu}\nMAINPID=${process.pid}`);
      },
    });
  } finally {
    health?.close();
    nl.close();
    await kv.close();
  }
}

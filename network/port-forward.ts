/**
 * Port forwarding (`--port`): what the flag asks for, what it becomes once the images are known,
 * and the per-pod iptables rules stage1 adds and removes through its host hooks.
 *
 *   --port=NAME:[HOSTIP:]HOSTPORT     an image's named port (rkt's form)
 *   --port=HOSTPORT:PODPORT[/tcp|udp] any port of the pod (tcp when no protocol is given)
 *
 * Named ports: an OCI/Docker image config's `ExposedPorts` ("8080/tcp") carry no names, so a port
 * is named PORT-PROTOCOL, as rkt's docker2aci named them (`8080-tcp`, `53-udp`); the names of
 * every app's image of the pod count. A forward goes to the pod's address on its FIRST network
 * (eth0), which must be a bridge network of ours (not none or host).
 *
 * Per pod, one DNAT rule per forward in the nat chain SKIFF-DNAT (host-wide: port-forward-host.ts),
 * added by stage1's `host-up` and removed by its `host-down` (native/host-hooks.c), with the pod's
 * address as stage1's `{ip:NAME}` placeholder and the comment `skiff:{uuid}`: the argv holds no
 * per-pod value but the UUID, so a run plan replays it as it is, and `gc` finds a pod's rules by
 * comment.
 *
 * Each host port is claimed by a file `PROTO-HOSTPORT` in the ports dir (stage1's `port-claim`,
 * native/port-claim.c) before anything is wired: two pods never forward one host port, whichever
 * path (CLI or replayed plan) started them. A claim covers every host address: a port forwarded
 * on 127.0.0.1 and the same port on all addresses would shadow each other.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkError, UsageError } from '../runtime/errors.js';
import { parseIpv4 } from './ipv4.js';

export type PortProtocol = 'tcp' | 'udp';

/** A forward as the manifest keeps it (runtime.ports): resolved, the image's name kept for `status`. */
export interface PortForward {
  protocol: PortProtocol;
  /** Only traffic to this host address (IPv4); absent: every local address, 127.0.0.1 included. */
  hostIp?: string;
  hostPort: number;
  podPort: number;
  /** The image's port name, for the named form. */
  name?: string;
}

/** `--port` as given: named (resolved against the images) or numeric (complete already). */
export type PortRequest =
  | { kind: 'named'; name: string; hostIp?: string; hostPort: number; text: string }
  | { kind: 'numeric'; forward: PortForward; text: string };

export interface NamedPort {
  name: string;
  port: number;
  protocol: string;
}

/** Where port claims live; SKIFF_PORTS_DIR moves it (tests: one per test "host"). */
export const DEFAULT_PORTS_DIR = '/run/skiff/ports';
export const PORTS_DIR_ENV = 'SKIFF_PORTS_DIR';
export const DNAT_CHAIN = 'SKIFF-DNAT';

export function portsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[PORTS_DIR_ENV];
  return dir === undefined || dir === '' ? DEFAULT_PORTS_DIR : dir;
}

const USAGE = 'give --port=NAME:[HOSTIP:]HOSTPORT (a port of the image) or --port=HOSTPORT:PODPORT[/tcp|udp]';

function portNumber(text: string, value: string, what: string): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new UsageError(`--port ${value}: ${what} "${text}" is not a port number (1-65535)`, { input: value, hint: USAGE });
  return n;
}

/** One `--port` value; a bad one is a UsageError naming it. */
export function parsePortArg(value: string): PortRequest {
  const numeric = /^([^:/]*):([^:/]*)(?:\/(.*))?$/.exec(value);
  if (numeric !== null && /^[0-9]+$/.test(numeric[1]!)) {
    const protocol = (numeric[3] ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`--port ${value}: protocol "${numeric[3]}" is not tcp or udp`, { input: value, hint: USAGE });
    const forward: PortForward = { protocol, hostPort: portNumber(numeric[1]!, value, 'host port'), podPort: portNumber(numeric[2]!, value, 'pod port') };
    return { kind: 'numeric', forward, text: value };
  }
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '') throw new UsageError(`--port "${value}" is not NAME:[HOSTIP:]HOSTPORT or HOSTPORT:PODPORT[/tcp|udp]`, { input: value, hint: USAGE });
  const [name, ...rest] = parts as [string, ...string[]];
  const hostIp = rest.length === 2 ? rest[0]! : undefined;
  if (hostIp !== undefined && parseIpv4(hostIp) === undefined) throw new UsageError(`--port ${value}: host address "${hostIp}" is not an IPv4 address`, { input: value, hint: USAGE });
  const hostPort = portNumber(rest.at(-1)!, value, 'host port');
  return { kind: 'named', name, ...(hostIp === undefined || hostIp === '0.0.0.0' ? {} : { hostIp }), hostPort, text: value };
}

/** An image's exposed ports by name (PORT-PROTOCOL, docker2aci's names). */
export function imagePortNames(exposed: ReadonlyArray<{ port: number; protocol: string }>): NamedPort[] {
  return exposed.map((p) => ({ name: `${p.port}-${p.protocol}`, port: p.port, protocol: p.protocol }));
}

/** The forwards of a pod: named requests looked up in the images' ports; each host port at most once. */
export function resolvePorts(requests: readonly PortRequest[], named: readonly NamedPort[]): PortForward[] {
  const forwards = requests.map((r): PortForward => {
    if (r.kind === 'numeric') return r.forward;
    const p = named.find((n) => n.name === r.name);
    if (p === undefined) {
      const known = named.map((n) => n.name).join(', ');
      throw new UsageError(`--port ${r.text}: the pod's images expose no port named "${r.name}"`, {
        input: r.text, hint: known === '' ? 'they expose no ports: give --port=HOSTPORT:PODPORT[/tcp|udp]' : `their ports: ${known}`,
      });
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') {
      throw new UsageError(`--port ${r.text}: port ${p.name} is ${p.protocol}; only tcp and udp are forwarded`, { input: r.text });
    }
    return { protocol: p.protocol, ...(r.hostIp === undefined ? {} : { hostIp: r.hostIp }), hostPort: r.hostPort, podPort: p.port, name: p.name };
  });
  const seen = new Set<string>();
  for (const f of forwards) {
    const key = claimName(f);
    if (seen.has(key)) throw new UsageError(`--port: host port ${f.hostPort}/${f.protocol} is given twice`, { input: String(f.hostPort), hint: 'forward each host port once' });
    seen.add(key);
  }
  return forwards;
}

/** The claim file's name: one per protocol and host port, whatever the host address. */
export function claimName(f: Pick<PortForward, 'protocol' | 'hostPort'>): string {
  return `${f.protocol}-${f.hostPort}`;
}

export function describePort(f: PortForward): string {
  return `${f.hostIp ?? '0.0.0.0'}:${f.hostPort}->${f.podPort}/${f.protocol}`;
}

/**
 * The CLI's early check, before anything is made: a port another pod claims is an error naming
 * that pod. stage1's claim (link(2), all or nothing) stays the one that decides a race.
 */
export function assertPortsFree(dir: string, forwards: readonly PortForward[]): void {
  for (const f of forwards) {
    let holder: string;
    try {
      holder = readFileSync(join(dir, claimName(f)), 'utf8').trim();
    } catch {
      continue;
    }
    throw new NetworkError(`host port ${f.hostPort}/${f.protocol} is taken by pod ${holder}`, {
      input: `${f.hostPort}/${f.protocol}`, hint: "pick another host port or stop that pod; if that pod is gone, 'skiff gc' releases the port",
    });
  }
}

/** The iptables binary, as an absolute path: stage1 execs hooks without a PATH search. */
export function iptablesPath(): string {
  const found = ['/usr/sbin/iptables', '/sbin/iptables', '/usr/local/sbin/iptables', '/usr/bin/iptables'].find((p) => existsSync(p));
  if (found === undefined) {
    throw new NetworkError('iptables is not installed: Skiff needs it to forward ports', { input: 'iptables', hint: 'install it (Debian: apt-get install iptables) or run without --port' });
  }
  return found;
}

/** The DNAT rule of one forward to the pod's address on network `net` (stage1 placeholders). */
export function dnatRule(f: PortForward, net: string): string[] {
  return [
    '-p', f.protocol, ...(f.hostIp === undefined ? [] : ['-d', `${f.hostIp}/32`]), '--dport', String(f.hostPort),
    '-m', 'comment', '--comment', 'skiff:{uuid}', '-j', 'DNAT', '--to-destination', `{ip:${net}}:${f.podPort}`,
  ];
}

/** stage1 config pairs for the forwards: the claims first (checked before anything is wired), then the rules as host hooks. */
export function portForwardPairs(forwards: readonly PortForward[], net: string, options: { iptables: string; portsDir: string }): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const f of forwards) pairs.push(['port-claim', [options.portsDir, f.protocol, String(f.hostPort)].join('\t')]);
  for (const f of forwards) {
    const rule = dnatRule(f, net);
    pairs.push(['host-up', [options.iptables, '-w', '-t', 'nat', '-A', DNAT_CHAIN, ...rule].join('\t')]);
    pairs.push(['host-down', [options.iptables, '-w', '-t', 'nat', '-D', DNAT_CHAIN, ...rule].join('\t')]);
  }
  return pairs;
}

function unlinkIfHeld(path: string, uuid: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() !== uuid) return;
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** `gc`/`rm` after a kill -9: the claims of the config's `port-claim` values that still name pod `uuid` (and its temp file); idempotent. */
export function releasePortClaims(uuid: string, claims: readonly string[]): void {
  for (const value of claims) {
    const [dir, protocol, port] = value.split('\t');
    if (dir === undefined || protocol === undefined || port === undefined) continue;
    unlinkIfHeld(join(dir, `${protocol}-${port}`), uuid);
    unlinkIfHeld(join(dir, `.claim-${uuid}`), uuid);
  }
}

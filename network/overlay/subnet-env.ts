/**
 * subnet.env, flannel's hand-off to whatever wires pods (../shared/reference/flannel.md §3):
 * `FLANNEL_NETWORK`, `FLANNEL_SUBNET` (the lease's first address with its prefix), `FLANNEL_MTU`,
 * `FLANNEL_IPMASQ`, in that order, `KEY=value` lines, written atomically (temp + fsync + rename)
 * with mode 0644. The daemon writes it; `--net=overlay` pods read it; a restarted daemon reads its
 * subnet back to ask for the same one.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { formatCidr, formatIpv4, parseCidr, type Cidr } from '../ipv4.js';

export const DEFAULT_SUBNET_FILE = '/run/skiff/subnet.env';

export interface SubnetEnv {
  network: Cidr;
  /** The lease (network address and prefix). */
  subnet: Cidr;
  mtu: number;
  ipMasq: boolean;
}

export function formatSubnetEnv(e: SubnetEnv): string {
  return [
    `FLANNEL_NETWORK=${formatCidr(e.network)}`,
    `FLANNEL_SUBNET=${formatIpv4(e.subnet.network + 1)}/${e.subnet.prefix}`,
    `FLANNEL_MTU=${e.mtu}`,
    `FLANNEL_IPMASQ=${e.ipMasq}`,
    '',
  ].join('\n');
}

export function writeSubnetEnv(path: string, e: SubnetEnv): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileAtomic(path, formatSubnetEnv(e), 0o644);
}

/** Parses subnet.env's text; undefined for a field that is missing or malformed (the caller says which it needs). */
export function parseSubnetEnv(text: string): Partial<SubnetEnv> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) vars.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const out: Partial<SubnetEnv> = {};
  // Like the CNI flannel plugin: FLANNEL_NETWORK may be a comma list (dual stack); the first IPv4 one is ours.
  const network = vars.get('FLANNEL_NETWORK')?.split(',').map((n) => parseCidr(n.trim())).find((c) => c !== undefined);
  if (network !== undefined) out.network = network;
  // FLANNEL_SUBNET holds the first address (…​.1/24): masked to the network, as net.ParseCIDR does.
  const subnet = parseCidr(vars.get('FLANNEL_SUBNET') ?? '', true);
  if (subnet !== undefined) out.subnet = subnet;
  const mtu = Number(vars.get('FLANNEL_MTU'));
  if (Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535) out.mtu = mtu;
  const masq = vars.get('FLANNEL_IPMASQ');
  if (masq !== undefined) out.ipMasq = masq === 'true';
  return out;
}

/** The subnet of an earlier run's file, for reuse; undefined when there is none or it is unreadable. */
export function previousSubnet(path: string): Cidr | undefined {
  try {
    return parseSubnetEnv(readFileSync(path, 'utf8')).subnet;
  } catch {
    return undefined;
  }
}

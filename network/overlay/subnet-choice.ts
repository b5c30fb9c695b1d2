/**
 * Which subnet a host asks for (flannel's tryAcquireLease, ../shared/reference/flannel.md §1):
 * 1. the lease that already carries our PublicIP, if it fits the config (a restart keeps its
 *    subnet and with it every pod address);
 * 2. else the subnet of our last subnet.env, if nobody holds it now and it fits;
 * 3. else one of the first 100 free subnets from SubnetMin up, picked at random, so hosts starting
 *    together rarely race for the same one (a lost race is retried by the caller, unlike flannel).
 * A lease with our PublicIP that no longer fits the config is returned as `stale` for the caller to
 * delete (flannel's behaviour), unless it is a reservation (no TTL), which is never touched.
 */
import { formatCidr, overlaps, type Cidr } from '../ipv4.js';
import type { OverlayConfig } from './flannel-config.js';
import type { SubnetLease } from './subnet-lease.js';

export interface HeldLease extends SubnetLease {
  /** A key without a TTL (an admin's `etcdctl put`): a reservation for its PublicIP. */
  reservation: boolean;
}

export type SubnetChoice =
  | { kind: 'reuse'; lease: HeldLease; stale: HeldLease[] }
  | { kind: 'new'; subnet: Cidr; stale: HeldLease[] }
  | { kind: 'full'; stale: HeldLease[] };

/** How many free subnets the random pick draws from (flannel's). */
export const FREE_CANDIDATES = 100;

export function fitsConfig(subnet: Cidr, config: OverlayConfig): boolean {
  return subnet.prefix === config.subnetLen && subnet.network >= config.subnetMin && subnet.network <= config.subnetMax;
}

export function chooseSubnet(
  config: OverlayConfig,
  leases: readonly HeldLease[],
  publicIp: string,
  previous: Cidr | undefined,
  random: () => number = Math.random,
): SubnetChoice {
  const ours = leases.filter((l) => l.attrs.publicIp === publicIp);
  const fitting = ours.find((l) => fitsConfig(l.subnet, config));
  const stale = ours.filter((l) => !fitsConfig(l.subnet, config) && !l.reservation);
  if (fitting !== undefined) return { kind: 'reuse', lease: fitting, stale };
  const others = leases.filter((l) => !stale.includes(l));
  const free = (s: Cidr) => !others.some((l) => overlaps(l.subnet, s));
  if (previous !== undefined && fitsConfig(previous, config) && free(previous)) return { kind: 'new', subnet: previous, stale };
  const candidates: Cidr[] = [];
  const size = 2 ** (32 - config.subnetLen);
  for (let n = config.subnetMin; n <= config.subnetMax && candidates.length < FREE_CANDIDATES; n += size) {
    const s = { network: n, prefix: config.subnetLen };
    if (free(s)) candidates.push(s);
  }
  if (candidates.length === 0) return { kind: 'full', stale };
  return { kind: 'new', subnet: candidates[Math.floor(random() * candidates.length)]!, stale };
}

/** For log lines and errors. */
export const describeSubnet = formatCidr;

/**
 * This host's lease in the store: acquired, kept alive, re-acquired when lost.
 *
 * Acquire (flannel's AcquireLease, fixed where it fails; ../shared/reference/flannel.md §1):
 * list the leases, choose (subnet-choice.ts), delete our own stale ones, then write with a
 * condition: a fresh subnet by create-if-absent with a TTL lease; our existing lease by
 * compare-and-swap on its revision, keeping its etcd lease (a restart keeps the subnet); a
 * reservation (a key with no lease, an admin's) by compare-and-swap without a lease, so it stays a
 * reservation (flannel #1329 turned it into a 24 h lease). A lost race is tried again with a
 * fresh list, up to RACE_RETRIES times (flannel gave up at the first).
 *
 * Renewal is etcd's keepalive on the key's lease before the TTL runs out (`renewMargin` before),
 * so peers see no change at all; flannel re-PUTs and makes every peer reprogram.
 */
import { NetworkError } from '../../runtime/errors.js';
import { formatCidr, type Cidr } from '../ipv4.js';
import type { KeyValue, KvStore, LeaseId } from '../kv/index.js';
import type { OverlayConfig } from './flannel-config.js';
import { chooseSubnet, type HeldLease } from './subnet-choice.js';
import { encodeLeaseAttrs, leaseOf, subnetKey, subnetsPrefix, type LeaseAttrs } from './subnet-lease.js';

export const RACE_RETRIES = 10;
/** flannel's subnetTTL. */
export const DEFAULT_LEASE_TTL_SECONDS = 24 * 60 * 60;

export interface OwnLease {
  subnet: Cidr;
  key: string;
  /** The etcd lease keeping the key; undefined for a reservation (no TTL). */
  leaseId: LeaseId | undefined;
  /** The TTL granted, seconds (0 for a reservation). */
  ttl: number;
  modRevision: number;
}

/** The store's leases under `prefix`, with whether each is a reservation. */
export async function listLeases(kv: KvStore, prefix: string): Promise<{ leases: HeldLease[]; revision: number; kvs: KeyValue[] }> {
  const { kvs, revision } = await kv.list(subnetsPrefix(prefix));
  const leases = kvs.flatMap((e) => {
    const l = leaseOf(e.key, e.value);
    return l === undefined ? [] : [{ ...l, reservation: e.lease === undefined }];
  });
  return { leases, revision, kvs };
}

export interface AcquireOptions {
  prefix: string;
  config: OverlayConfig;
  attrs: LeaseAttrs;
  /** The subnet of the last subnet.env, for reuse. */
  previous: Cidr | undefined;
  ttlSeconds: number;
  random?: () => number;
  /** One line per decision (reuse, race lost, stale deleted). */
  log?: (event: string, fields: Record<string, string | number>) => void;
}

export async function acquireLease(kv: KvStore, o: AcquireOptions): Promise<OwnLease> {
  const value = encodeLeaseAttrs(o.attrs);
  const log = o.log ?? (() => undefined);
  for (let attempt = 1; attempt <= RACE_RETRIES; attempt++) {
    const { leases, kvs } = await listLeases(kv, o.prefix);
    const choice = chooseSubnet(o.config, leases, o.attrs.publicIp, o.previous, o.random);
    for (const stale of choice.stale) {
      const at = kvs.find((e) => e.key === stale.key);
      if (await kv.delete(stale.key, at === undefined ? {} : { modRevision: at.modRevision })) log('lease-deleted', { subnet: formatCidr(stale.subnet), reason: 'outside the config' });
    }
    if (choice.kind === 'full') {
      throw new NetworkError(`out of subnets: every /${o.config.subnetLen} of ${formatCidr(o.config.network)} between SubnetMin and SubnetMax is leased`, {
        input: kv.describe,
        hint: 'widen Network or SubnetMin/SubnetMax in the overlay config, or delete leases of hosts that left',
      });
    }
    if (choice.kind === 'reuse') {
      const held = kvs.find((e) => e.key === choice.lease.key);
      if (held === undefined) continue;
      const options = held.lease === undefined ? {} : { lease: held.lease };
      const r = await kv.compareAndSwap(held.key, value, held.modRevision, options);
      if (!r.ok) {
        log('lease-race', { subnet: formatCidr(choice.lease.subnet), attempt });
        continue;
      }
      if (held.lease === undefined) {
        log('lease-acquired', { subnet: formatCidr(choice.lease.subnet), how: 'reservation' });
        return { subnet: choice.lease.subnet, key: held.key, leaseId: undefined, ttl: 0, modRevision: r.kv.modRevision };
      }
      const alive = await kv.keepAlive(held.lease);
      if (alive === undefined) continue; // expired in between: the key went with it; choose again
      log('lease-acquired', { subnet: formatCidr(choice.lease.subnet), how: 'reused' });
      return { subnet: choice.lease.subnet, key: held.key, leaseId: held.lease, ttl: alive.ttl, modRevision: r.kv.modRevision };
    }
    const key = subnetKey(o.prefix, choice.subnet);
    const r = await kv.createIfAbsent(key, value, { ttl: o.ttlSeconds });
    if (r.ok && r.lease !== undefined) {
      log('lease-acquired', { subnet: formatCidr(choice.subnet), how: o.previous !== undefined && formatCidr(o.previous) === formatCidr(choice.subnet) ? 'subnet-file' : 'new' });
      return { subnet: choice.subnet, key, leaseId: r.lease.id, ttl: r.lease.ttl, modRevision: r.kv.modRevision };
    }
    log('lease-race', { subnet: formatCidr(choice.subnet), attempt });
  }
  throw new NetworkError(`could not acquire a subnet lease: lost the race ${RACE_RETRIES} times in a row`, {
    input: kv.describe,
    hint: 'many hosts are starting at once; start the daemon again',
  });
}

/** Keeps the lease alive; false when it is gone (expired or revoked: acquire again). Store errors propagate. */
export async function renewLease(kv: KvStore, own: OwnLease): Promise<boolean> {
  if (own.leaseId === undefined) return (await kv.get(own.key)) !== undefined;
  return (await kv.keepAlive(own.leaseId)) !== undefined;
}

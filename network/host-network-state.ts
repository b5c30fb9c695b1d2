/** What the host set-up (host-network.ts) made or set, for run plans; a module of its own so recording a plan loads nothing else. */
import { realpathSync } from 'node:fs';
import { basename, join } from 'node:path';

export const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Port forwarding to a bridge's pods from this host's localhost needs it (port-forward-host.ts). */
export function routeLocalnetSysctl(bridge: string): string {
  return `/proc/sys/net/ipv4/conf/${bridge}/route_localnet`;
}

export interface HostNetworkState {
  /** Bridges the pod's networks attach to. */
  bridges: string[];
  /** Sysctls set, as [path, value]. */
  sysctls: Array<[string, string]>;
}

/** [table, chain, needle]: a NAT rule a replay checks is there (native/launcher/nft-rules.c). */
export type HostRuleCheck = [string, string, string];

/**
 * The NAT rules the host set-up made for these networks (nat-rules.ts, port-forward-host.ts), as
 * what a replay looks for: the jumps into our chains by their target, our rules by their comment.
 * Empty unless iptables is iptables-nft (its rules are nftables rules the launcher can ask the
 * kernel about; a legacy iptables would need an exec of iptables, which costs what a replay saves).
 */
export function hostRuleChecks(nets: ReadonlyArray<{ name: string; ipMasq: boolean }>, ports: boolean, nft = iptablesIsNft()): HostRuleCheck[] {
  if (!nft) return [];
  const checks: HostRuleCheck[] = [];
  const masq = nets.filter((n) => n.ipMasq);
  if (masq.length > 0 || ports) checks.push(['nat', 'POSTROUTING', 'SKIFF-POSTROUTING']);
  for (const n of masq) checks.push(['nat', 'SKIFF-POSTROUTING', `skiff network ${n.name}`]);
  if (ports) checks.push(['nat', 'PREROUTING', 'SKIFF-DNAT'], ['nat', 'OUTPUT', 'SKIFF-DNAT']);
  return checks;
}

let nftBackend: boolean | undefined;

/** Whether the `iptables` on PATH is iptables-nft (Debian 12's default: xtables-nft-multi). */
export function iptablesIsNft(): boolean {
  if (nftBackend !== undefined) return nftBackend;
  nftBackend = false;
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      nftBackend = basename(realpathSync(join(dir, 'iptables'))).includes('nft');
      break;
    } catch {
      // not in this dir
    }
  }
  return nftBackend;
}

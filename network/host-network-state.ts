/** What the host set-up (host-network.ts) made or set, for run plans; a module of its own so recording a plan loads nothing else. */

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

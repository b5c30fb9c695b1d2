/**
 * The host-wide half of port forwarding, done by stage0's host network set-up (host-network.ts)
 * for a pod with `--port`; the per-pod DNAT rules are stage1's (port-forward.ts). The same for
 * every pod, so made once and only checked (`-C`) afterwards:
 *
 *   nat    PREROUTING  -m addrtype --dst-type LOCAL -j SKIFF-DNAT     from other hosts
 *   nat    OUTPUT      -m addrtype --dst-type LOCAL -j SKIFF-DNAT     from this host, localhost too
 *   nat    SKIFF-POSTROUTING -s 127.0.0.0/8 -o BRIDGE -j MASQUERADE   a localhost client's packets
 *          leave through the bridge with the bridge's address, so the pod's reply comes back
 *   nat    SKIFF-POSTROUTING -s SUBNET -d SUBNET -m conntrack --ctstate DNAT -j MASQUERADE
 *          hairpin: a pod reaching a neighbour through a host port; without it the neighbour's
 *          reply goes straight across the bridge, never un-DNATed (unless br_netfilter happens
 *          to be loaded), and the client drops it
 *   sysctl net.ipv4.conf.BRIDGE.route_localnet = 1   else the kernel drops a 127.0.0.0/8 source
 *          on a non-loopback link before the masquerade (CNI portmap does the same)
 *   filter INPUT -j SKIFF-INPUT
 *   filter SKIFF-INPUT -i BRIDGE -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
 *          route_localnet would otherwise let a pod (CAP_NET_RAW in the default set) reach the
 *          host's localhost services with a hand-made packet to 127.0.0.1 (kube-proxy's
 *          CVE-2020-8558 fix); replies to the forwarded connections are ESTABLISHED and pass.
 *
 * The sysctl is returned for the run plan, so a replayed run checks it is still set (as it checks
 * the bridge), else goes to the CLI, which sets it again. Everything in the caller's netns.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { routeLocalnetSysctl } from './host-network-state.js';
import { ensure, ensureChain, iptables, NAT_CHAIN } from './nat-rules.js';
import { DNAT_CHAIN } from './port-forward.js';

export const INPUT_CHAIN = 'SKIFF-INPUT';

/** Sets up forwarding to pods on `bridge` (network `name`, `subnet`); returns the sysctls it set, for the plan. */
export async function ensurePortForwarding(name: string, bridge: string, subnet: string): Promise<Array<[string, string]>> {
  await ensureChain(DNAT_CHAIN);
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', DNAT_CHAIN];
  await ensure(['PREROUTING', ...local], ['-A', 'PREROUTING', ...local], `the jump to ${DNAT_CHAIN} from PREROUTING`);
  await ensure(['OUTPUT', ...local], ['-A', 'OUTPUT', ...local], `the jump to ${DNAT_CHAIN} from OUTPUT`);
  await ensureChain(NAT_CHAIN);
  await ensure(['POSTROUTING', '-j', NAT_CHAIN], ['-A', 'POSTROUTING', '-j', NAT_CHAIN], `the jump to ${NAT_CHAIN}`);
  const masq = ['-s', '127.0.0.0/8', '-o', bridge, '-m', 'comment', '--comment', `skiff network ${name} localhost`, '-j', 'MASQUERADE'];
  await ensure([NAT_CHAIN, ...masq], ['-A', NAT_CHAIN, ...masq], `the masquerade of localhost clients on ${bridge}`);
  const hairpin = ['-s', subnet, '-d', subnet, '-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', `skiff network ${name} hairpin`, '-j', 'MASQUERADE'];
  await ensure([NAT_CHAIN, ...hairpin], ['-A', NAT_CHAIN, ...hairpin], `the hairpin masquerade of network ${name}`);
  await ensureChain(INPUT_CHAIN, 'filter');
  await ensure(['INPUT', '-j', INPUT_CHAIN], ['-I', 'INPUT', '-j', INPUT_CHAIN], `the jump to ${INPUT_CHAIN}`, 'filter');
  const drop = ['-i', bridge, '-d', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT',
    '-m', 'comment', '--comment', `skiff network ${name} no localhost from pods`, '-j', 'DROP'];
  await ensure([INPUT_CHAIN, ...drop], ['-A', INPUT_CHAIN, ...drop], `the drop of pod packets to 127.0.0.0/8 on ${bridge}`, 'filter');
  // Only after the drop rule is in place: never a moment where a pod could reach 127.0.0.1.
  const path = routeLocalnetSysctl(bridge);
  if (readFileSync(path, 'utf8').trim() !== '1') writeFileSync(path, '1');
  return [[path, '1']];
}

/**
 * `gc`/`rm`, after a pod's recorded host-downs: any SKIFF-DNAT rule still commented skiff:UUID is
 * deleted too (a down that could not match: its `{ip:NAME}` came out empty because net-info.json
 * was lost). Our rules hold no quoted argument but the comment, so `-S` output splits on spaces.
 */
export async function removePodRules(uuid: string): Promise<void> {
  const listed = await iptables(['-S', DNAT_CHAIN]);
  if (!listed.ok) return; // no chain: no pod ever forwarded a port here
  for (const line of (listed.stdout ?? '').split('\n')) {
    const args = line.split(' ').map((a) => a.replace(/^"(.*)"$/, '$1'));
    if (args[0] !== '-A' || args[1] !== DNAT_CHAIN || !args.includes(`skiff:${uuid}`)) continue;
    await iptables(['-D', ...args.slice(1)]);
  }
}

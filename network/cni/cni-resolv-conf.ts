/**
 * What a CNI result tells the pod's /etc files. Its address on eth0 names the pod in /etc/hosts,
 * as a built-in network's does: the ADD hook writes it to POD_DIR/cni-eth0-address (stage1 key
 * `address-from`). And the DNS a CNI result gives (`dns: {nameservers, domain, search, options}`) as the pod's
 * resolv.conf, rkt's precedence: the CLI's --dns* flags, then a CNI result, then the image's file.
 * The ADD hook writes POD_DIR/cni-resolv.conf from the first CNI network whose result has DNS;
 * stage1 binds it when it exists by the time it builds the pod's root (key `dns-from`, which
 * stage0 sends only when no --dns* flag was given). Values are checked as the flags' are: a
 * plugin's word with whitespace or a newline would add lines of its choosing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { isIpAddress } from '../../runtime/pods/host-names.js';
import type { CniSummary } from './cni-result.js';

export const CNI_RESOLV_CONF = 'cni-resolv.conf';

const WORD = /^[^\s\0]+$/;

/** resolv.conf text for a result's DNS; undefined when it has nothing usable. */
export function resolvConfOf(dns: NonNullable<CniSummary['dns']>): string | undefined {
  const servers = dns.nameservers.filter((s) => isIpAddress(s));
  const search = dns.search.filter((s) => WORD.test(s));
  const options = dns.options.filter((s) => WORD.test(s));
  const domain = dns.domain !== undefined && WORD.test(dns.domain) ? dns.domain : undefined;
  if (servers.length === 0 && search.length === 0 && domain === undefined) return undefined;
  return [
    ...(domain === undefined ? [] : [`domain ${domain}`]),
    ...(search.length === 0 ? [] : [`search ${search.join(' ')}`]),
    ...servers.map((s) => `nameserver ${s}`),
    ...(options.length === 0 ? [] : [`options ${options.join(' ')}`]),
    '',
  ].join('\n');
}

/** Writes the pod's CNI resolv.conf unless an earlier network's result already did. */
export function recordCniResolvConf(podDir: string, dns: CniSummary['dns']): void {
  const path = join(podDir, CNI_RESOLV_CONF);
  if (dns === undefined || existsSync(path)) return;
  const text = resolvConfOf(dns);
  if (text !== undefined) writeFileAtomic(path, text, 0o644, { durable: false });
}

export const CNI_ETH0_ADDRESS = 'cni-eth0-address';

/** Writes the pod's eth0 address for /etc/hosts when this attachment is eth0 and got one. */
export function recordCniAddress(podDir: string, ifName: string, ip: string | undefined): void {
  if (ifName !== 'eth0' || ip === undefined || !isIpAddress(ip)) return;
  writeFileAtomic(join(podDir, CNI_ETH0_ADDRESS), `${ip}\n`, 0o644, { durable: false });
}

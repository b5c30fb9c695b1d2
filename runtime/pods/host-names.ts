/**
 * The names a pod is given: its hostname, its /etc/hosts entries and its
 * resolver settings (nameservers, search domains, options). stage1 writes them into /etc/hostname, /etc/hosts and
 * /etc/resolv.conf line by line, so a value with a newline or a space would
 * add lines of the caller's choosing there (`--hosts-entry
 * $'1.2.3.4=a\n6.6.6.6 evil'` wrote two); every value is checked here:
 * addresses as IPv4 or IPv6 (our own few lines: node:net costs ~10 ms of
 * start-up on the run path), names as RFC 1123 host names (letters,
 * digits and inner hyphens, labels of 1 to 63, at most 253 in all; a
 * hostname at most 64, the kernel's limit for the UTS nodename).
 */
import { UsageError } from '../errors.js';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** RFC 1123 (and DNS): the longest host name. */
export const MAX_HOST_NAME = 253;
/** __NEW_UTS_LEN: sethostname() refuses longer. */
export const MAX_HOSTNAME = 64;

const V4_PART = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = new RegExp(`^${V4_PART}(?:\\.${V4_PART}){3}$`);
const V6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Dotted-quad IPv4, or IPv6 in any RFC 4291 text form (`::`, an IPv4 tail, a `%zone`). */
export function isIpAddress(text: string): boolean {
  if (V4.test(text)) return true;
  const [addr = '', zone, ...more] = text.split('%');
  if (more.length > 0 || (zone !== undefined && !/^[A-Za-z0-9_.-]+$/.test(zone))) return false;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  const all = groups.flat();
  // An IPv4 tail (the very end of the text) stands for the last two groups.
  const last = groups.at(-1)?.at(-1);
  const v4Tail = last !== undefined && last.includes('.');
  if (v4Tail && !V4.test(last)) return false;
  const hex = v4Tail ? all.slice(0, -1) : all;
  if (!hex.every((g) => V6_GROUP.test(g))) return false;
  const count = hex.length + (v4Tail ? 2 : 0);
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** Values are shown quoted and escaped: a newline in one must show as `\n`, not break the error line. */
const SHOWN = (s: string) => JSON.stringify(s);

/** Why `name` is not an RFC 1123 host name of at most `max` characters; undefined when it is one. */
function hostNameProblem(name: string, max: number): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > max) return `is longer than ${max} characters`;
  const bad = name.split('.').find((label) => !LABEL.test(label));
  if (bad === undefined) return undefined;
  return bad === '' ? 'has an empty label' : bad.length > 63 ? 'has a label longer than 63 characters' : `has a label ${SHOWN(bad)} that is not letters, digits and inner hyphens`;
}

/** `--hostname`: an RFC 1123 name the kernel takes. */
export function checkHostname(name: string, flag = '--hostname'): string {
  const problem = hostNameProblem(name, MAX_HOSTNAME);
  if (problem !== undefined) {
    throw new UsageError(`${flag} ${SHOWN(name)} ${problem}: a hostname is an RFC 1123 name of at most ${MAX_HOSTNAME} characters`, {
      input: SHOWN(name),
      hint: 'write e.g. web-1 or db.example',
    });
  }
  return name;
}

/** `--hosts-entry IP=HOSTNAME` as the `IP HOSTNAME` line stage1 appends to /etc/hosts. */
export function parseHostsEntry(text: string, flag = '--hosts-entry'): string {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag} ${SHOWN(text)} is not IP=HOSTNAME`, { input: SHOWN(text) });
  const ip = text.slice(0, eq);
  const name = text.slice(eq + 1);
  if (!isIpAddress(ip)) {
    throw new UsageError(`${flag} ${SHOWN(text)}: ${SHOWN(ip)} is not an IPv4 or IPv6 address`, { input: SHOWN(text), hint: 'write IP=HOSTNAME, e.g. 10.0.0.5=db' });
  }
  const problem = hostNameProblem(name, MAX_HOST_NAME);
  if (problem !== undefined) {
    throw new UsageError(`${flag} ${SHOWN(text)}: the host name ${problem} (RFC 1123: letters, digits, inner hyphens, dots)`, {
      input: SHOWN(text),
      hint: 'write IP=HOSTNAME, e.g. 10.0.0.5=db; give one --hosts-entry per name',
    });
  }
  return `${ip} ${name}`;
}

/** `--dns` words that are not addresses: the host's resolv.conf, or the image's own file untouched (rkt's). */
export const DNS_MODES = ['host', 'none'] as const;

/**
 * `--dns IP[,IP...]|host|none` (repeatable) as the pod's `dns` setting: nameserver addresses, or
 * one mode alone (mixing `host` with addresses would say two things about one file).
 */
export function parseDnsServers(values: readonly string[], flag = '--dns'): string[] {
  const servers = values.flatMap((v) => v.split(',')).filter(Boolean);
  for (const d of servers) {
    if (!isIpAddress(d) && !(DNS_MODES as readonly string[]).includes(d)) {
      throw new UsageError(`${flag} ${SHOWN(d)} is not an IP address, host or none`, { input: SHOWN(d), hint: `write e.g. ${flag}=198.18.0.53, ${flag}=host or ${flag}=none` });
    }
  }
  const mode = servers.find((d) => (DNS_MODES as readonly string[]).includes(d));
  if (mode !== undefined && servers.length > 1) {
    throw new UsageError(`${flag}=${mode} stands alone: it cannot be combined with ${servers.filter((d) => d !== mode).map((d) => `${flag}=${d}`).join(', ')}`, { input: servers.join(',') });
  }
  return servers;
}

/** `--dns-search DOMAIN` and `--dns-domain DOMAIN`: a host name (a trailing dot, DNS's root, allowed). */
export function checkDnsDomain(name: string, flag: string): string {
  const problem = hostNameProblem(name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name, MAX_HOST_NAME);
  if (problem !== undefined) {
    throw new UsageError(`${flag} ${SHOWN(name)} ${problem}: a DNS domain is an RFC 1123 name`, { input: SHOWN(name), hint: `write e.g. ${flag}=example.com` });
  }
  return name;
}

/** `--dns-opt OPT`: a resolv.conf(5) option, NAME or NAME:NUMBER (ndots:2, timeout:1, rotate, edns0, use-vc). */
export function checkDnsOption(option: string, flag = '--dns-opt'): string {
  if (!/^[A-Za-z][A-Za-z0-9-]*(?::\d{1,4})?$/.test(option)) {
    throw new UsageError(`${flag} ${SHOWN(option)} is not a resolv.conf option`, { input: SHOWN(option), hint: `write NAME or NAME:NUMBER, e.g. ${flag}=ndots:2` });
  }
  return option;
}

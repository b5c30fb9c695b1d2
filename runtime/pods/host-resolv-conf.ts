/**
 * `--dns=host`: which of the host's resolv.conf files a pod gets. A host running
 * systemd-resolved (or any local cache) lists only loopback nameservers in
 * /etc/resolv.conf, and loopback inside the pod's netns is the pod's own: such a
 * file would leave the pod with no DNS at all. systemd-resolved keeps the real
 * upstream servers in /run/systemd/resolve/resolv.conf; that one is taken then,
 * as podman does. The choice depends on the files' contents, so a run plan
 * carries their stamps: a replay after either changed goes to the CLI.
 */
import { readFileSync } from 'node:fs';
import { InvalidStateError } from '../errors.js';
import { fileStamp } from '../file-stamp.js';

export const HOST_RESOLV_CONF = '/etc/resolv.conf';
export const RESOLVED_UPSTREAM_CONF = '/run/systemd/resolve/resolv.conf';

/** The `nameserver` addresses of a resolv.conf text. */
export function nameservers(text: string): string[] {
  return text.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((a): a is string => a !== undefined);
}

const isLoopback = (addr: string) => /^127\./.test(addr) || addr === '::1';

/** The file for the pod and the stamps a run plan checks. `files`: where to look (tests point it elsewhere). */
export function hostResolvConf(files = { host: HOST_RESOLV_CONF, upstream: RESOLVED_UPSTREAM_CONF }): { path: string; stamps: Array<[string, string]> } {
  const stamps: Array<[string, string]> = [files.host, files.upstream].map((p) => [p, fileStamp(p) ?? '-']);
  let text: string;
  try {
    text = readFileSync(files.host, 'utf8');
  } catch (err) {
    throw new InvalidStateError(`--dns=host: the host has no readable ${files.host}`, { input: files.host, cause: err, hint: 'give nameservers with --dns=IP, or --dns=none' });
  }
  const servers = nameservers(text);
  const localOnly = servers.length > 0 && servers.every(isLoopback);
  return { path: localOnly && fileStamp(files.upstream) !== undefined ? files.upstream : files.host, stamps };
}

/**
 * Capability sets for apps. The default is Docker's 14 (what users of podman
 * and docker expect a container to have); `--caps-retain` gives exactly a
 * list, `--caps-remove` takes from the default. Names are accepted as
 * `CAP_NET_ADMIN`, `cap_net_admin` or `net_admin`, and sent to stage1 in
 * its form: lowercase without `cap_`.
 */
import { UsageError } from '../errors.js';

/** Every capability Linux 6.x knows, by number. */
export const ALL_CAPS = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap',
  'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
  'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
] as const;

export const DEFAULT_CAPS = [
  'chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap',
  'net_bind_service', 'sys_chroot', 'kill', 'audit_write',
];

export function normalizeCap(name: string): string {
  const cap = name.trim().toLowerCase().replace(/^cap_/, '');
  if (!(ALL_CAPS as readonly string[]).includes(cap)) {
    throw new UsageError(`unknown capability "${name}"`, { input: name, hint: 'use names like CAP_NET_ADMIN or net_admin' });
  }
  return cap;
}

/** `CAP,CAP,...` as normalised names. */
export function parseCapList(list: string): string[] {
  return list.split(',').filter((s) => s.trim() !== '').map(normalizeCap);
}

/**
 * What a non-root app holds. Docker and runc give a non-root process no capability: the set
 * bounds what a setuid or file-capability binary could regain (and no_new_privs stops even
 * that). Only an explicit `--caps-retain` hands its list to a non-root app, as ambient caps.
 */
export function ambientCapsFor(uid: number, retain: readonly string[] | undefined, caps: string[]): string[] {
  return uid !== 0 && retain !== undefined ? caps : [];
}

export function resolveCaps(retain: readonly string[] | undefined, remove: readonly string[] | undefined): string[] {
  if (retain !== undefined && remove !== undefined) {
    throw new UsageError('--caps-retain and --caps-remove exclude each other', { hint: 'use one of them' });
  }
  if (retain !== undefined) return [...new Set(retain.map(normalizeCap))];
  if (remove !== undefined) {
    const drop = new Set(remove.map(normalizeCap));
    return DEFAULT_CAPS.filter((c) => !drop.has(c));
  }
  return [...DEFAULT_CAPS];
}

/**
 * Masquerade for networks with `ipMasq`, in a chain of Skiff's own in the nat table, as flannel
 * and the CNI plugins do: `iptables -w` is the one tool Skiff runs (no netlink API for
 * nftables/xtables rules in Node; DESIGN.md). Everything is checked before it is added (`-C`),
 * so set-up is idempotent and concurrent runs at worst both check and one adds (`-w` serialises
 * them on the xtables lock).
 *
 *   nat POSTROUTING -j SKIFF-POSTROUTING
 *   nat SKIFF-POSTROUTING -s SUBNET ! -d SUBNET -m comment --comment "skiff network NAME" -j MASQUERADE
 *
 * Rules live in the caller's network namespace (tests run Skiff in throwaway ones).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NetworkError } from '../runtime/errors.js';

const run = promisify(execFile);
export const NAT_CHAIN = 'SKIFF-POSTROUTING';

/** `iptables -w -t TABLE ARGS`; exported for the port-forward chains (port-forward-host.ts). */
export async function iptables(args: string[], table = 'nat'): Promise<{ ok: boolean; stderr: string; stdout?: string }> {
  try {
    const { stdout } = await run('iptables', ['-w', '-t', table, ...args], { timeout: 30_000 });
    return { ok: true, stderr: '', stdout };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; code?: unknown };
    if (e.code === 'ENOENT') {
      throw new NetworkError('iptables is not installed: Skiff needs it for the NAT of networks with ipMasq', {
        input: 'iptables', hint: 'install it (Debian: apt-get install iptables) or use a network without ipMasq',
      });
    }
    return { ok: false, stderr: (e.stderr ?? String(err)).trim() };
  }
}

/** Adds a rule unless `-C` finds it (idempotent; a concurrent add is fine). */
export async function ensure(check: string[], add: string[], what: string, table = 'nat'): Promise<void> {
  if ((await iptables(['-C', ...check], table)).ok) return;
  const added = await iptables(add, table);
  // Another run may have added it between our check and our add: check once more before failing.
  if (!added.ok && !(await iptables(['-C', ...check], table)).ok) {
    throw new NetworkError(`iptables: cannot add ${what}: ${added.stderr}`, { input: what, hint: 'check that the nat table is available (iptables -t nat -L)' });
  }
}

/** `exempt`: destinations left alone (default the subnet itself; an overlay network's whole range, so pods on other hosts see pod addresses). */
export function masqueradeRule(name: string, subnet: string, exempt = subnet): string[] {
  return ['-s', subnet, '!', '-d', exempt, '-m', 'comment', '--comment', `skiff network ${name}`, '-j', 'MASQUERADE'];
}

/** Creates a chain of ours unless it exists (a concurrent create is fine). */
export async function ensureChain(chain: string, table = 'nat'): Promise<void> {
  if ((await iptables(['-L', chain, '-n'], table)).ok) return;
  const made = await iptables(['-N', chain], table);
  if (!made.ok && !(await iptables(['-L', chain, '-n'], table)).ok) {
    throw new NetworkError(`iptables: cannot create the ${table} chain ${chain}: ${made.stderr}`, { input: chain });
  }
}

export async function ensureMasquerade(name: string, subnet: string, exempt = subnet): Promise<void> {
  await ensureChain(NAT_CHAIN);
  await ensure(['POSTROUTING', '-j', NAT_CHAIN], ['-A', 'POSTROUTING', '-j', NAT_CHAIN], `the jump to ${NAT_CHAIN}`);
  const rule = masqueradeRule(name, subnet, exempt);
  await ensure([NAT_CHAIN, ...rule], ['-A', NAT_CHAIN, ...rule], `masquerade for network ${name} (${subnet})`);
}

/**
 * `skiff net cni add|del|check`: the host hooks of a pod's CNI networks (hidden: stage1 runs
 * them, network/cni/cni-pod-networks.ts builds their argv). Each gets the pod dir, UUID and
 * netns from stage1's placeholders, and the network configuration itself as JSON (what the run
 * resolved, so a replayed run needs no net.d read here).
 *
 *   add    ADD the chain (CNI_CONTAINERID = the pod UUID), keep the attachment in POD_DIR/cni/,
 *          add the network to POD_DIR/cni-net-info.json (status, list). A failure leaves nothing
 *          (the chain is DELeted) and exits 254: stage1 then fails the pod's start.
 *   del    DEL the chain (the kept configuration and result when there are any); idempotent, and
 *          fine with an empty netns (gc after a kill -9: the netns died with stage1).
 *   check  CHECK the kept attachment.
 */
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../../errors.js';
import { parseCniConfig, type CniNetwork } from '../../../network/cni/cni-config.js';
import { addAttachment, checkAttachment, delAttachment } from '../../../network/cni/cni-attachments.js';
import type { CniAttachment } from '../../../network/cni/cni-exec.js';
import { recordCniNetInfo } from '../../../network/cni/cni-net-info.js';
import { recordCniAddress, recordCniResolvConf } from '../../../network/cni/cni-resolv-conf.js';
import { summarizeResult } from '../../../network/cni/cni-result.js';
import { parseIpv4 } from '../../../network/ipv4.js';

export interface CniHookFlags {
  podDir: string;
  uuid: string;
  netns: string;
  ifname: string;
  cniPath: string;
  network: string;
  ip?: string;
}

/** Where a pod keeps its CNI attachments. */
export const ATTACHMENTS_DIR = 'cni';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parsed(flags: CniHookFlags): { podDir: string; net: CniNetwork; att: CniAttachment } {
  if (!isAbsolute(flags.podDir)) throw new UsageError(`--pod-dir: "${flags.podDir}" is not an absolute path`, { input: flags.podDir });
  if (!UUID.test(flags.uuid)) throw new UsageError(`--uuid: "${flags.uuid}" is not a pod UUID`, { input: flags.uuid });
  if (flags.netns !== '' && !isAbsolute(flags.netns)) throw new UsageError(`--netns: "${flags.netns}" is not an absolute path`, { input: flags.netns });
  if (flags.ip !== undefined && parseIpv4(flags.ip) === undefined) throw new UsageError(`--ip: "${flags.ip}" is not an IPv4 address`, { input: flags.ip });
  const path = flags.cniPath.split(':').filter((d) => d !== '');
  if (path.length === 0 || !path.every(isAbsolute)) throw new UsageError(`--cni-path: "${flags.cniPath}" is not a colon list of absolute dirs`, { input: flags.cniPath });
  let raw: unknown;
  try {
    raw = JSON.parse(flags.network);
  } catch (err) {
    throw new UsageError(`--network is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const source = (raw as { source?: unknown } | null)?.source;
  const net = parseCniConfig(raw, typeof source === 'string' ? source : '--network', true);
  // rkt's CNI_ARGS: IgnoreUnknown, so a plugin that takes no IP is not refused.
  const args = flags.ip === undefined ? '' : `IgnoreUnknown=1;IP=${flags.ip}`;
  return { podDir: flags.podDir, net, att: { containerId: flags.uuid, netns: flags.netns, ifName: flags.ifname, args, path } };
}

export async function cniAdd(flags: CniHookFlags): Promise<void> {
  const { podDir, net, att } = parsed(flags);
  if (att.netns === '') throw new UsageError('--netns is empty: ADD needs the pod\'s network namespace', { hint: 'the pod has no netns of its own (--net=host?)' });
  const record = await addAttachment(join(podDir, ATTACHMENTS_DIR), net, att);
  recordCniNetInfo(podDir, record);
  const summary = summarizeResult(record.result, att.ifName);
  recordCniResolvConf(podDir, summary.dns);
  recordCniAddress(podDir, att.ifName, summary.ip);
}

export async function cniDel(flags: CniHookFlags): Promise<void> {
  const { podDir, net, att } = parsed(flags);
  await delAttachment(join(podDir, ATTACHMENTS_DIR), net, att);
}

export async function cniCheck(flags: CniHookFlags): Promise<void> {
  const { podDir, att } = parsed(flags);
  await checkAttachment(join(podDir, ATTACHMENTS_DIR), att);
}

/**
 * A pod's CNI attachments, kept in a dir of the pod (`POD_DIR/cni/IFNAME.json`, one file per
 * attachment, written atomically once its ADD succeeded): the network configuration the ADD
 * ran, its parameters and its result, which DEL and CHECK need (spec: "The runtime must store
 * the result returned by the final plugin persistently"). DEL uses the kept configuration, so a
 * net.d file edited while the pod ran is still undone as it was done; without a record (the ADD
 * failed or was killed) DEL runs the configuration it is given, without prevResult, since plugins
 * must take a DEL of what they never added. A successful DEL removes the record: DEL is
 * idempotent.
 */
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { NetworkError } from '../../runtime/errors.js';
import type { CniNetwork } from './cni-config.js';
import { addChain, checkChain, delChain, type ChainOptions } from './cni-chain.js';
import type { CniAttachment } from './cni-exec.js';

export interface AttachmentRecord {
  network: CniNetwork;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  result: unknown;
}

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function recordPath(dir: string, ifName: string): string {
  if (!IFNAME.test(ifName)) throw new NetworkError(`"${ifName}" is not an interface name`, { input: ifName });
  return join(dir, `${ifName}.json`);
}

export function readAttachment(dir: string, ifName: string): AttachmentRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(dir, ifName), 'utf8')) as AttachmentRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** ADD, then the record; a failed ADD leaves neither plugin state (cni-chain.ts) nor a record. */
export async function addAttachment(dir: string, net: CniNetwork, att: CniAttachment, options: ChainOptions = {}): Promise<AttachmentRecord> {
  if (readAttachment(dir, att.ifName) !== undefined) {
    throw new NetworkError(`${att.ifName} of ${att.containerId} is attached already (${join(dir, `${att.ifName}.json`)})`, { input: att.ifName, hint: 'DEL it first' });
  }
  const result = await addChain(net, att, options);
  const record: AttachmentRecord = { network: net, containerId: att.containerId, netns: att.netns, ifName: att.ifName, args: att.args, result };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(recordPath(dir, att.ifName), `${JSON.stringify(record)}\n`, 0o600, { durable: false });
  } catch (err) {
    await delChain(net, att, result, options).catch(() => undefined);
    throw err;
  }
  return record;
}

/** DEL of the recorded attachment (or of `fallback`, unrecorded), then the record's removal. */
export async function delAttachment(dir: string, fallback: CniNetwork, att: CniAttachment, options: ChainOptions = {}): Promise<void> {
  const record = readAttachment(dir, att.ifName);
  const net = record?.network ?? fallback;
  // CNI_ARGS as the ADD had them (spec: the same attachment parameters); the netns is today's: it may be gone.
  await delChain(net, { ...att, args: record?.args ?? att.args }, record?.result, options);
  try {
    unlinkSync(recordPath(dir, att.ifName));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** CHECK of a recorded attachment; an unrecorded one is an error (the spec forbids CHECK before ADD). */
export async function checkAttachment(dir: string, att: CniAttachment, options: ChainOptions = {}): Promise<AttachmentRecord> {
  const record = readAttachment(dir, att.ifName);
  if (record === undefined) throw new NetworkError(`${att.ifName} of ${att.containerId} is not attached (no record in ${dir})`, { input: att.ifName });
  await checkChain(record.network, { ...att, args: record.args }, record.result, options);
  return record;
}

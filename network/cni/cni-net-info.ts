/**
 * What `status` and `list` show of a pod's CNI networks: `POD_DIR/cni-net-info.json`, entries
 * shaped as stage1's net-info.json ones (runtime/pods/pod-net-info.ts merges the two files),
 * written by `skiff net cni add` once an ADD succeeded. Like net-info.json it stays after the
 * pod exits (what the pod had), and the hooks run one at a time, so a read-modify-write with an
 * atomic rename is enough.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { CNI_NET_INFO_FILE, type NetInfo } from '../../runtime/pods/pod-net-info.js';
import type { AttachmentRecord } from './cni-attachments.js';
import { summarizeResult } from './cni-result.js';

function read(podDir: string): NetInfo[] {
  try {
    return JSON.parse(readFileSync(join(podDir, CNI_NET_INFO_FILE), 'utf8')) as NetInfo[];
  } catch {
    return [];
  }
}

export function netInfoOf(record: AttachmentRecord): NetInfo {
  const s = summarizeResult(record.result, record.ifName);
  const bridge = record.network.plugins.map((p) => p['bridge']).find((b): b is string => typeof b === 'string');
  return {
    name: record.network.name, ifName: record.ifName, ip: s.ip ?? '', prefixLength: s.prefixLength ?? 0, gateway: s.gateway ?? '',
    mac: s.mac ?? '', hostIfName: s.hostIfName ?? '', bridge: bridge ?? '', ipamFile: '',
  };
}

/** Adds (or replaces, by interface name) the attachment's entry. */
export function recordCniNetInfo(podDir: string, record: AttachmentRecord): void {
  const entries = read(podDir).filter((e) => e.ifName !== record.ifName);
  entries.push(netInfoOf(record));
  writeFileAtomic(join(podDir, CNI_NET_INFO_FILE), `${JSON.stringify(entries)}\n`, 0o644, { durable: false });
}

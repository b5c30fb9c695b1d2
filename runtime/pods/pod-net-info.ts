/**
 * A pod's networks as stage1 left them: POD_DIR/net-info.json (native/stage1/net-attach.c), and its
 * CNI networks as `skiff net cni add` left them (cni-net-info.json), what `status` and `list` show; and the release of the pod's address files when stage1 could not
 * (a kill -9): each IPAM dir its config names is searched for files holding the pod's UUID, so
 * even a kill between taking the address and writing net-info.json leaks nothing.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { valuesOf, type NulPairs } from './nul-pairs.js';

export interface NetInfo {
  name: string;
  ifName: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  hostIfName: string;
  bridge: string;
  ipamFile: string;
}

export const NET_INFO_FILE = 'net-info.json';
/** The CNI networks' entries, same shape, written by `skiff net cni add` (network/cni/cni-net-info.ts). */
export const CNI_NET_INFO_FILE = 'cni-net-info.json';

function readEntries(podDir: string, file: string): NetInfo[] | undefined {
  try {
    return JSON.parse(readFileSync(join(podDir, file), 'utf8')) as NetInfo[];
  } catch {
    return undefined;
  }
}

const ifIndex = (n: NetInfo) => Number(/\d+$/.exec(n.ifName)?.[0] ?? 0);

/** stage1's entries and the CNI ones, in interface order (eth0, eth1, ...); undefined when neither file is there. */
export function readNetInfo(podDir: string): NetInfo[] | undefined {
  const own = readEntries(podDir, NET_INFO_FILE);
  const cni = readEntries(podDir, CNI_NET_INFO_FILE);
  if (cni === undefined) return own;
  return [...(own ?? []), ...cni].sort((a, b) => ifIndex(a) - ifIndex(b));
}

function holds(path: string, uuid: string): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === uuid;
  } catch {
    return false;
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Removes every address file (and claim file) of pod `uuid` in the IPAM dirs of its `net` keys; idempotent. */
export function releasePodAddresses(uuid: string, config: NulPairs): void {
  for (const net of valuesOf(config, 'net')) {
    const dir = net.split('\t')[4];
    if (dir === undefined) continue;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // no IPAM dir: nothing was ever taken there
    }
    unlinkIfThere(join(dir, `.claim-${uuid}`));
    for (const name of names) if (!name.startsWith('.') && holds(join(dir, name), uuid)) unlinkIfThere(join(dir, name));
  }
}

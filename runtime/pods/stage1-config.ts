/**
 * The stage1 config (native/stage1-protocol.md): NUL-terminated KEY, VALUE
 * pairs (nul-pairs.ts). stage0 encodes it before the handoff; `rm` and `gc`
 * decode it again to find what stage1 would have torn down (cgroups, netns,
 * files) when stage1 itself could not (it was SIGKILLed).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { decodeNulPairs, encodeNulPairs, type NulPairs } from './nul-pairs.js';
import { POD_FILES } from './pod-dirs.js';

export type Stage1Pairs = NulPairs;

export function stage1ConfigPath(podDir: string): string {
  return join(podDir, POD_FILES.stage1Config);
}

export function writeStage1Config(podDir: string, pairs: Stage1Pairs): string {
  const path = stage1ConfigPath(podDir);
  // Written just before the handoff to a pod that is about to run: see writeFileAtomic on durability.
  writeFileAtomic(path, encodeNulPairs(pairs), 0o600, { durable: false });
  return path;
}

/** The pod's stage1 config; [] when it is missing or unreadable. */
export function readStage1Config(podDir: string): Stage1Pairs {
  let data: Buffer;
  try {
    data = readFileSync(stage1ConfigPath(podDir));
  } catch {
    return [];
  }
  return decodeNulPairs(data);
}

/**
 * The stage1 config (native/stage1-protocol.md): NUL-terminated KEY, VALUE
 * pairs. stage0 encodes it before the handoff; `rm` and `gc` decode it again
 * to find what stage1 would have torn down (cgroups, netns, files) when
 * stage1 itself could not (it was SIGKILLed).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { SkiffError } from '../errors.js';
import { POD_FILES } from './pod-dirs.js';

export type Stage1Pairs = Array<[string, string]>;

export function encodeStage1Config(pairs: Stage1Pairs): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of pairs) {
    if (key.includes('\0') || value.includes('\0')) {
      throw new SkiffError('E_INTERNAL', `stage1 config value for ${key} contains a NUL byte`, { input: key });
    }
    parts.push(Buffer.from(`${key}\0${value}\0`));
  }
  return Buffer.concat(parts);
}

export function decodeStage1Config(data: Buffer): Stage1Pairs {
  const fields = data.toString('utf8').split('\0');
  fields.pop();
  const pairs: Stage1Pairs = [];
  for (let i = 0; i + 1 < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
  return pairs;
}

export function stage1ConfigPath(podDir: string): string {
  return join(podDir, POD_FILES.stage1Config);
}

export function writeStage1Config(podDir: string, pairs: Stage1Pairs): string {
  const path = stage1ConfigPath(podDir);
  // Written just before the handoff to a pod that is about to run: see writeFileAtomic on durability.
  writeFileAtomic(path, encodeStage1Config(pairs), 0o600, { durable: false });
  return path;
}

/** The values of a repeated key; [] when the config is missing or unreadable. */
export function readStage1Values(podDir: string, key: string): string[] {
  let data: Buffer;
  try {
    data = readFileSync(stage1ConfigPath(podDir));
  } catch {
    return [];
  }
  return decodeStage1Config(data)
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

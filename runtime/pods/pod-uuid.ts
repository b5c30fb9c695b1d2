/**
 * Pod UUIDs: random v4, and lookup by a unique prefix across every state,
 * as rkt accepts (`skiff status 3f2a`).
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { InvalidStateError, NotFoundError, UsageError } from '../errors.js';
import { POD_STATES, podsRoot, type PodDirState } from './pod-dirs.js';

/** node:crypto on first use: `list` and `status` resolve UUIDs through this module but make none. */
export function newPodUuid(): string {
  return (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomUUID();
}

export interface PodLocation {
  uuid: string;
  state: PodDirState;
}

export function listPodLocations(dir: string): PodLocation[] {
  const out: PodLocation[] = [];
  for (const state of POD_STATES) {
    let names: string[] = [];
    try {
      names = readdirSync(join(podsRoot(dir), state));
    } catch {
      continue;
    }
    for (const uuid of names) out.push({ uuid, state });
  }
  return out;
}

export function resolvePodUuid(dir: string, query: string): PodLocation {
  const q = query.trim().toLowerCase();
  if (!/^[0-9a-f-]{1,36}$/.test(q)) {
    throw new UsageError(`"${query}" is not a pod UUID or UUID prefix`, { input: query, hint: "see 'skiff list'" });
  }
  const matches = listPodLocations(dir).filter((p) => p.uuid.startsWith(q) || p.uuid.replace(/-/g, '').startsWith(q.replace(/-/g, '')));
  const unique = [...new Map(matches.map((m) => [m.uuid, m])).values()];
  if (unique.length === 0) throw new NotFoundError(`no pod ${query}`, { input: query, hint: "see 'skiff list'" });
  if (unique.length > 1) {
    throw new InvalidStateError(`pod UUID prefix ${query} is ambiguous: it matches ${unique.length} pods`, {
      input: query,
      hint: 'give more characters of the UUID',
    });
  }
  return unique[0] as PodLocation;
}

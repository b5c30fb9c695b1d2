/**
 * Resource quantities as rkt (and Kubernetes) write them: memory `128M`
 * (decimal) or `128Mi` (binary) or plain bytes; CPU `750m` (millicores) or
 * `1.5` (cores). Each is bounded here, when the command line is read, by
 * what a pod can live with and what the kernel takes, so a bad value is a
 * usage error naming the flag, never a cgroup write that fails (or a pod
 * killed at birth) after the pod was made.
 */
import { MAX_CPU_MILLIS, MAX_CPU_SHARES, MIN_CPU_MILLIS, MIN_CPU_SHARES } from '../cgroups/index.js';
import { UsageError } from '../errors.js';
import type { AppLimits } from './pod-manifest.js';

const MEMORY_UNITS: Record<string, number> = {
  '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/**
 * The smallest memory limit: stage1's pod init and each app's first process
 * are charged to the pod's cgroup; below a few MiB they are OOM-killed before
 * the app runs (`--memory 4096` killed the init with SIGKILL). Docker's floor is 6 MB.
 */
export const MIN_MEMORY_BYTES = 4 * 1024 ** 2;
/** Bytes are kept as JS numbers: exact up to 2^53 (8 PiB), far beyond any host. */
export const MAX_MEMORY_BYTES = Number.MAX_SAFE_INTEGER;
/** The pod's init is one process of the pids cgroup: 1 would leave the app none (fork: EAGAIN). */
export const MIN_PIDS = 2;
/** The kernel's PID_MAX_LIMIT: pids.max takes nothing larger. */
export const MAX_PIDS = 4_194_304;

/** Each limit's flag and bounds, for checkLimit. */
const LIMITS: Record<keyof AppLimits, { flag: string; min: number; max: number }> = {
  memoryBytes: { flag: '--memory', min: MIN_MEMORY_BYTES, max: MAX_MEMORY_BYTES },
  cpuMillis: { flag: '--cpu', min: MIN_CPU_MILLIS, max: MAX_CPU_MILLIS },
  cpuShares: { flag: '--cpu-shares', min: MIN_CPU_SHARES, max: MAX_CPU_SHARES },
  pidsMax: { flag: '--pids-limit', min: MIN_PIDS, max: MAX_PIDS },
};

/** A limit in its internal unit (bytes, millicores, shares, pids) within its bounds; `who` names what it applies to. */
export function checkLimit(key: keyof AppLimits, value: number, who: string): void {
  const { flag, min, max } = LIMITS[key];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} for ${who} comes to ${value}, outside ${min} to ${max}`, {
      input: String(value),
      hint: `lower the apps' ${flag} so that their sum is at most ${max}`,
    });
  }
}

export function parseMemory(text: string, flag = '--memory'): number {
  const m = /^(\d+(?:\.\d+)?)([kKMGT]i?|)$/.exec(text.trim());
  const unit = m === null ? undefined : MEMORY_UNITS[m[2] as string];
  if (m === null || unit === undefined) {
    throw new UsageError(`${flag} "${text}" is not a memory size`, { input: text, hint: 'write e.g. 64M, 512Mi or 1G' });
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < MIN_MEMORY_BYTES) {
    throw new UsageError(`${flag} ${text} is below 4Mi: the pod's init and the app's first process are charged to the limit and would be killed at start`, {
      input: text,
      hint: 'give at least 4Mi, with a unit (a bare number is bytes): e.g. 64M or 512Mi',
    });
  }
  if (!Number.isSafeInteger(bytes) || bytes > MAX_MEMORY_BYTES) {
    throw new UsageError(`${flag} ${text} is more than the largest memory limit, 8192Ti`, { input: text, hint: 'write e.g. 64M, 512Mi or 1G' });
  }
  return bytes;
}

export function parseCpuMillis(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--cpu "${text}" is not a CPU amount`, { input: text, hint: 'write e.g. 500m or 1.5' });
  const millis = m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
  if (millis < MIN_CPU_MILLIS) {
    throw new UsageError(`--cpu ${text} is below ${MIN_CPU_MILLIS}m: the kernel's smallest CPU quota is 1 ms per 100 ms period`, {
      input: text,
      hint: `give at least ${MIN_CPU_MILLIS}m (a hundredth of a CPU)`,
    });
  }
  if (millis > MAX_CPU_MILLIS) {
    throw new UsageError(`--cpu ${text} is more than ${MAX_CPU_MILLIS / 1000} CPUs`, { input: text, hint: 'write e.g. 500m or 1.5' });
  }
  return Math.round(millis);
}

/** `--pids-limit`: at least MIN_PIDS, and saying why when less. */
export function parsePidsLimit(text: string): number {
  if (/^\d+$/.test(text.trim()) && Number(text) < MIN_PIDS) {
    throw new UsageError(`--pids-limit ${text} leaves the app no process: the pod's init is one of them`, {
      input: text,
      hint: `give at least ${MIN_PIDS} (the init and the app), more if the app starts others`,
    });
  }
  return parsePositiveInt(text, '--pids-limit', [MIN_PIDS, MAX_PIDS]);
}

export function parsePositiveInt(text: string, flag: string, range: [number, number] = [1, Number.MAX_SAFE_INTEGER]): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < range[0] || Number(text) > range[1]) {
    throw new UsageError(`${flag} "${text}" is not a whole number from ${range[0]} to ${range[1]}`, { input: text });
  }
  return Number(text);
}

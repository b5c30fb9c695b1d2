/**
 * PodLimits: validated before anything is created (a bad value is the
 * caller's mistake and must not leave half a cgroup behind), and converted to
 * the values each cgroup version's files take.
 */
import { CgroupError } from '../errors.js';
import type { PodLimits } from './types.js';

/** The CFS period Skiff uses on both versions: quotas are per 100 ms, the kernel's default. */
export const CPU_PERIOD_US = 100_000;

/** The kernel refuses a CFS quota below 1 ms. */
export const MIN_CPU_MILLIS = 10;
export const MAX_CPU_MILLIS = 1_000_000_000;
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262_144;

function check(ok: boolean, name: string, value: number, what: string): void {
  if (ok) return;
  throw new CgroupError(`invalid ${name} ${value}: must be ${what}`, {
    input: `${name}=${value}`,
    hint: `pass ${what}`,
  });
}

/** Throws a CgroupError naming the first bad limit. */
export function validateLimits(limits: PodLimits): void {
  const { memoryBytes, cpuMillis, cpuShares, pidsMax } = limits;
  if (memoryBytes !== undefined) {
    check(Number.isSafeInteger(memoryBytes) && memoryBytes > 0, 'memoryBytes', memoryBytes, 'a positive whole number of bytes');
  }
  if (cpuMillis !== undefined) {
    check(
      Number.isSafeInteger(cpuMillis) && cpuMillis >= MIN_CPU_MILLIS && cpuMillis <= MAX_CPU_MILLIS,
      'cpuMillis', cpuMillis, `whole thousandths of a CPU from ${MIN_CPU_MILLIS} (1 ms per 100 ms)`,
    );
  }
  if (cpuShares !== undefined) {
    check(
      Number.isSafeInteger(cpuShares) && cpuShares >= MIN_CPU_SHARES && cpuShares <= MAX_CPU_SHARES,
      'cpuShares', cpuShares, `a whole number from ${MIN_CPU_SHARES} to ${MAX_CPU_SHARES}`,
    );
  }
  if (pidsMax !== undefined) {
    check(Number.isSafeInteger(pidsMax) && pidsMax > 0, 'pidsMax', pidsMax, 'a positive whole number');
  }
}

/** CFS quota in µs per CPU_PERIOD_US: 750 millis → 75000. */
export function cpuQuotaUs(cpuMillis: number): number {
  return (cpuMillis * CPU_PERIOD_US) / 1000;
}

/**
 * v1 shares → v2 cpu.weight, crun's formula (integer arithmetic):
 * 2 → 1, 1024 → 39, 262144 → 10000.
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - MIN_CPU_SHARES) * 9999) / (MAX_CPU_SHARES - MIN_CPU_SHARES));
}

/** The controllers a set of limits needs, so a missing one fails before anything is made. */
export function controllersFor(limits: PodLimits): string[] {
  const needed: string[] = [];
  if (limits.memoryBytes !== undefined) needed.push('memory');
  if (limits.cpuMillis !== undefined || limits.cpuShares !== undefined) needed.push('cpu');
  if (limits.pidsMax !== undefined) needed.push('pids');
  return needed;
}

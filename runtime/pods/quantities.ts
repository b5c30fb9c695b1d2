/**
 * Resource quantities as rkt (and Kubernetes) write them: memory `128M`
 * (decimal) or `128Mi` (binary) or plain bytes; CPU `750m` (millicores) or
 * `1.5` (cores).
 */
import { UsageError } from '../errors.js';

const MEMORY_UNITS: Record<string, number> = {
  '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

export function parseMemory(text: string, flag = '--memory'): number {
  const m = /^(\d+(?:\.\d+)?)([kKMGT]i?|)$/.exec(text.trim());
  const unit = m === null ? undefined : MEMORY_UNITS[m[2] as string];
  if (m === null || unit === undefined) {
    throw new UsageError(`${flag} "${text}" is not a memory size`, { input: text, hint: 'write e.g. 64M, 512Mi or 1G' });
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 4096) throw new UsageError(`${flag} ${text} is too small for a pod`, { input: text, hint: 'give at least a few MiB' });
  return bytes;
}

export function parseCpuMillis(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--cpu "${text}" is not a CPU amount`, { input: text, hint: 'write e.g. 500m or 1.5' });
  const millis = m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
  if (millis < 1) throw new UsageError(`--cpu ${text} is below 1m`, { input: text });
  return Math.round(millis);
}

export function parsePositiveInt(text: string, flag: string, range: [number, number] = [1, Number.MAX_SAFE_INTEGER]): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < range[0] || Number(text) > range[1]) {
    throw new UsageError(`${flag} "${text}" is not a whole number from ${range[0]} to ${range[1]}`, { input: text });
  }
  return Number(text);
}

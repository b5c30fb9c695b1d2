/**
 * Go-style durations, as rkt's flags take them: `30m`, `24h`, `1h30m`, `90s`,
 * `500ms`, `0`. Returns milliseconds.
 */
import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    matched = re.lastIndex;
  }
  if (matched !== text.length || text === '') {
    throw new InvalidArgumentError(`'${text}' is not a duration; write e.g. 30s, 15m, 24h or 1h30m`);
  }
  return total;
}

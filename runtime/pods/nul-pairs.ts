/**
 * The format the stage1 config and the run plans share: KEY NUL VALUE NUL,
 * repeated, keys in any order and repeatable (native/stage1-protocol.md; the
 * launcher reads run plans the same way).
 */
import { SkiffError } from '../errors.js';

export type NulPairs = Array<[string, string]>;

/** Throws when a key or value holds a NUL, which the format cannot carry. */
export function encodeNulPairs(pairs: NulPairs): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of pairs) {
    if (key.includes('\0') || value.includes('\0')) {
      throw new SkiffError('E_INTERNAL', `the value of ${key} contains a NUL byte`, { input: key });
    }
    parts.push(Buffer.from(`${key}\0${value}\0`));
  }
  return Buffer.concat(parts);
}

/** The pairs in order; a last key without a NUL-terminated value is dropped. */
export function decodeNulPairs(data: Buffer): NulPairs {
  const fields = data.toString('utf8').split('\0');
  fields.pop();
  const pairs: NulPairs = [];
  for (let i = 0; i + 1 < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
  return pairs;
}

/** The values of a repeated key, in order. */
export function valuesOf(pairs: NulPairs, key: string): string[] {
  return pairs.filter(([k]) => k === key).map(([, v]) => v);
}

/**
 * Entry names to path components, and OCI whiteout names, checked lexically
 * before anything touches the filesystem. This is the first of two walls: the
 * second is that every component is then resolved with openat2() without
 * following symlinks (dir-resolver.ts), so even a name that passed here cannot
 * lead outside the layer dir.
 *
 * Names are latin1 binary strings (tar-reader.ts).
 */

import { EntryRefused } from './entry-refused.js';

/**
 * "usr/bin/", "./usr//bin" → ["usr", "bin"]; "." or "./" → [] (the layer
 * root). Refused: absolute paths, any ".." component (even one that would
 * stay inside: no real layer needs it, and refusing is simpler to trust),
 * NUL bytes, and empty names.
 */
export function entryComponents(name: string, what = 'path'): string[] {
  if (name === '') throw new EntryRefused(`empty ${what}`);
  if (name.includes('\0')) throw new EntryRefused(`${what} contains a NUL byte`);
  if (name.startsWith('/')) throw new EntryRefused(`absolute ${what} (layer entries must be relative)`);
  const parts = name.split('/');
  // The common case, "usr/bin/ls": nothing to drop, nothing to refuse.
  if (!name.includes('.') && !name.includes('//') && !name.endsWith('/')) return parts;
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new EntryRefused(`${what} has a ".." component`);
    out.push(part);
  }
  return out;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** Other ".wh..wh." names are AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): read past, as containerd does. */
export const WHITEOUT_META_PREFIX = '.wh..wh.';

export type WhiteoutKind = { kind: 'none' } | { kind: 'opaque' } | { kind: 'meta' } | { kind: 'whiteout'; name: string };

/** Classifies the last component of an entry path. */
export function whiteoutOf(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new EntryRefused(`whiteout ${JSON.stringify(base)} names ${name === '' ? 'nothing' : JSON.stringify(name)}`);
  }
  return { kind: 'whiteout', name };
}

/** For messages: the name as UTF-8 where it is, with escapes where it is not. */
export function showName(binary: string): string {
  return JSON.stringify(Buffer.from(binary, 'latin1').toString('utf8'));
}

/**
 * Reads small files (/etc/passwd, /etc/group) of an image without mounting
 * it: through its unpacked layers from the top down, stopping at a whiteout
 * (a 0/0 character device) of the file or one of its parent dirs.
 */
import { lstatSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function statOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** `layers` are layer dirs from the bottom to the top (image order). */
export function readImageFile(layers: string[], path: string, maxBytes = 1 << 20): string | null {
  const parts = path.split('/').filter(Boolean);
  for (const layer of [...layers].reverse()) {
    for (let i = 1; i < parts.length; i++) {
      const st = statOrNull(join(layer, ...parts.slice(0, i)));
      if (st !== null && (isWhiteout(st) || !st.isDirectory())) return null;
    }
    const st = statOrNull(join(layer, ...parts));
    if (st === null) continue;
    if (isWhiteout(st) || !st.isFile() || st.size > maxBytes) return null;
    return readFileSync(join(layer, ...parts), 'utf8');
  }
  return null;
}

/**
 * A larger image for benchmarks: real files copied from this host's /usr
 * (libraries, binaries, share) until about `targetBytes` of file data, with
 * their modes, owners, mtimes and symlinks, as one gzip layer; like the ~95 MB
 * layer of reference/peers.md. Deterministic for a given host.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, buildLayer, type BuiltImage, type ImageFormat } from './oci-image.js';
import type { TarEntry } from './tar-writer.js';

/**
 * /usr/share first: it gives the mix of a distro base image (many small files:
 * docs, locales, man pages; ~8000 files in 100 MB), where libraries first
 * would give a few dozen huge files and measure only gunzip.
 */
const LARGE_IMAGE_SOURCES = ['/usr/share', '/usr/bin', '/usr/lib/x86_64-linux-gnu', '/usr/lib'];

function collectHostFiles(targetBytes: number, sources: string[] = LARGE_IMAGE_SOURCES): TarEntry[] {
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  const addParents = (path: string): void => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `${parts.slice(0, i).join('/')}/`;
      if (seen.has(dir)) continue;
      seen.add(dir);
      const st = lstatSync(`/${dir}`);
      entries.push({ path: dir, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });
    }
  };
  const walk = (abs: string): void => {
    if (total >= targetBytes) return;
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (total >= targetBytes) return;
      const path = join(abs, name);
      const rel = path.slice(1);
      if (seen.has(rel) || seen.has(`${rel}/`)) continue;
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      const meta = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        walk(path);
      } else if (st.isSymbolicLink()) {
        addParents(rel);
        seen.add(rel);
        entries.push({ path: rel, type: 'symlink', linkname: readlinkSync(path), ...meta });
      } else if (st.isFile()) {
        let content: Buffer;
        try {
          content = readFileSync(path);
        } catch {
          continue;
        }
        addParents(rel);
        seen.add(rel);
        entries.push({ path: rel, type: 'file', content, ...meta });
        total += content.length;
      }
    }
  };
  for (const source of sources) walk(source);
  return entries;
}

export function largeImage(targetBytes = 100 * 1024 * 1024, format: ImageFormat = 'oci'): BuiltImage {
  const layer = buildLayer(collectHostFiles(targetBytes));
  return buildImage({
    layers: [layer],
    config: { Cmd: ['/usr/bin/true'], Env: ['PATH=/usr/bin:/bin'] },
    format,
  });
}

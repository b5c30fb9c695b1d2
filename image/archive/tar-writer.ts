/**
 * A tar writer: `image export` writes OCI archives with it, and tests build
 * image layers with it, hostile ones included.
 *
 * It writes exactly what it is told: paths are not normalised, so a test can
 * put `../x`, `/etc/passwd` or `a/../../b` into an archive. ustar headers,
 * with PAX extended headers ('x') or GNU long-name entries ('L', 'K') for long
 * names, big ids and xattrs (SCHILY.xattr.*, as GNU tar and containers/storage
 * write them).
 */

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky. Defaults: 0644 files, 0755 dirs, 0777 links. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch. */
  mtime?: number;
  content?: Buffer | string;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
}

export interface TarOptions {
  /** How names longer than ustar allows are written. */
  longNames?: 'pax' | 'gnu';
  /** Leave out the two zero blocks at the end (a truncated-archive fixture). */
  omitEndBlocks?: boolean;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), 'utf8');
}

/** Octal with a NUL terminator, or base-256 (GNU) when it does not fit. */
function writeNumber(buf: Buffer, offset: number, length: number, value: number): void {
  const octal = Math.trunc(value).toString(8);
  if (octal.length <= length - 1) {
    writeString(buf, offset, length, octal.padStart(length - 1, '0'));
    buf[offset + length - 1] = 0;
    return;
  }
  buf[offset] = 0x80;
  let v = BigInt(Math.trunc(value));
  for (let i = offset + length - 1; i > offset; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  prefix?: string;
}): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, fields.name);
  writeNumber(h, 100, 8, fields.mode);
  writeNumber(h, 108, 8, fields.uid);
  writeNumber(h, 116, 8, fields.gid);
  writeNumber(h, 124, 12, fields.size);
  writeNumber(h, 136, 12, fields.mtime);
  writeString(h, 156, 1, fields.typeflag);
  writeString(h, 157, 100, fields.linkname);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, fields.uname);
  writeString(h, 297, 32, fields.gname);
  writeNumber(h, 329, 8, fields.devmajor);
  writeNumber(h, 337, 8, fields.devminor);
  if (fields.prefix !== undefined) writeString(h, 345, 155, fields.prefix);
  writeChecksum(h);
  return h;
}

/** The header checksum: the sum of its bytes, the checksum field counted as spaces. */
function writeChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest === 0 ? [data] : [data, Buffer.alloc(BLOCK - rest)];
}

/** One PAX record: "<len> <key>=<value>\n", where len counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function fitsUstar(value: string, limit: number): boolean {
  return Buffer.byteLength(value) <= limit;
}

const MAX_OCTAL_ID = 0o7777777;

/** The header blocks (PAX/GNU extensions included) and, for files, the padded content. */
export function tarEntry(entry: TarEntry, options: TarOptions = {}): Buffer {
  const content =
    entry.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(entry.content) ? entry.content : Buffer.from(entry.content);
  const size = entry.type === 'file' ? content.length : 0;
  const defaultMode = entry.type === 'dir' ? 0o755 : entry.type === 'symlink' ? 0o777 : 0o644;
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  const linkname = entry.linkname ?? '';
  const mtime = entry.mtime ?? 1_700_000_000;
  const out: Buffer[] = [];

  const longName = !fitsUstar(entry.path, 100);
  const longLink = !fitsUstar(linkname, 100);
  const pax: Buffer[] = [];
  let name = entry.path;
  let link = linkname;

  if (options.longNames === 'gnu') {
    // GNU: a pseudo-entry named ././@LongLink whose data is the full name.
    const gnu = (flag: 'L' | 'K', value: string): void => {
      const data = Buffer.from(`${value}\0`);
      out.push(
        header({ name: '././@LongLink', mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag: flag, linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 }),
        ...padded(data),
      );
    };
    if (longName) gnu('L', entry.path);
    if (longLink) gnu('K', linkname);
  } else {
    if (longName) pax.push(paxRecord('path', Buffer.from(entry.path)));
    if (longLink) pax.push(paxRecord('linkpath', Buffer.from(linkname)));
  }
  if (longName) name = entry.path.slice(0, 99);
  if (longLink) link = linkname.slice(0, 99);
  if (uid > MAX_OCTAL_ID) pax.push(paxRecord('uid', Buffer.from(String(uid))));
  if (gid > MAX_OCTAL_ID) pax.push(paxRecord('gid', Buffer.from(String(gid))));
  for (const [key, value] of Object.entries(entry.xattrs ?? {})) {
    pax.push(paxRecord(`SCHILY.xattr.${key}`, Buffer.isBuffer(value) ? value : Buffer.from(value)));
  }
  if (pax.length > 0) {
    const data = Buffer.concat(pax);
    const paxName = `PaxHeaders/${entry.path.replace(/\/+$/, '').split('/').pop() ?? 'x'}`.slice(0, 99);
    out.push(
      header({ name: paxName, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime, typeflag: 'x', linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 }),
      ...padded(data),
    );
  }
  out.push(
    header({
      name,
      mode: entry.mode ?? defaultMode,
      uid: Math.min(uid, MAX_OCTAL_ID),
      gid: Math.min(gid, MAX_OCTAL_ID),
      size,
      mtime,
      typeflag: TYPEFLAG[entry.type],
      linkname: link,
      uname: entry.uname ?? '',
      gname: entry.gname ?? '',
      devmajor: entry.devmajor ?? 0,
      devminor: entry.devminor ?? 0,
    }),
  );
  if (size > 0) out.push(...padded(content));
  return Buffer.concat(out);
}

/** A whole archive. */
export function tarArchive(entries: Iterable<TarEntry>, options: TarOptions = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) parts.push(tarEntry(entry, options));
  if (options.omitEndBlocks !== true) parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** The header blocks for a regular file of `size` bytes whose data the caller streams. */
export function tarFileHeader(path: string, size: number, mode = 0o644, mtime = 0): Buffer {
  const blocks = tarEntry({ path, type: 'file', mode, mtime });
  // tarEntry wrote size 0: patch the size field and the checksum of the last header block.
  const h = blocks.subarray(blocks.length - BLOCK);
  writeNumber(h, 124, 12, size);
  writeChecksum(h);
  return blocks;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

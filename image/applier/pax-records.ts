/**
 * PAX extended header records ('x'): "<len> <key>=<value>\n", binary-safe.
 *
 * Our own parser, because node-tar's drops SCHILY.xattr.* (so
 * security.capability would be lost), splits on newlines inside values and
 * cuts values at the first NUL. Values are kept byte for byte (xattr values
 * are binary); a malformed record is an error, never skipped, so no record
 * can be hidden from us that another reader would apply.
 */
import { TarFormatError } from './tar-header.js';

export interface Timestamp {
  sec: number;
  nsec: number;
}

/** The GNU sparse keys, in whichever of the 0.0, 0.1 and 1.0 formats they came. */
export interface PaxSparse {
  major?: number;
  minor?: number;
  /** 1.0: the real name (the ustar name is a GNUSparseFile.* placeholder). */
  name?: string;
  /** real (apparent) size: GNU.sparse.realsize (1.0) or GNU.sparse.size (0.x). */
  realsize?: number;
  numblocks?: number;
  /** 0.1: GNU.sparse.map as offset,size pairs; 0.0: repeated offset/numbytes keys. */
  map: number[];
}

export interface PaxOverrides {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: Timestamp;
  atime?: Timestamp;
  xattrs: Map<string, Buffer>;
  sparse?: PaxSparse;
}

function decimal(key: string, value: string): number {
  if (!/^[0-9]{1,16}$/.test(value)) throw new TarFormatError(`PAX record ${key} is not a decimal number: ${JSON.stringify(value)}`);
  return Number(value);
}

/** "1700000000.123456789", "-1.5": exact to the nanosecond, no float rounding. */
export function parseTimestamp(key: string, value: string): Timestamp {
  const match = /^(-?)([0-9]{1,15})(?:\.([0-9]*))?$/.exec(value);
  if (match === null) throw new TarFormatError(`PAX record ${key} is not a time: ${JSON.stringify(value)}`);
  const whole = Number(match[2]);
  const nsec = Number(((match[3] ?? '') + '000000000').slice(0, 9));
  if (match[1] !== '-') return { sec: whole, nsec };
  // timespec wants a non-negative nsec: -1.5 is { sec: -2, nsec: 500000000 }.
  return nsec === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1_000_000_000 - nsec };
}

function noNul(key: string, value: string): string {
  if (value.includes('\0')) throw new TarFormatError(`PAX record ${key} contains a NUL byte`);
  return value;
}

/** LIBARCHIVE.xattr.<name>: the name is %-encoded, the value base64. */
function percentDecode(name: string): string {
  return name.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function parsePax(data: Buffer): PaxOverrides {
  const out: PaxOverrides = { xattrs: new Map() };
  const libarchiveXattrs = new Map<string, Buffer>();
  const sparse = (): PaxSparse => (out.sparse ??= { map: [] });
  let i = 0;
  while (i < data.length) {
    let j = i;
    while (j < data.length && data[j]! >= 0x30 && data[j]! <= 0x39) j++;
    if (j === i || j - i > 9 || data[j] !== 0x20) throw new TarFormatError(`malformed PAX record at byte ${i} of the extended header`);
    const length = Number(data.toString('latin1', i, j));
    const end = i + length;
    if (length <= j - i + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw new TarFormatError(`malformed PAX record at byte ${i} of the extended header (bad length)`);
    }
    const eq = data.indexOf(0x3d, j + 1);
    if (eq < 0 || eq >= end - 1 || eq === j + 1) throw new TarFormatError(`malformed PAX record at byte ${i} of the extended header (no key)`);
    const key = data.toString('latin1', j + 1, eq);
    const raw = data.subarray(eq + 1, end - 1);
    const value = raw.toString('latin1', 0, raw.length);
    i = end;

    if (key.startsWith('SCHILY.xattr.')) {
      out.xattrs.set(key.slice('SCHILY.xattr.'.length), Buffer.from(raw));
      continue;
    }
    if (key.startsWith('LIBARCHIVE.xattr.')) {
      libarchiveXattrs.set(percentDecode(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value, 'base64'));
      continue;
    }
    // An empty value removes the key's override (POSIX: restore the header's field).
    switch (key) {
      case 'path':
        if (value === '') delete out.path;
        else out.path = noNul(key, value);
        break;
      case 'linkpath':
        if (value === '') delete out.linkpath;
        else out.linkpath = noNul(key, value);
        break;
      case 'size':
      case 'uid':
      case 'gid': {
        const field: 'size' | 'uid' | 'gid' = key;
        if (value === '') delete out[field];
        else out[field] = decimal(key, value);
        break;
      }
      case 'mtime':
      case 'atime': {
        const field: 'mtime' | 'atime' = key;
        if (value === '') delete out[field];
        else out[field] = parseTimestamp(key, value);
        break;
      }
      case 'GNU.sparse.major':
        sparse().major = decimal(key, value);
        break;
      case 'GNU.sparse.minor':
        sparse().minor = decimal(key, value);
        break;
      case 'GNU.sparse.name':
        sparse().name = noNul(key, value);
        break;
      case 'GNU.sparse.realsize':
      case 'GNU.sparse.size':
        sparse().realsize = decimal(key, value);
        break;
      case 'GNU.sparse.numblocks':
        sparse().numblocks = decimal(key, value);
        break;
      case 'GNU.sparse.offset':
      case 'GNU.sparse.numbytes':
        // 0.0: pairs in order, offset then numbytes.
        if ((sparse().map.length % 2 === 0) !== (key === 'GNU.sparse.offset')) {
          throw new TarFormatError('PAX sparse map records out of order');
        }
        sparse().map.push(decimal(key, value));
        break;
      case 'GNU.sparse.map':
        sparse().map = value === '' ? [] : value.split(',').map((v: string) => decimal(key, v));
        break;
      default:
        // atime/ctime/uname/gname/charset/comment and vendor keys carry nothing we apply.
        break;
    }
  }
  for (const [name, value] of libarchiveXattrs) if (!out.xattrs.has(name)) out.xattrs.set(name, value);
  return out;
}

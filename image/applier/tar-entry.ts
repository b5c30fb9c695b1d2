/**
 * One tar entry as the applier sees it: a header block, with what the
 * extended headers before it (PAX records, GNU long names) override, and the
 * sparse map when the file is sparse (sparse-map.ts).
 */
import type { PaxOverrides, Timestamp } from './pax-records.js';
import { readNumber, TarFormatError, type RawHeader } from './tar-header.js';
import { readGnuSparseEntries, segmentsFromPairs, type SparseSegment } from './sparse-map.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** 1-based number among real entries (extended headers not counted). */
  index: number;
  /** Byte offset of the entry's header in the archive. */
  offset: number;
  /** Raw name bytes as a latin1 string, not yet validated. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid, sticky. */
  mode: number;
  uid: number;
  gid: number;
  mtime: Timestamp;
  atime: Timestamp | undefined;
  /** Apparent size of a file (the real size of a sparse one); 0 for other types. */
  size: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: ReadonlyMap<string, Buffer>;
  /** Data segments of a sparse file; data arrives segment by segment. */
  sparse: SparseSegment[] | undefined;
}

const TYPES: Record<string, EntryType | undefined> = {
  '0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  D: 'dir',
  S: 'file',
};

/** Shared by every entry without xattrs (most of them); never written to. */
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

/** uid_t/gid_t are 32 bits, and (uid_t)-1 means "leave unchanged" to chown: never a real owner. */
const MAX_ID = 0xfffffffe;

/** What the reader does after the header: how the entry's data is laid out. */
export interface AssembledEntry {
  entry: TarEntry;
  /** Data bytes the entry occupies in the archive (0 for header-only types). */
  dataBytes: number;
  /** 'ext': GNU sparse extension blocks follow the header; 'map1': a PAX 1.0 map starts the data. */
  sparseLayout: 'none' | 'ext' | 'map1';
}

export interface ExtendedHeaders {
  pax: PaxOverrides | undefined;
  longName: string | undefined;
  longLink: string | undefined;
}

/**
 * The entry of header `h` (the block at `buf[at]`), with its extended
 * headers applied. `index` and `offset` are for messages.
 */
export function assembleEntry(h: RawHeader, buf: Buffer, at: number, ext: ExtendedHeaders, index: number, offset: number): AssembledEntry {
  const { pax } = ext;
  let path = pax?.path ?? ext.longName ?? h.name;
  const linkpath = pax?.linkpath ?? ext.longLink ?? h.linkname;

  let type: EntryType | undefined;
  if (h.typeflag === '\0') type = path.endsWith('/') ? 'dir' : 'file';
  else type = TYPES[h.typeflag];
  if (type === undefined || (h.typeflag === 'S' && !h.gnu)) {
    const shown = h.typeflag === '\0' ? 'NUL' : JSON.stringify(h.typeflag);
    throw new TarFormatError(`entry ${JSON.stringify(path)} has unsupported type ${shown}`);
  }
  const dataSize = pax?.size ?? h.size;
  const uid = pax?.uid ?? h.uid;
  const gid = pax?.gid ?? h.gid;
  if (dataSize < 0) throw new TarFormatError(`entry ${JSON.stringify(path)} has a negative size`);
  if (uid < 0 || gid < 0 || uid > MAX_ID || gid > MAX_ID) throw new TarFormatError(`entry ${JSON.stringify(path)} has an impossible uid or gid (${uid}:${gid})`);

  let sparse: SparseSegment[] | undefined;
  let realsize = dataSize;
  let sparseLayout: AssembledEntry['sparseLayout'] = 'none';
  if (h.typeflag === 'S') {
    sparse = [];
    readGnuSparseEntries(buf, at + 386, 4, sparse);
    if (buf[at + 482] !== 0) sparseLayout = 'ext';
    realsize = readNumber(buf, at + 483, 12, 'sparse real size');
  } else if (pax?.sparse !== undefined && type === 'file') {
    const s = pax.sparse;
    if (s.major === 1 && s.minor === 0) {
      sparseLayout = 'map1';
      sparse = [];
    } else if (s.major === undefined || s.major === 0) {
      sparse = segmentsFromPairs(s.map, s.numblocks);
    } else {
      throw new TarFormatError(`entry ${JSON.stringify(path)} uses GNU sparse format ${s.major}.${s.minor ?? 0}, which is not supported`);
    }
    // The ustar name of a PAX sparse file is a GNUSparseFile.* placeholder when GNU.sparse.name is given.
    if (s.name !== undefined) path = s.name;
    if (s.realsize === undefined) throw new TarFormatError(`sparse entry ${JSON.stringify(path)} has no real size`);
    realsize = s.realsize;
  }

  const headerOnly = type !== 'file' && h.typeflag !== 'D';
  return {
    entry: {
      index,
      offset,
      path,
      type,
      mode: h.mode & 0o7777,
      uid,
      gid,
      mtime: pax?.mtime ?? { sec: h.mtime, nsec: 0 },
      atime: pax?.atime,
      size: type === 'file' ? realsize : 0,
      linkpath,
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs: pax?.xattrs ?? NO_XATTRS,
      sparse,
    },
    dataBytes: headerOnly ? 0 : dataSize,
    sparseLayout,
  };
}

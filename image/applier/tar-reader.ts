/**
 * A streaming tar reader: chunks in, entries out, synchronously.
 *
 * Why our own and not node-tar's Parser: node-tar drops SCHILY.xattr PAX
 * records (security.capability), truncates PAX values at NUL and skips
 * entries with bad checksums with a warning; a layer applier must see every
 * record and refuse what it cannot read. This reader is also a push parser
 * with no per-entry stream objects: file data reaches the sink as slices of
 * the input chunks, without copies.
 *
 * Semantics follow Go's archive/tar (what produces and consumes most layers):
 * - link, symlink, char, block, dir and fifo entries are header-only: their
 *   size field is ignored;
 * - a zero block must be followed by a second one (the end-of-archive
 *   marker), or by the end of the stream;
 * - global PAX headers ('g') are read past and not applied (as containerd);
 * - a '\0' typeflag with a trailing slash is a directory.
 * Stricter than Go: a stream that ends without the end-of-archive marker is
 * refused as truncated.
 *
 * Names are latin1 "binary strings" (one char per byte) all the way to the
 * syscalls, so non-UTF-8 names survive byte for byte.
 */
import { BLOCK, isZeroBlock, parseHeader, TarFormatError, type RawHeader } from './tar-header.js';
import { parsePax, type PaxOverrides } from './pax-records.js';
import { parseSparseMap1, readGnuSparseExtension, validateSparse, type SparseSegment } from './sparse-map.js';
import { assembleEntry, type TarEntry } from './tar-entry.js';

export type { EntryType, TarEntry } from './tar-entry.js';

export interface TarSink {
  entry(entry: TarEntry): void;
  /** File data; `position` is where it goes in the file. */
  data(chunk: Buffer, position: number): void;
  entryEnd(): void;
}

/** Size limits on data the reader holds in memory. */
const MAX_PAX_BYTES = 1 << 20;
const MAX_LONGNAME_BYTES = 64 << 10;
const MAX_SPARSE_MAP_BYTES = 32 << 20;

type State =
  | 'header'
  | 'end1' // one zero block seen
  | 'done' // end-of-archive marker seen; the rest is drained unread
  | 'meta' // collecting an extended header / long name / sparse map
  | 'sparseExt' // GNU sparse extension blocks
  | 'data' // file data to the sink
  | 'skip' // data nobody reads (global headers, dumpdir listings)
  | 'pad';

type MetaKind = 'x' | 'L' | 'K' | 'map1';

export class TarReader {
  private state: State = 'header';
  /** Bytes consumed so far (offset of the next byte). */
  private offset = 0;
  private readonly block = Buffer.alloc(BLOCK);
  private blockFill = 0;

  private remaining = 0;
  private padding = 0;
  private entries = 0;

  private metaKind: MetaKind = 'x';
  private metaBuf: Buffer = Buffer.alloc(0);
  private metaFill = 0;

  private pax: PaxOverrides | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;

  private current: TarEntry | undefined;
  /** Data bytes the current entry occupies in the archive (its padding follows). */
  private dataBytes = 0;
  private segments: SparseSegment[] | undefined;
  private segIndex = 0;
  private segDone = 0;
  private filePos = 0;
  /** PAX 1.0 sparse: data bytes left after the map block being collected. */
  private remainingAfterMap = 0;

  constructor(private readonly sink: TarSink) {}

  /** Start of the last header block read: where a format error is, for messages. */
  private blockStart = 0;

  /** Where a format error lies: the header block being read, or the end of the stream once it ended short. */
  get errorOffset(): number {
    return this.ended ? this.offset : this.blockStart;
  }

  private ended = false;

  /** The entry being read, if any (for messages about truncation). */
  get currentEntry(): TarEntry | undefined {
    return this.current;
  }

  get finished(): boolean {
    return this.state === 'done' || (this.state === 'end1' && this.blockFill === 0);
  }

  write(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.state) {
        case 'done':
          this.offset += len - off;
          return;
        case 'header':
        case 'end1':
        case 'sparseExt': {
          if (this.blockFill === 0 && len - off >= BLOCK) {
            this.blockStart = this.offset;
            this.offset += BLOCK;
            this.onBlock(chunk, off);
            off += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.blockFill, len - off);
            chunk.copy(this.block, this.blockFill, off, off + n);
            this.blockFill += n;
            this.offset += n;
            off += n;
            if (this.blockFill === BLOCK) {
              this.blockStart = this.offset - BLOCK;
              this.blockFill = 0;
              this.onBlock(this.block, 0);
            }
          }
          break;
        }
        case 'meta': {
          const n = Math.min(this.remaining, len - off);
          chunk.copy(this.metaBuf, this.metaFill, off, off + n);
          this.metaFill += n;
          this.remaining -= n;
          this.offset += n;
          off += n;
          if (this.remaining === 0) this.onMeta();
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, len - off);
          this.deliver(chunk.subarray(off, off + n));
          this.remaining -= n;
          this.offset += n;
          off += n;
          if (this.remaining === 0) this.finishEntry();
          break;
        }
        case 'skip':
        case 'pad': {
          const wanted = this.state === 'skip' ? this.remaining : this.padding;
          const n = Math.min(wanted, len - off);
          this.offset += n;
          off += n;
          if (this.state === 'skip') {
            this.remaining -= n;
            if (this.remaining === 0) {
              if (this.current === undefined) this.afterData();
              else this.finishEntry();
            }
          } else {
            this.padding -= n;
            if (this.padding === 0) this.state = 'header';
          }
          break;
        }
      }
    }
  }

  /** The stream ended: anything but a complete archive is truncated. */
  end(): void {
    this.ended = true;
    if (this.finished) return;
    if (this.state === 'header' && this.blockFill === 0 && this.pax === undefined && this.longName === undefined && this.longLink === undefined) {
      throw new TarFormatError('archive ends without the end-of-archive marker (truncated)');
    }
    const entry = this.current;
    const what =
      this.state === 'header' || this.state === 'end1'
        ? 'inside a header block'
        : this.state === 'meta'
          ? 'inside an extended header'
          : entry === undefined
            ? 'inside an entry'
            : `inside the data of entry #${entry.index}`;
    throw new TarFormatError(`archive is truncated ${what}`);
  }

  private onBlock(buf: Buffer, at: number): void {
    if (this.state === 'sparseExt') {
      if (!readGnuSparseExtension(buf, at, this.segments!)) this.startData();
      return;
    }
    if (isZeroBlock(buf, at)) {
      if (this.pax !== undefined || this.longName !== undefined || this.longLink !== undefined) {
        throw new TarFormatError('an extended header is followed by the end of the archive');
      }
      this.state = this.state === 'end1' ? 'done' : 'end1';
      return;
    }
    if (this.state === 'end1') throw new TarFormatError('a zero block is followed by more entries (corrupt archive)');
    const start = this.offset - BLOCK;
    const h = parseHeader(buf, at);
    switch (h.typeflag) {
      case 'x':
        return this.startMeta('x', h.size, MAX_PAX_BYTES);
      case 'L':
        return this.startMeta('L', h.size, MAX_LONGNAME_BYTES);
      case 'K':
        return this.startMeta('K', h.size, MAX_LONGNAME_BYTES);
      case 'g':
        this.remaining = h.size;
        this.dataBytes = h.size;
        if (h.size === 0) this.state = 'header';
        else this.state = 'skip';
        return;
    }
    this.startEntry(h, buf, at, start);
  }

  private startMeta(kind: MetaKind, size: number, limit: number): void {
    if (size > limit) throw new TarFormatError(`extended header of ${size} bytes is larger than the ${limit}-byte limit`);
    this.metaKind = kind;
    this.metaBuf = Buffer.alloc(size);
    this.metaFill = 0;
    this.remaining = size;
    this.state = 'meta';
    if (size === 0) this.onMeta();
  }

  private onMeta(): void {
    const data = this.metaBuf;
    const kind = this.metaKind;
    if (kind === 'map1') return this.onSparseMapBlock();
    this.state = 'pad';
    this.padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (this.padding === 0) this.state = 'header';
    if (kind === 'x') {
      const pax = parsePax(data);
      // Consecutive extended headers merge, later keys winning (as Go does).
      if (this.pax === undefined) this.pax = pax;
      else {
        const { xattrs, ...rest } = pax;
        Object.assign(this.pax, rest);
        for (const [k, v] of xattrs) this.pax.xattrs.set(k, v);
      }
      return;
    }
    // GNU long names are C strings: a NUL ends them; anything after it but more NULs is a NUL inside the name.
    const nul = data.indexOf(0);
    const name = data.toString('latin1', 0, nul < 0 ? data.length : nul);
    if (nul >= 0 && data.subarray(nul).some((b) => b !== 0)) {
      throw new TarFormatError(`GNU long ${kind === 'L' ? 'name' : 'link name'} contains a NUL byte`);
    }
    if (kind === 'L') this.longName = name;
    else this.longLink = name;
  }

  private startEntry(h: RawHeader, buf: Buffer, at: number, start: number): void {
    const ext = { pax: this.pax, longName: this.longName, longLink: this.longLink };
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    const { entry, dataBytes, sparseLayout } = assembleEntry(h, buf, at, ext, ++this.entries, start);
    this.current = entry;
    this.remaining = dataBytes;
    this.dataBytes = dataBytes;
    this.segments = entry.sparse;
    if (sparseLayout === 'ext') {
      this.state = 'sparseExt';
      return;
    }
    if (sparseLayout === 'map1') {
      // The map is the first part of the data; collect it block by block.
      this.metaKind = 'map1';
      this.metaBuf = Buffer.alloc(0);
      this.metaFill = 0;
      this.nextMapBlock();
      return;
    }
    this.startData();
  }

  private nextMapBlock(): void {
    if (this.remaining < BLOCK) throw new TarFormatError(`sparse entry ${JSON.stringify(this.current!.path)}: map runs past the entry's data`);
    if (this.metaFill + BLOCK > MAX_SPARSE_MAP_BYTES) throw new TarFormatError('sparse map is too large');
    const grown = Buffer.alloc(this.metaFill + BLOCK);
    this.metaBuf.copy(grown, 0, 0, this.metaFill);
    this.metaBuf = grown;
    this.remainingAfterMap = this.remaining - BLOCK;
    this.remaining = BLOCK;
    this.state = 'meta';
  }

  private onSparseMapBlock(): void {
    this.remaining = this.remainingAfterMap;
    const parsed = parseSparseMap1(this.metaBuf.subarray(0, this.metaFill));
    if (parsed === undefined) return this.nextMapBlock();
    this.segments = parsed.segments;
    this.current!.sparse = parsed.segments;
    this.startData();
  }

  private startData(): void {
    const entry = this.current!;
    if (this.segments !== undefined) {
      validateSparse(this.segments, entry.size, this.remaining);
      this.segIndex = 0;
      this.segDone = 0;
    }
    this.filePos = 0;
    this.sink.entry(entry);
    if (this.remaining === 0) {
      this.finishEntry();
      return;
    }
    this.state = entry.type === 'file' ? 'data' : 'skip';
  }

  private deliver(slice: Buffer): void {
    const segs = this.segments;
    if (segs === undefined) {
      this.sink.data(slice, this.filePos);
      this.filePos += slice.length;
      return;
    }
    let at = 0;
    while (at < slice.length) {
      const seg = segs[this.segIndex]!;
      const n = Math.min(seg.length - this.segDone, slice.length - at);
      if (n > 0) this.sink.data(slice.subarray(at, at + n), seg.offset + this.segDone);
      this.segDone += n;
      at += n;
      if (this.segDone === seg.length) {
        this.segIndex++;
        this.segDone = 0;
      }
    }
  }

  private finishEntry(): void {
    this.sink.entryEnd();
    this.afterData();
  }

  /** After an entry's data (or a skipped global header): step over the padding to the next block. */
  private afterData(): void {
    this.current = undefined;
    this.segments = undefined;
    this.padding = (BLOCK - (this.dataBytes % BLOCK)) % BLOCK;
    this.state = this.padding === 0 ? 'header' : 'pad';
  }
}

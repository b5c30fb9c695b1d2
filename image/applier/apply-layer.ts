/**
 * applyLayer(): an uncompressed layer tar stream into an empty dir (overlay
 * form, the default), or onto the layers already rendered there (render
 * mode: apply an image's layers bottom to top into one dir to get its
 * flattened rootfs; see render-whiteouts.ts).
 *
 * The stream goes through our tar reader (tar-reader.ts), which hands each
 * entry to the writer (layer-writer.ts, where the order of operations and why
 * it is safe are described) after the limits here: entry count, total file
 * bytes (a tar bomb is refused before its data is written) and the target
 * filesystem's free-space margin (free-space.ts). Any refusal,
 * of the format or of one entry, becomes one ImageError naming the layer, the
 * entry and the reason; every fd is closed on every path out. The caller
 * removes the partial dir (removeTreeAt() does it without following what
 * the layers planted).
 *
 * After the end-of-archive marker the rest of the stream is still read (and
 * ignored), so a digest computed over the stream covers all of it.
 */
import { closeSync, openSync, readdirSync, readFileSync, constants as fsConstants } from 'node:fs';
import { formatBytes } from '../../runtime/cli/fetch-progress.js';
import { ImageError, NativeError, SkiffError } from '../../runtime/errors.js';
import { showName } from './entry-path.js';
import { EntryRefused } from './entry-refused.js';
import { FreeSpace, FREE_SPACE_HINT } from './free-space.js';
import { LayerWriter, type DevicePolicy } from './layer-writer.js';
import { LowersPending, type LowerDirs } from './lower-layers.js';
import { TarFormatError } from './tar-header.js';
import { TarReader, type TarEntry, type TarSink } from './tar-reader.js';

/**
 * 'overlay': into an empty dir, whiteouts as 0/0 char devices and
 * trusted.overlay.opaque=y, for an overlay mount. 'render': into a dir that
 * may hold lower layers; whiteouts remove from it, no device or overlay
 * xattr is written.
 */
export type ApplyMode = 'overlay' | 'render';

export interface ApplyOptions {
  /** default 'overlay' */
  mode?: ApplyMode;
  /**
   * Device nodes (char/block) in the layer: 'create' (default), 'skip' or
   * 'refuse' them. Whiteouts (0/0 char devs) are made either way.
   */
  devices?: DevicePolicy;
  /**
   * Total file bytes (a sparse file by its apparent size); default 64 GiB;
   * beyond → refused before the entry is written (a decompression bomb).
   */
  maxBytes?: number;
  /** What to do when maxBytes is hit (the caller knows where the limit is set). */
  maxBytesHint?: string;
  /** Check that the target's filesystem keeps its free-space margin (free-space.ts); default true. */
  checkFreeSpace?: boolean;
  /** The dir that free-space messages name (the store, not its scratch dir); default the target. */
  spaceOf?: string;
  /** default 2_000_000 */
  maxEntries?: number;
  /** for messages: which layer, from where */
  describe?: string;
  /**
   * Overlay mode: the image's layers below this one, top-most first, for
   * hardlinks to their files (copied up: lower-layers.ts); undefined from the
   * function while some are still being unpacked (then a hardlink that needs
   * them stops the apply with LowersPending). Without it, a hardlink target
   * must be in the layer itself.
   */
  lowerDirs?: LowerDirs;
}

export interface ApplyResult {
  entries: number;
  bytes: number;
  /** Device nodes left out ('skip'): how many, and the first few paths. */
  skippedDevices: { count: number; examples: string[] };
  /** Hardlinks resolved from the lower layers (copied up): when > 0, the result depends on them. */
  copiedUp: number;
}

export const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 2_000_000;

const HINT = 'the layer is corrupt or hostile and was not unpacked; check where the image comes from';

/** The process umask, read without changing it (process.umask() with no argument is deprecated). */
function currentUmask(): number {
  const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
  return match === null ? 0o022 : parseInt(match[1]!, 8);
}

function openTarget(target: string, describe: string, mustBeEmpty: boolean): number {
  let fd: number;
  try {
    // libuv opens with O_CLOEXEC.
    fd = openSync(target, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  } catch (err) {
    throw new ImageError(`${describe}: cannot open the target dir ${target}`, { input: target, cause: err });
  }
  if (mustBeEmpty && readdirSync(target).length !== 0) {
    closeSync(fd);
    throw new ImageError(`${describe}: the target dir ${target} is not empty`, {
      input: target,
      hint: 'layers are applied into a fresh empty dir (unless rendered); this is a bug in the caller',
    });
  }
  return fd;
}

/** Past maxBytes: a decompression bomb, or a layer bigger than this host allows. Refused before its data is written. */
function tooLarge(entry: TarEntry, maxBytes: number, hint: string | undefined): ImageError {
  return new ImageError(
    `entry #${entry.index} ${showName(entry.path)} (at byte ${entry.offset}) refused: the layer holds more than ${maxBytes} bytes of file data (the layer size limit, ${formatBytes(maxBytes)})`,
    { input: entry.path, hint: hint ?? 'the layer is a decompression bomb or bigger than allowed here; it was not unpacked' },
  );
}

/** Out of space is not the layer's fault: say so instead of blaming the image. */
function hintFor(cause: unknown): string {
  const code = cause instanceof NativeError ? cause.errnoName : (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return FREE_SPACE_HINT;
  if (code === 'EIO' || code === 'EROFS') return 'the filesystem of the image store failed; check it and fetch again';
  return HINT;
}

function entryError(describe: string, entry: TarEntry, reason: string, cause: unknown): ImageError {
  return new ImageError(`${describe}: entry #${entry.index} ${showName(entry.path)} (at byte ${entry.offset}) refused: ${reason}`, {
    input: entry.path,
    hint: hintFor(cause),
    cause,
  });
}

/** Any failure of applyLayer as the one error the caller sees, naming the layer and, where known, the entry. */
function explain(err: unknown, describe: string, entry: TarEntry | undefined, reader: TarReader): SkiffError {
  if (err instanceof EntryRefused) {
    if (entry === undefined) return new ImageError(`${describe}: ${err.message}`, { hint: hintFor(err.cause), cause: err });
    return entryError(describe, entry, err.message, err.cause ?? err);
  }
  if (err instanceof TarFormatError) {
    if (entry !== undefined) return entryError(describe, entry, err.message, err);
    return new ImageError(`${describe}: not a valid tar archive at byte ${reader.errorOffset}: ${err.message}`, { hint: HINT, cause: err });
  }
  // From the stream: a decompression error gets the layer's name; others (a digest mismatch upstream) keep their type.
  if (err instanceof ImageError) return new ImageError(`${describe}: ${err.message}`, { hint: err.hint ?? HINT, cause: err });
  if (err instanceof SkiffError) return err;
  const sys = err as NodeJS.ErrnoException;
  if (entry !== undefined && typeof sys.syscall === 'string') {
    // fs.writeSync / ftruncateSync on the entry's file (ENOSPC, EIO…).
    return entryError(describe, entry, sys.message, err);
  }
  return new ImageError(`${describe}: reading the layer stream failed: ${sys.message ?? String(err)}`, { hint: HINT, cause: err });
}

export async function applyLayer(
  tar: NodeJS.ReadableStream | AsyncIterable<Buffer>,
  target: string,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const describe = options.describe ?? `layer unpacked into ${target}`;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const mode = options.mode ?? 'overlay';
  const rootFd = openTarget(target, describe, mode === 'overlay');
  let entries = 0;
  let bytes = 0;
  let current: TarEntry | undefined;
  let space: FreeSpace | undefined;
  // A copy-up's data counts like the entry's own: a thousand links to a big lower file are a thousand copies.
  const reserveCopy = (n: number): void => {
    const entry = current!;
    bytes += n;
    if (bytes > maxBytes) throw tooLarge(entry, maxBytes, options.maxBytesHint);
    space?.reserve({ ...entry, type: 'file', size: n, sparse: undefined });
  };
  const writer = new LayerWriter(rootFd, {
    devices: options.devices ?? 'create',
    umask: currentUmask(),
    mode,
    ...(options.lowerDirs === undefined ? {} : { lowerDirs: options.lowerDirs, reserveCopy }),
  });
  const sink: TarSink = {
    entry(entry) {
      current = entry;
      if (++entries > maxEntries) throw new EntryRefused(`the layer has more than ${maxEntries} entries`);
      bytes += entry.size;
      if (bytes > maxBytes) throw tooLarge(entry, maxBytes, options.maxBytesHint);
      space?.reserve(entry);
      writer.begin(entry);
    },
    data(chunk, position) {
      writer.data(chunk, position);
    },
    entryEnd() {
      writer.end();
      current = undefined;
    },
  };
  const reader = new TarReader(sink);
  try {
    if (options.checkFreeSpace !== false) space = new FreeSpace(target, options.spaceOf ?? target);
    for await (const chunk of tar as AsyncIterable<Buffer | string>) {
      reader.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    }
    reader.end();
    writer.finish();
    return { entries, bytes, skippedDevices: writer.skippedDevices, copiedUp: writer.copiedUp };
  } catch (err) {
    if (err instanceof LowersPending) throw err;
    throw explain(err, describe, current ?? reader.currentEntry, reader);
  } finally {
    writer.close();
    closeSync(rootFd);
  }
}

/**
 * The image records: what images the store holds, under which names, with
 * their layers and import/last-used times. One JSON file, rewritten
 * atomically under the store lock, so concurrent skiff commands never lose
 * each other's updates.
 *
 * An image's ID is its config digest (as docker and podman do): the same image
 * pushed as OCI and as Docker v2s2 is one image with two names.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { ImageError } from '../../runtime/errors.js';
import { lockPath, type HeldLock } from '../../native/bindings/flock.js';
import type { StorePaths } from './store-paths.js';
import { lockWaitNotice } from '../../runtime/lock-wait-notice.js';

export interface ImageLayerRecord {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  /**
   * Set when the layer is stored by its chainID (layers/chains/): it has
   * hardlinks to files of the layers below it, so its unpacked form depends
   * on them (layer-store.ts). Absent: stored by diffID (layers/sha256/).
   */
  chainId?: string;
}

export interface ImageRecord {
  /** The config digest. */
  id: string;
  names: string[];
  manifestDigest: string;
  manifestMediaType: string;
  configDigest: string;
  platform: { os: string; architecture: string; variant?: string };
  layers: ImageLayerRecord[];
  /** Compressed bytes of config and layers, as stored. */
  size: number;
  importTime: string;
  lastUsed: string;
}

interface IndexFile {
  version: 1;
  images: ImageRecord[];
}

/** Where an image's last use is kept: the mtime of `images/last-used/<hex>`. */
export function lastUsedMarker(paths: StorePaths, id: string): string {
  return join(paths.lastUsed, id.replace(/^sha256:/, ''));
}

/**
 * Marks an image used now (image gc's grace period counts from here). A
 * marker file's mtime, not an index rewrite: every `run` does this, and an
 * index rewrite costs a lock and two fsyncs; last-used is advisory, so a
 * power loss that loses a touch loses nothing that matters.
 */
export function markImageUsed(paths: StorePaths, id: string, now: Date = new Date()): void {
  const marker = lastUsedMarker(paths, id);
  try {
    utimesSync(marker, now, now);
  } catch {
    mkdirSync(paths.lastUsed, { recursive: true });
    closeSync(openSync(marker, 'a'));
    utimesSync(marker, now, now);
  }
}

/** The record with `lastUsed` from its marker when that is newer. */
export function withLastUse(paths: StorePaths, image: ImageRecord): ImageRecord {
  try {
    const used = statSync(lastUsedMarker(paths, image.id)).mtime;
    if (used.getTime() > Date.parse(image.lastUsed)) return { ...image, lastUsed: used.toISOString() };
  } catch {
    // Never used since it was fetched.
  }
  return image;
}

/** The records with their last use (a stat per image): for listing. */
export function readImageIndex(paths: StorePaths): ImageRecord[] {
  return readImageRecords(paths).map((image) => withLastUse(paths, image));
}

/** The records as stored, last-use markers not read: for lookups and read-modify-write. */
export function readImageRecords(paths: StorePaths): ImageRecord[] {
  if (!existsSync(paths.index)) return [];
  let parsed: IndexFile;
  try {
    parsed = JSON.parse(readFileSync(paths.index, 'utf8')) as IndexFile;
  } catch (err) {
    throw new ImageError(`the image index ${paths.index} is unreadable`, {
      input: paths.index,
      cause: err,
      hint: 'it is written atomically, so this means outside damage; move it away and fetch the images again',
    });
  }
  if (parsed.version !== 1 || !Array.isArray(parsed.images)) {
    throw new ImageError(`the image index ${paths.index} has an unknown format (version ${String(parsed.version)})`, {
      input: paths.index,
      hint: 'use the skiff version that wrote it',
    });
  }
  return parsed.images;
}

function writeImageIndex(paths: StorePaths, images: ImageRecord[]): void {
  mkdirSync(paths.images, { recursive: true });
  const file: IndexFile = { version: 1, images };
  writeFileAtomic(paths.index, `${JSON.stringify(file, null, 2)}\n`);
}

/** Holds the store lock while `fn` runs. Waits up to a minute for another writer. */
async function withStoreLock<T>(paths: StorePaths, fn: () => T | Promise<T>): Promise<T> {
  mkdirSync(paths.root, { recursive: true });
  const lock: HeldLock = await lockPath(paths.lock, 'exclusive', { timeoutMs: 60_000, what: `the image store ${paths.root}`, onWait: lockWaitNotice(`the image store ${paths.root}`) });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** Read-modify-write of the index under the store lock. */
export function updateImageIndex<T>(paths: StorePaths, change: (images: ImageRecord[]) => T): Promise<T> {
  return withStoreLock(paths, () => {
    const images = readImageRecords(paths);
    const result = change(images);
    writeImageIndex(paths, images);
    return result;
  });
}

/**
 * Adds an image or merges it into the record with the same ID. A name moves
 * to the newest image that claims it (a re-pushed tag).
 */
export function recordImage(paths: StorePaths, image: ImageRecord): Promise<ImageRecord> {
  return updateImageIndex(paths, (images) => {
    for (const other of images) {
      if (other.id !== image.id) other.names = other.names.filter((n) => !image.names.includes(n));
    }
    const existing = images.find((i) => i.id === image.id);
    if (existing === undefined) {
      images.push(image);
      return image;
    }
    existing.names = [...new Set([...existing.names, ...image.names])];
    existing.lastUsed = image.lastUsed;
    return image.names[0] === undefined ? existing : asNamed(existing, image.names[0]);
  });
}

/**
 * The record as the user named it: `name` first among its names. Images that
 * share one config ID are one record with several names, and messages (and
 * default app names) use names[0], so it must be the name the user gave, not
 * the one stored first. A copy: the index keeps its order.
 */
export function asNamed(record: ImageRecord, name: string): ImageRecord {
  if (record.names[0] === name || !record.names.includes(name)) return record;
  return { ...record, names: [name, ...record.names.filter((n) => n !== name)] };
}

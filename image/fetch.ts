/**
 * Fetching an image into the store: resolve the reference to a manifest
 * (choosing a platform from an index), read and verify the config, then for
 * each layer download the blob (verified while streaming) and unpack it
 * (verified against the config's diffID), several layers at once; a layer
 * neither stored nor unpacked is unpacked while it downloads
 * (store/streamed-layer.ts). Finally the
 * image is recorded under the store lock.
 *
 * A layer that hardlinks files of the layers below it copies them up while
 * it unpacks (image/applier/lower-layers.ts): it reads its lower layers once
 * they are unpacked, and is stored by chainID (layer-store.ts); each layer's
 * outcome is a promise the layers above it can wait for.
 *
 * Order matters for crash safety: blobs and layers become visible only when
 * whole, and the image record is written last, so an interrupted fetch leaves
 * at most unreferenced blobs/layers (reused by the next fetch, or swept by gc),
 * never a record pointing at something missing. The whole fetch holds gc.lock
 * shared, so gc cannot sweep what this fetch stored before it is recorded.
 */
import { existsSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageError } from '../runtime/errors.js';
import type { FetchListener } from './fetch-events.js';
import { parseImageConfig } from './image-config.js';
import { MAX_CONFIG_BYTES, parseManifest, type ImageManifest } from './manifest.js';
import { selectPlatform, type NormalPlatform } from './platform.js';
import { refuseOversized, type ImageSource } from './source.js';
import { hasBlob, ingestBlob, putBlob, readBlob, removeBlob } from './store/blob-store.js';
import { withGcLock } from './store/gc-lock.js';
import { recordImage, type ImageRecord } from './store/image-index.js';
import { chainIds } from './store/chain-id.js';
import { unpackLayer, type LowerLayers } from './store/layer-store.js';
import { sweepDeadScratch } from './store/scratch-dir.js';
import { downloadAndUnpack } from './store/streamed-layer.js';
import { chainLayerPath, hasLayer, layerPath, type StorePaths } from './store/store-paths.js';

export interface FetchOptions {
  /** The name to record the image under (e.g. `127.0.0.1:5000/skiff/probe:oci`). */
  name: string;
  /** Default: the host's. */
  platform?: NormalPlatform;
  listener?: FetchListener;
  /** The cap on each layer's unpacked size (SKIFF_MAX_LAYER_SIZE); default 64 GiB. */
  maxLayerBytes?: number;
  /**
   * Drop each layer's compressed blob once the layer is unpacked, verified and in place
   * (containerd's discard_unpacked_layers): the store then holds a layer once, not twice.
   * What needs the blob later (export, --no-overlay, extract) says so (layer-blobs.ts).
   */
  discardBlobs?: boolean;
}

/** Layers fetched and unpacked at once. */
const PARALLEL_LAYERS = 3;

/** Counts bytes for progress without touching them. */
class Counter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }
}

/** Where a layer of this fetch ended up: its dir, and its chainID if it is stored by that. */
interface LayerOutcome {
  dir: string;
  chainId?: string;
}

/** A layer's outcome, readable at once when settled, and awaitable by the layers above it. */
class Outcome {
  value: LayerOutcome | undefined;
  resolve!: (value: LayerOutcome) => void;
  reject!: (err: unknown) => void;
  readonly promise = new Promise<LayerOutcome>((resolve, reject) => {
    this.resolve = (value) => {
      this.value = value;
      resolve(value);
    };
    this.reject = reject;
  });
  constructor() {
    // Awaited only by the layers above that need it; a failure is reported by the layer itself.
    this.promise.catch(() => undefined);
  }
}

/** A layer already in the store, under either key. */
function storedLayer(paths: StorePaths, diffId: string, chainId: string): LayerOutcome | undefined {
  if (hasLayer(paths, diffId)) return { dir: layerPath(paths, diffId) };
  const chained = chainLayerPath(paths, chainId);
  return existsSync(chained) ? { dir: chained, chainId } : undefined;
}

/** The layers below layer `i`, for its copy-up. */
function lowersOf(outcomes: Outcome[], i: number, chainId: string): LowerLayers {
  const below = outcomes.slice(0, i);
  return {
    chainId,
    ready: () => (below.every((o) => o.value !== undefined) ? below.map((o) => o.value!.dir).reverse() : undefined),
    settled: () => Promise.all(below.map((o) => o.promise)),
  };
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

async function resolveManifest(source: ImageSource, platform: NormalPlatform | undefined): Promise<{ manifest: ImageManifest; bytes: Buffer; digest: string }> {
  const top = await source.resolve();
  const parsed = parseManifest(top.bytes, top.mediaType, source.name);
  if (parsed.kind === 'manifest') return { manifest: parsed, bytes: top.bytes, digest: top.digest };
  const chosen = selectPlatform(parsed, platform, source.name);
  const child = await source.fetchManifest(chosen.digest);
  const manifest = parseManifest(child.bytes, child.mediaType, `${source.name}@${chosen.digest}`);
  if (manifest.kind !== 'manifest') {
    throw new ImageError(`${source.name}: the index entry for ${chosen.digest} is itself an index`, {
      input: source.name,
      hint: 'nested indexes are not supported',
    });
  }
  return { manifest, bytes: child.bytes, digest: child.digest };
}

export async function fetchImage(paths: StorePaths, source: ImageSource, options: FetchOptions): Promise<ImageRecord> {
  try {
    return await withGcLock(paths, 'shared', () => fetchLocked(paths, source, options));
  } finally {
    await source.close();
  }
}

/** fetchImage() with gc.lock held. */
async function fetchLocked(paths: StorePaths, source: ImageSource, options: FetchOptions): Promise<ImageRecord> {
  sweepDeadScratch(paths);
  const { manifest, bytes: manifestBytes, digest: manifestDigest } = await resolveManifest(source, options.platform);

  // The config is small and needed before any layer: its diff_ids verify the unpacked layers.
  const configDesc = manifest.config;
  if (!hasBlob(paths, configDesc.digest)) {
    refuseOversized(source, configDesc, MAX_CONFIG_BYTES);
    await ingestBlob(paths, configDesc, await source.openBlob(configDesc), source.name);
  }
  // parseImageConfig checks that diff_ids and the manifest's layers agree in number.
  const config = parseImageConfig(readBlob(paths, configDesc.digest, MAX_CONFIG_BYTES), manifest.layers.length, source.name);
  const chains = chainIds(config.diffIds);
  const layers = manifest.layers.map((desc, i) => ({ ...desc, diffId: config.diffIds[i] as string, index: i, chainId: chains[i] as string }));
  const outcomes = layers.map(() => new Outcome());

  await runLimited(layers, PARALLEL_LAYERS, async (layer) => {
    const outcome = outcomes[layer.index]!;
    try {
      const started = Date.now();
      const listener = options.listener;
      let downloaded = false;
      let unpacked = false;
      let stored = storedLayer(paths, layer.diffId, layer.chainId);
      const unpackOptions = {
        onProgress: (n: number) => listener?.layerProgress?.(layer.digest, 'unpack', n),
        ...(options.maxLayerBytes === undefined ? {} : { maxLayerBytes: options.maxLayerBytes }),
        // The bottom layer has nothing below it: a hardlink it cannot resolve itself is refused.
        ...(layer.index === 0 ? {} : { lowers: lowersOf(outcomes, layer.index, layer.chainId) }),
      };
      if (stored === undefined && !hasBlob(paths, layer.digest)) {
        // Neither here: download and unpack at once (streamed-layer.ts), the blob stored first.
        listener?.layerStart?.(layer.digest, 'download', layer.size);
        const done = await downloadAndUnpack(paths, layer, await source.openBlob(layer), source.name, {
          ...unpackOptions,
          onProgress: undefined,
          onDownloaded: (n) => listener?.layerProgress?.(layer.digest, 'download', n),
        });
        stored = done.chained ? { dir: done.dir, chainId: layer.chainId } : { dir: done.dir };
        downloaded = true;
        unpacked = true;
      }
      // A stored layer needs its blob only to be kept: a fetch that discards does not download it again.
      if (!hasBlob(paths, layer.digest) && !(stored !== undefined && options.discardBlobs === true)) {
        listener?.layerStart?.(layer.digest, 'download', layer.size);
        const counter = new Counter((n) => listener?.layerProgress?.(layer.digest, 'download', n));
        const stream = (await source.openBlob(layer)).pipe(counter);
        await ingestBlob(paths, layer, stream, source.name);
        downloaded = true;
      }
      if (stored === undefined) stored = storedLayer(paths, layer.diffId, layer.chainId);
      if (stored === undefined) {
        listener?.layerStart?.(layer.digest, 'unpack', layer.size);
        const done = await unpackLayer(paths, layer, source.name, unpackOptions);
        stored = done.chained ? { dir: done.dir, chainId: layer.chainId } : { dir: done.dir };
        unpacked = true;
      }
      // Only now: the layer is whole and durable in the store (unpackLayer syncs before its rename).
      // A kill before this line leaves the blob, which the next fetch or gc finds as it is.
      if (options.discardBlobs === true) removeBlob(paths, layer.digest);
      outcome.resolve(stored);
      listener?.layerDone?.(layer.digest, { downloaded, unpacked, bytes: layer.size, seconds: (Date.now() - started) / 1000 });
    } catch (err) {
      outcome.reject(err);
      throw err;
    }
  });

  if (!hasBlob(paths, manifestDigest)) await putBlob(paths, manifestDigest, manifestBytes, source.name);
  const now = new Date().toISOString();
  return recordImage(paths, {
    id: configDesc.digest,
    names: [options.name],
    manifestDigest,
    manifestMediaType: manifest.mediaType,
    configDigest: configDesc.digest,
    platform: { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) },
    layers: layers.map((l, i) => {
      const chainId = outcomes[i]!.value?.chainId;
      return { digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: l.diffId, ...(chainId === undefined ? {} : { chainId }) };
    }),
    size: configDesc.size + layers.reduce((sum, l) => sum + l.size, 0),
    importTime: now,
    lastUsed: now,
  });
}

/**
 * Picks the store from the command line's options: etcd when endpoints are given, otherwise
 * the embedded store under `<dir>/kv`, so one machine needs no etcd. Each implementation is
 * loaded only when chosen: undici stays off the embedded path, koffi (flock) off the etcd one.
 */
import { join } from 'node:path';
import type { KvStore } from './kv-store.js';

export interface KvStoreOptions {
  /** etcd endpoints (comma-separated lists allowed); none: the embedded store. */
  endpoints?: readonly string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  /** Skiff's --dir: the embedded store lives in `<dir>/kv`. */
  dir: string;
}

export async function openKvStore(options: KvStoreOptions): Promise<KvStore> {
  const endpoints = (options.endpoints ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  if (endpoints.length === 0) {
    const { EmbeddedKvStore } = await import('./embedded-store.js');
    return EmbeddedKvStore.open(embeddedStoreDir(options.dir));
  }
  const { EtcdKvStore } = await import('./etcd-store.js');
  return new EtcdKvStore({ ...options, endpoints });
}

export function embeddedStoreDir(dir: string): string {
  return join(dir, 'kv');
}

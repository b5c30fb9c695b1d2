/** The overlay's key-value store: the contract, its errors, and the factory. */
export * from './kv-store.js';
export * from './kv-errors.js';
export { openKvStore, embeddedStoreDir, type KvStoreOptions } from './open-kv-store.js';

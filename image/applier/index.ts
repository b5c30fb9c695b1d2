/**
 * The layer applier: one uncompressed layer tar stream into an empty dir, in
 * overlayfs form, with full fidelity and no way out of the dir. See
 * apply-layer.ts for the flow and layer-writer.ts for the order of operations
 * and why it is safe.
 */
export { applyLayer, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, type ApplyOptions, type ApplyResult } from './apply-layer.js';

/**
 * The layer applier: one uncompressed layer tar stream into an empty dir, in
 * overlayfs form, or onto the lower layers in render mode, with full
 * fidelity and no way out of the dir. See apply-layer.ts for the flow,
 * layer-writer.ts for the order of operations and why it is safe,
 * render-whiteouts.ts for render mode, lower-layers.ts for hardlinks to
 * lower layers' files, and tree-removal.ts for removing trees without
 * following symlinks.
 */
export {
  applyLayer,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  type ApplyMode,
  type ApplyOptions,
  type ApplyResult,
} from './apply-layer.js';
export type { DevicePolicy } from './layer-writer.js';
export { LowersPending, type LowerDirs } from './lower-layers.js';
export { freeSpaceMargin } from './free-space.js';
export { removeTreeAt } from './tree-removal.js';

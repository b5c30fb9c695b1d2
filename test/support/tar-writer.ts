/** Tests build layers, hostile ones included, with the same tar writer `image export` uses. */
export * from '../../image/archive/tar-writer.js';

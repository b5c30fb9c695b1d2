/**
 * The chunk and buffer size along a fetch's stream pipes (socket → blob file,
 * blob → inflate → digest → tar reader). Every stage may hold a highWaterMark
 * of it, so it multiplies into peak RSS: 1 MiB cost ~30 MB on a big layer
 * (issue 16). Measured on the 54 MB bench layer, downloaded and unpacked at
 * once: peak RSS 85 MB with 256 KiB, 77 with 128 KiB, 75 with 64 KiB (a
 * socket read's size), with no time lost to the smaller writes and calls.
 */
export const STREAM_CHUNK = 64 * 1024;

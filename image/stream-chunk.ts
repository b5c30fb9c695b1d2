/**
 * The chunk and buffer size along a fetch's stream pipes (socket → blob file,
 * blob → inflate → digest → tar reader). Every stage may hold a highWaterMark
 * of it, so it multiplies into peak RSS: 1 MiB cost ~30 MB on a big layer
 * (issue 16), while 256 KiB still gives the applier few writes per file and
 * the inflater big enough calls.
 */
export const STREAM_CHUNK = 256 * 1024;

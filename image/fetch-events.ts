/**
 * What a fetch reports while it works. The image library only emits these;
 * the CLI decides how to show them (bars on a TTY, a line per layer, nothing).
 */
export type LayerPhase = 'download' | 'unpack';

export interface FetchListener {
  /** A layer starts a phase; `total` is its stored size in bytes. */
  layerStart?(digest: string, phase: LayerPhase, total: number): void;
  /** Bytes of the stored blob processed so far in this phase. */
  layerProgress?(digest: string, phase: LayerPhase, bytes: number): void;
  /** A layer is in the store: downloaded and/or unpacked now, or found there already. */
  layerDone?(digest: string, outcome: { downloaded: boolean; unpacked: boolean; bytes: number; seconds: number }): void;
}

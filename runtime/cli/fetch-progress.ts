/**
 * How `fetch` (and `run`, `prepare`) show progress: on a TTY a bar per layer
 * with bytes and rate, redrawn in place; otherwise one line per layer when it
 * is done; with --quiet nothing (for units and scripts). Always on stderr, so
 * stdout carries only the result (the image ID).
 */
import type { FetchListener, LayerPhase } from '../../image/fetch-events.js';

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function lineProgress(out: NodeJS.WritableStream = process.stderr): FetchListener {
  return {
    layerDone(digest, o) {
      const what = o.downloaded ? (o.unpacked ? 'fetched and unpacked' : 'fetched') : o.unpacked ? 'unpacked' : 'already in store';
      const rate = o.seconds > 0 && (o.downloaded || o.unpacked) ? ` in ${o.seconds.toFixed(2)} s (${formatBytes(o.bytes / o.seconds)}/s)` : '';
      out.write(`layer ${short(digest)}: ${what}, ${formatBytes(o.bytes)}${rate}\n`);
    },
  };
}

interface Bar {
  phase: LayerPhase;
  total: number;
  bytes: number;
  started: number;
  done: string | undefined;
}

export function ttyProgress(out: NodeJS.WriteStream = process.stderr): FetchListener {
  const bars = new Map<string, Bar>();
  let drawnLines = 0;
  let lastDraw = 0;
  const draw = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = Math.max(10, Math.min(40, (out.columns ?? 80) - 60));
    let text = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
    for (const [digest, bar] of bars) {
      const frac = bar.total > 0 ? Math.min(1, bar.bytes / bar.total) : 1;
      const filled = Math.round(frac * width);
      const secs = (now - bar.started) / 1000;
      const rate = secs > 0 ? `${formatBytes(bar.bytes / secs)}/s` : '';
      const status = bar.done ?? `${bar.phase.padEnd(8)} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${formatBytes(bar.bytes)}/${formatBytes(bar.total)} ${rate}`;
      text += `\x1b[2K${short(digest)} ${status}\n`;
    }
    drawnLines = bars.size;
    out.write(text);
  };
  return {
    layerStart(digest, phase, total) {
      bars.set(digest, { phase, total, bytes: 0, started: Date.now(), done: undefined });
      draw(true);
    },
    layerProgress(digest, phase, bytes) {
      const bar = bars.get(digest);
      if (bar === undefined) return;
      bar.phase = phase;
      bar.bytes = bytes;
      draw(false);
    },
    layerDone(digest, o) {
      const bar = bars.get(digest) ?? { phase: 'download' as const, total: o.bytes, bytes: o.bytes, started: Date.now(), done: undefined };
      bar.done = o.downloaded || o.unpacked ? `done     ${formatBytes(o.bytes)} in ${o.seconds.toFixed(2)} s` : 'already in store';
      bars.set(digest, bar);
      draw(true);
    },
  };
}

export function progressFor(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): FetchListener {
  if (quiet) return {};
  return stream.isTTY ? ttyProgress(stream) : lineProgress(stream);
}

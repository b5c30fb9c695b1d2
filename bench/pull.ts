/**
 * bench/pull: fetch + unpack of a ~100 MB image (one gzip layer of real files
 * from this host's /usr) from a local registry, by Skiff, by `skopeo copy` +
 * `umoci unpack`, and by `podman pull`, in the same run, on tmpfs and on disk.
 * Reports median and min seconds, MB/s of the compressed layer, and ratios.
 *
 * Run as root after `npm ci`: `node dist/bench/pull.js [runs]`. Needs the
 * peers from Debian (`bench/install-peers`); a missing peer is reported as
 * such, not skipped silently. Goals (issue 3): ≥ 5× podman pull's throughput,
 * ≥ 1.0× skopeo + umoci.
 */
import { join } from 'node:path';
import { largeImage } from '../test/support/large-image.js';
import { pushImage } from '../test/support/registry-push.js';
import { startRegistry } from '../test/support/registry-server.js';
import { skiffBin } from '../test/support/skiff-cli.js';
import { freshDir, has, markdownTable, median, min, podmanEnv, scratch, timeCommand } from './bench-util.js';

const runs = Number(process.argv[2] ?? 5);

interface Tool {
  name: string;
  available: boolean;
  /** Runs one pull into `dir` (fresh), returns ms or throws. */
  run(dir: string, ref: string): number;
}

function must(name: string, t: ReturnType<typeof timeCommand>): number {
  if (!t.ok) throw new Error(`${name} failed: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return t.ms;
}

const tools: Tool[] = [
  {
    name: 'skiff fetch',
    available: true,
    run: (dir, ref) => must('skiff', timeCommand(process.execPath, [skiffBin(), '--dir', join(dir, 'store'), '--insecure-options=http', 'fetch', '--quiet', `docker://${ref}`])),
  },
  {
    name: 'skopeo copy + umoci unpack',
    available: has('skopeo') && has('umoci'),
    run(dir, ref) {
      const copy = must('skopeo', timeCommand('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}/oci:big`]));
      return copy + must('umoci', timeCommand('umoci', ['unpack', '--image', `${dir}/oci:big`, `${dir}/bundle`]));
    },
  },
  {
    name: 'podman pull',
    available: has('podman'),
    run(dir, ref) {
      freshDir(dir, 'tmp');
      const env = podmanEnv(dir);
      const ms = must('podman', timeCommand('podman', ['pull', '-q', '--tls-verify=false', ref], env));
      timeCommand('podman', ['rmi', '-a', '-f'], env);
      return ms;
    },
  },
];

async function main(): Promise<void> {
  const registry = await startRegistry();
  try {
    const image = largeImage(100 * 1024 * 1024);
    const layer = image.layers[0];
    if (layer === undefined) throw new Error('no layer');
    await pushImage(registry, 'bench/big', 'latest', image);
    const ref = `${registry.host}/bench/big:latest`;
    const mb = layer.size / 1e6;
    console.log(`image: ${ref}, one gzip layer of ${mb.toFixed(1)} MB, ${runs} runs each\n`);

    const rows: string[][] = [];
    const medians = new Map<string, number>();
    // Tools take turns run by run, so load from elsewhere on the machine falls on all of them alike.
    for (const fs of ['tmpfs', 'disk'] as const) {
      const available = tools.filter((tool) => tool.available);
      for (const tool of tools.filter((x) => !x.available)) rows.push([fs, tool.name, 'not installed', '', '', '']);
      const times = new Map<string, number[]>(available.map((tool) => [tool.name, []]));
      const failed = new Map<string, string>();
      const space = scratch('pull', fs === 'tmpfs');
      try {
        for (let i = 0; i < runs; i++) {
          for (const tool of available) {
            if (failed.has(tool.name)) continue;
            try {
              times.get(tool.name)?.push(tool.run(freshDir(space.dir, `${tool.name.split(' ')[0]}-${i}`), ref));
            } catch (err) {
              failed.set(tool.name, (err as Error).message.slice(0, 160));
            }
          }
        }
      } finally {
        space.cleanup();
      }
      for (const tool of available) {
        const ts = times.get(tool.name) ?? [];
        const why = failed.get(tool.name);
        if (why !== undefined || ts.length === 0) {
          rows.push([fs, tool.name, `failed: ${why ?? 'no runs'}`, '', '', '']);
          continue;
        }
        const med = median(ts) / 1000;
        medians.set(`${fs}:${tool.name}`, med);
        rows.push([fs, tool.name, med.toFixed(2), (min(ts) / 1000).toFixed(2), (mb / med).toFixed(0), '']);
        console.log(`${fs} ${tool.name}: median ${med.toFixed(2)} s, min ${(min(ts) / 1000).toFixed(2)} s`);
      }
    }
    for (const row of rows) {
      const skiff = medians.get(`${row[0]}:skiff fetch`);
      const mine = medians.get(`${row[0]}:${row[1]}`);
      if (skiff !== undefined && mine !== undefined) row[5] = `${(mine / skiff).toFixed(2)}×`;
    }
    console.log(`\n${markdownTable(['fs', 'tool', 'median s', 'min s', 'MB/s (gzip)', 'skiff speed-up'], rows)}`);
  } finally {
    await registry.stop();
  }
}

await main();

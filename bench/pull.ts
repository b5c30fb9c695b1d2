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
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { largeImage } from '../test/support/large-image.js';
import { pushImage } from '../test/support/registry-push.js';
import { startRegistry } from '../test/support/registry-server.js';
import { skiffBin } from '../test/support/skiff-cli.js';
import { freshDir, has, markdownTable, median, min, scratch, timeCommand } from './bench-util.js';

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

function podmanEnv(dir: string): NodeJS.ProcessEnv {
  // Everything podman needs lives under `dir`: no change to /etc (reference/peers.md §4).
  const conf = join(dir, 'containers.conf');
  writeFileSync(conf, `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "${dir}/events.log"\ntmp_dir = "${dir}/tmp"\nstatic_dir = "${dir}/static"\nimage_copy_tmp_dir = "${dir}/tmp"\n`);
  const storage = join(dir, 'storage.conf');
  writeFileSync(storage, `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`);
  return { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage, TMPDIR: join(dir, 'tmp') };
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
      const env = podmanEnv(dir);
      freshDir(dir, 'tmp');
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
    for (const fs of ['tmpfs', 'disk'] as const) {
      for (const tool of tools) {
        if (!tool.available) {
          rows.push([fs, tool.name, 'not installed', '', '', '']);
          continue;
        }
        const space = scratch('pull', fs === 'tmpfs');
        try {
          const times: number[] = [];
          for (let i = 0; i < runs; i++) times.push(tool.run(freshDir(space.dir, `run${i}`), ref));
          const med = median(times) / 1000;
          medians.set(`${fs}:${tool.name}`, med);
          rows.push([fs, tool.name, med.toFixed(2), (min(times) / 1000).toFixed(2), (mb / med).toFixed(0), '']);
          console.log(`${fs} ${tool.name}: median ${med.toFixed(2)} s, min ${(min(times) / 1000).toFixed(2)} s`);
        } catch (err) {
          rows.push([fs, tool.name, `failed: ${(err as Error).message.slice(0, 120)}`, '', '', '']);
        } finally {
          space.cleanup();
        }
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

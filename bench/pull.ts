/**
 * bench/pull: fetch + unpack of a Debian 12 minbase image made by debootstrap
 * (one gzip layer, the 95 MB / ~8,000-file shape of issue 11 §3; built once
 * and cached, debootstrap-image.ts; where it cannot be built, ~100 MB of this
 * host's /usr files as one layer, and the output says so) from a
 * local registry, by Skiff, by `curl | tar -xzf` (the floor: no verification,
 * no store), by `skopeo copy` + `umoci unpack`, and by `podman pull`, in the
 * same run, on tmpfs and on disk. On disk every tool is followed by `sync`
 * and that time counted: Skiff makes its data durable before it says done,
 * the peers do not (issue 11 §3 compares them that way). Reports median and
 * min seconds, MB/s of the compressed layer, the peak RSS of each tool's
 * process (GNU time's %M) and the disk it left (du), and ratios;
 * `skiff fetch --discard-blobs` and `skiff fetch` with zlib instead of ISA-L
 * (SKIFF_INFLATE=zlib) get rows of their own.
 *
 * Run as root after `npm ci`: `node dist/bench/pull.js [runs] [tool] [tmpfs|disk]`. Needs the
 * peers from Debian (`bench/install-peers`); a missing peer is reported as
 * such, not skipped silently. Goals: ≥ 5× podman pull's throughput, ≥ 1.0×
 * skopeo + umoci (issue 3); peak RSS ≤ 60 MB, and with --discard-blobs a store
 * ≤ 1.1× podman's (issue 16); on disk ≥ 1.5× `curl | tar -xzf && sync` and
 * `podman pull && sync`, on tmpfs ≥ 2× `curl | tar -xzf` (issue 11 §3).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { largeImage } from '../test/support/large-image.js';
import { skiffLauncher } from '../test/support/skiff-cli.js';
import { debootstrapImage } from './debootstrap-image.js';
import { pushImage } from '../test/support/registry-push.js';
import { startRegistry } from '../test/support/registry-server.js';
import { freshDir, has, markdownTable, median, min, podmanEnv, scratch, shellJoin, timeCommand } from './bench-util.js';

const runs = Number(process.argv[2] ?? 5);
/** Optional: only the tools whose name contains this, and only this fs ('tmpfs' or 'disk'), for quick checks. */
const onlyTool = process.argv[3];
const onlyFs = process.argv[4];

interface Tool {
  name: string;
  available: boolean;
  /** Runs one pull into `dir` (fresh); returns ms and the peak RSS in KB of its biggest process, or throws. */
  run(dir: string, ref: string, blobUrl: string): Run;
}

interface Run {
  ms: number;
  peakKb: number;
}

/** `command` under GNU time: wall ms and the peak RSS (%M, KB) of the command's process. */
function timed(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const t = timeCommand('/usr/bin/time', ['-f', 'SKIFF-BENCH-PEAK %M', command, ...args], env);
  const peak = /SKIFF-BENCH-PEAK (\d+)/.exec(t.stderr);
  if (!t.ok || peak === null) throw new Error(`${name} failed: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return { ms: t.ms, peakKb: Number(peak[1]) };
}

/** Disk use in MB of what a tool left in `dir` (du, allocated blocks). */
function diskMb(dir: string): number {
  const out = spawnSync('du', ['-sk', dir], { encoding: 'utf8' }).stdout;
  return Number(out.split('\t')[0]) / 1024;
}

// Same environment for every tool: NODE_EXTRA_CA_CERTS alone adds ~50 ms and memory to every Node start.
const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
// The `skiff` command users run: the launcher, which starts Node on the CLI bundle as it would for them.
const skiffFetch = (dir: string, ref: string, extra: string[], more: NodeJS.ProcessEnv = {}) =>
  timed('skiff', skiffLauncher(), ['--dir', join(dir, 'store'), '--insecure-options=http', 'fetch', '--quiet', ...extra, `docker://${ref}`], { ...env, ...more });

const tools: Tool[] = [
  { name: 'skiff fetch', available: true, run: (dir, ref) => skiffFetch(dir, ref, []) },
  { name: 'skiff fetch --discard-blobs', available: true, run: (dir, ref) => skiffFetch(dir, ref, ['--discard-blobs']) },
  { name: 'skiff fetch (zlib, no ISA-L)', available: true, run: (dir, ref) => skiffFetch(dir, ref, [], { SKIFF_INFLATE: 'zlib' }) },
  {
    name: 'curl piped to tar -xzf',
    available: has('curl') && has('tar'),
    run(dir, _ref, blobUrl) {
      freshDir(dir, 'rootfs');
      const script = `set -o pipefail; curl -sSf ${shellJoin([blobUrl])} | tar -xzf - -C ${shellJoin([join(dir, 'rootfs')])}`;
      return timed('curl piped to tar', 'bash', ['-c', script]);
    },
  },
  {
    name: 'skopeo copy + umoci unpack',
    available: has('skopeo') && has('umoci'),
    run(dir, ref) {
      const copy = timed('skopeo', 'skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}/oci:big`]);
      const unpack = timed('umoci', 'umoci', ['unpack', '--image', `${dir}/oci:big`, `${dir}/bundle`]);
      return { ms: copy.ms + unpack.ms, peakKb: Math.max(copy.peakKb, unpack.peakKb) };
    },
  },
  {
    name: 'podman pull',
    available: has('podman'),
    run(dir, ref) {
      freshDir(dir, 'tmp');
      // podman's storage stays in `dir` until the disk use is measured; the next run starts fresh.
      return timed('podman', 'podman', ['pull', '-q', '--tls-verify=false', ref], podmanEnv(dir));
    },
  },
];

/** Removes one run's output (podman's store through podman first). */
function removeRun(dir: string, podman: boolean): void {
  if (podman) timeCommand('podman', ['rmi', '-a', '-f'], podmanEnv(dir));
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  try {
    const minbase = debootstrapImage();
    const image = 'image' in minbase ? minbase.image : largeImage(100 * 1024 * 1024);
    const shape =
      'image' in minbase
        ? `debootstrap minbase bookworm, ${minbase.files} files, a ${(minbase.tarBytes / 1e6).toFixed(0)} MB tar`
        : `NOT the minbase image (${minbase.why}): ~100 MB of this host's /usr files`;
    const layer = image.layers[0];
    if (layer === undefined) throw new Error('no layer');
    await pushImage(registry, 'bench/big', 'latest', image);
    const ref = `${registry.host}/bench/big:latest`;
    const blobUrl = `${registry.url}/v2/bench/big/blobs/${layer.digest}`;
    const mb = layer.size / 1e6;
    console.log(`image: ${ref} (${shape}), one gzip layer of ${mb.toFixed(1)} MB, ${runs} runs each; ${spawnSync('uptime', { encoding: 'utf8' }).stdout.trim()}\n`);

    const rows: string[][] = [];
    const medians = new Map<string, number>();
    const blank = ['', '', '', '', '', '', ''];
    // Tools take turns run by run, so load from elsewhere on the machine falls on all of them alike.
    for (const fs of ['tmpfs', 'disk'] as const) {
      if (onlyFs !== undefined && onlyFs !== fs) continue;
      const available = tools.filter((tool) => tool.available && (onlyTool === undefined || tool.name.includes(onlyTool)));
      for (const tool of tools.filter((x) => !x.available)) rows.push([fs, tool.name, 'not installed', ...blank.slice(3)]);
      const times = new Map<string, number[]>(available.map((tool) => [tool.name, []]));
      const peaks = new Map<string, number[]>(available.map((tool) => [tool.name, []]));
      const disks = new Map<string, number[]>(available.map((tool) => [tool.name, []]));
      const failed = new Map<string, string>();
      const space = scratch('pull', fs === 'tmpfs');
      // On disk, every run's output stays until all runs are done: ext4 scans past recently deleted
      // inodes when it allocates new ones (ialloc.c recently_deleted()), so a run that follows the
      // removal of the last run's ~7,000 files spent seconds of system time in the allocator
      // (measured: 8.2 s instead of 3.4, 5.1 s of it sys), whichever tool it was.
      const kept: { dir: string; podman: boolean }[] = [];
      try {
        for (let i = 0; i < runs; i++) {
          for (const tool of available) {
            if (failed.has(tool.name)) continue;
            try {
              const dir = freshDir(space.dir, `${tool.name.replace(/\W+/g, '-')}-${i}`);
              const r = tool.run(dir, ref, blobUrl);
              // On disk, durability is part of the job: what the tool left unsynced is synced and timed.
              const synced = fs === 'disk' ? timeCommand('sync', []).ms : 0;
              times.get(tool.name)?.push(r.ms + synced);
              peaks.get(tool.name)?.push(r.peakKb / 1024);
              disks.get(tool.name)?.push(diskMb(dir));
              if (fs === 'disk') kept.push({ dir, podman: tool.name === 'podman pull' });
              else removeRun(dir, tool.name === 'podman pull');
            } catch (err) {
              failed.set(tool.name, (err as Error).message.slice(0, 160));
            }
          }
        }
      } finally {
        for (const run of kept) removeRun(run.dir, run.podman);
        space.cleanup();
      }
      for (const tool of available) {
        const ts = times.get(tool.name) ?? [];
        const why = failed.get(tool.name);
        if (why !== undefined || ts.length === 0) {
          rows.push([fs, tool.name, `failed: ${why ?? 'no runs'}`, ...blank.slice(3)]);
          continue;
        }
        const med = median(ts) / 1000;
        medians.set(`${fs}:${tool.name}`, med);
        const peak = median(peaks.get(tool.name) ?? []);
        const disk = median(disks.get(tool.name) ?? []);
        rows.push([fs, tool.name, med.toFixed(2), (min(ts) / 1000).toFixed(2), (mb / med).toFixed(0), peak.toFixed(0), disk.toFixed(0), '']);
        console.log(`${fs} ${tool.name}: median ${med.toFixed(2)} s, min ${(min(ts) / 1000).toFixed(2)} s, peak RSS ${peak.toFixed(0)} MB, disk ${disk.toFixed(0)} MB`);
      }
    }
    for (const row of rows) {
      const skiff = medians.get(`${row[0]}:skiff fetch`);
      const mine = medians.get(`${row[0]}:${row[1]}`);
      if (skiff !== undefined && mine !== undefined) row[7] = `${(mine / skiff).toFixed(2)}×`;
    }
    console.log(`after: ${spawnSync('uptime', { encoding: 'utf8' }).stdout.trim()}`);
    console.log(`\n${markdownTable(['fs', 'tool', 'median s', 'min s', 'MB/s (gzip)', 'peak RSS MB', 'disk MB', 'skiff speed-up'], rows)}`);
  } finally {
    await registry.stop();
  }
}

await main();

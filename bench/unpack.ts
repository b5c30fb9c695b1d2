/**
 * Micro-bench: Skiff's layer applier against GNU tar, extracting the same
 * layer onto tmpfs (DESIGN.md: unpack time on ext4 is too noisy to compare).
 *
 *   node dist/bench/unpack.js [--rounds 5] [--gzip] [--size 8g] [DIR…]
 *
 * The layer is a tar of host dirs (default: the /usr dirs of
 * reference/dependency-probe.md §3), made with GNU tar on a private tmpfs
 * (bench-util's scratch(); --size takes M or G); rounds alternate GNU `tar -xf` (a child
 * process, as root: owners, modes and times preserved) and `applyLayer()`
 * (in this process, reading the tar with 1 MiB reads). With --gzip both read
 * a .tar.gz instead (`tar -xzf` vs `decompressedLayerStream` + applyLayer).
 * Each output tree is removed between rounds, outside the timing. The tmpfs
 * is unmounted and the temp dir removed at the end, also on failure or ^C.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../image/applier/index.js';
import { decompressedLayerStream } from '../image/applier/decompress.js';
import { OCI_LAYER, OCI_LAYER_GZIP } from '../image/media-types.js';
import { median, min, scratch } from './bench-util.js';

const DEFAULT_SOURCES = ['usr/bin', 'usr/sbin', 'usr/include', 'usr/libexec', 'usr/share/perl', 'usr/share/doc'];

interface Args {
  rounds: number;
  gzip: boolean;
  size: string;
  sources: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: 5, gzip: false, size: '8g', sources: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--rounds') args.rounds = Number(argv[++i]);
    else if (a === '--gzip') args.gzip = true;
    else if (a === '--size') args.size = String(argv[++i]);
    else args.sources.push(a.replace(/^\/+/, ''));
  }
  if (!/^\d+[mg]$/i.test(args.size)) throw new Error(`--size ${args.size}: want a size like 512m or 8g`);
  if (args.sources.length === 0) args.sources = DEFAULT_SOURCES.filter((d) => existsSync(`/${d}`));
  return args;
}

function run(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** `8g` or `512m` in MiB. */
const sizeMb = (size: string): number => Number(size.slice(0, -1)) * (/g$/i.test(size) ? 1024 : 1);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { dir: work, cleanup } = scratch('unpack', true, sizeMb(args.size));
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const tarPath = join(work, args.gzip ? 'layer.tar.gz' : 'layer.tar');
    const plain = join(work, 'layer.tar');
    execFileSync('tar', ['--xattrs', '--numeric-owner', '-cf', plain, '-C', '/', ...args.sources]);
    if (args.gzip) execFileSync('sh', ['-c', `gzip -c "${plain}" > "${tarPath}" && rm "${plain}"`]);
    const size = statSync(tarPath).size;
    const out = join(work, 'out');
    const gnu: number[] = [];
    const skiff: number[] = [];
    let result = { entries: 0, bytes: 0 };
    for (let round = 0; round < args.rounds; round++) {
      mkdirSync(out);
      gnu.push(await timed(() => run('tar', ['--xattrs', args.gzip ? '-xzf' : '-xf', tarPath, '-C', out])));
      rmSync(out, { recursive: true });
      mkdirSync(out);
      skiff.push(
        await timed(async () => {
          const stored = createReadStream(tarPath, { highWaterMark: 1 << 20 });
          result = await applyLayer(args.gzip ? decompressedLayerStream(stored, OCI_LAYER_GZIP) : decompressedLayerStream(stored, OCI_LAYER), out);
        }),
      );
      rmSync(out, { recursive: true });
    }
    const mb = size / 1e6;
    const line = (name: string, xs: number[]): string =>
      `| ${name.padEnd(22)} | ${min(xs).toFixed(2)} s | ${median(xs).toFixed(2)} s | ${(mb / min(xs)).toFixed(0)} MB/s | ${(mb / median(xs)).toFixed(0)} MB/s |`;
    console.log(`layer: ${args.sources.join(' ')}: ${mb.toFixed(1)} MB ${args.gzip ? 'gzip' : 'tar'}, ${result.entries} entries, ${(result.bytes / 1e6).toFixed(1)} MB of file data; ${args.rounds} rounds on tmpfs`);
    console.log('| extractor              | min    | median | best       | median     |');
    console.log('|---|---|---|---|---|');
    console.log(line(args.gzip ? 'GNU tar -xzf' : 'GNU tar -xf', gnu));
    console.log(line('skiff applyLayer', skiff));
    console.log(`ratio skiff/GNU (median throughput): ${(median(gnu) / median(skiff)).toFixed(2)}x`);
    console.log(`rounds (s): GNU ${gnu.map((x) => x.toFixed(2)).join(' ')}; skiff ${skiff.map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    cleanup();
  }
}

await main();

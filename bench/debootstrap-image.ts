/**
 * The image of issue 11 §3's fetch measurements: a Debian 12 minbase root made
 * by debootstrap (the way the acceptance images are made), as one gzip layer,
 * like the 95 MB layer of reference/peers.md. The root's tar is built once and
 * kept in SKIFF_BENCH_CACHE (default /var/cache/skiff-bench), so later runs
 * only gzip it; debootstrap needs root and Debian's archive (the mirror of
 * /etc/apt/sources.list.d/debian.sources, else deb.debian.org).
 *
 * /dev, /proc and /sys are left empty as in Docker's debian images (a layer
 * with device nodes is refused by Skiff). debootstrap's .debs stay in
 * /var/cache/apt/archives, as in issue 11's measured image: ~6,000 files and
 * ~2,000 dirs, a ~196 MB tar, ~93 MB gzip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, buildLayer, type BuiltImage } from '../test/support/oci-image.js';

const SUITE = 'bookworm';

function cacheDir(): string {
  return process.env['SKIFF_BENCH_CACHE'] ?? '/var/cache/skiff-bench';
}

function mirror(): string {
  try {
    const sources = readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
    const uri = /^URIs:\s*(\S+)/m.exec(sources)?.[1];
    if (uri !== undefined) return uri;
  } catch {
    // No deb822 sources: the default mirror.
  }
  return 'http://deb.debian.org/debian';
}

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} failed: ${r.error?.message ?? tail}`);
  }
}

/**
 * debootstrap mounts /proc and /sys in the root it builds, and a failed one
 * may leave them: never remove through a live mount (a recursive rm would
 * walk into the host's /sys). Mounts below `dir` are detached first, deepest
 * first, and rm stays on the build's own filesystem.
 */
function removeBuild(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((target) => target.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const target of mounts) spawnSync('umount', ['-l', target]);
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}

/** The cached tar of a minbase root, made on first use (a few minutes). */
function minbaseTar(): string {
  const tar = join(cacheDir(), `minbase-${SUITE}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(cacheDir(), { recursive: true });
  const build = mkdtempSync(join(cacheDir(), 'build-'));
  const root = join(build, 'root');
  try {
    console.log(`building the bench image: debootstrap --variant=minbase ${SUITE} from ${mirror()} (once; cached in ${tar})`);
    run('debootstrap', ['--variant=minbase', SUITE, root, mirror()]);
    run('tar', [
      '--numeric-owner', '--xattrs', '--sort=name', '-C', root,
      '--exclude=./dev/*', '--exclude=./proc/*', '--exclude=./sys/*',
      '-cf', join(build, 'root.tar'), '.',
    ]);
    renameSync(join(build, 'root.tar'), tar);
    return tar;
  } finally {
    removeBuild(build);
  }
}

/** The minbase image, or null with the reason when it cannot be built here. */
export function debootstrapImage(): { image: BuiltImage; files: number; tarBytes: number } | { why: string } {
  let tar: Buffer;
  try {
    tar = readFileSync(minbaseTar());
  } catch (err) {
    return { why: (err as Error).message };
  }
  const listing = spawnSync('tar', ['-tf', '-'], { input: tar, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const files = listing.stdout.split('\n').filter((line) => line !== '' && !line.endsWith('/')).length;
  const image = buildImage({
    layers: [buildLayer(tar)],
    config: { Cmd: ['/bin/bash'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  });
  return { image, files, tarBytes: tar.length };
}

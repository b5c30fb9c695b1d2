/**
 * The test images: Debian's busybox-static plus our probe (test/fixtures/probe/)
 * as `/probe`, built in code, in OCI and Docker v2s2 form, as a multi-platform
 * index (linux/amd64 + linux/arm64) and as an OCI layout dir.
 *
 * Every image carries `/etc/skiff-platform` naming its platform, so a test can
 * tell which image of an index was chosen. The arm64 image holds the same
 * amd64 binaries: it exists to be selected or not, never to run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildImage, buildIndex, buildLayer, type Blob, type BuiltImage, type ImageFormat, type Platform } from './oci-image.js';
import { writeOciLayout } from './oci-layout.js';
import { probeBinary } from './probe-binary.js';
import { pushImage, pushIndex, type RegistryTarget } from './registry-push.js';
import type { TarEntry } from './tar-writer.js';

const BUSYBOX = '/bin/busybox';
export const PROBE_REPO = 'skiff/probe';
const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };

/** Users and groups the pod tests resolve by name (--user skiff, --group wheel). */
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'skiff:x:1000:1000:Skiff test user:/home/skiff:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
export const GROUP = ['root:x:0:', 'daemon:x:1:', 'wheel:x:10:skiff', 'skiff:x:1000:', 'nogroup:x:65534:', ''].join('\n');

export const PROBE_CONFIG = {
  Cmd: ['/probe', 'info'],
  Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'SKIFF_FIXTURE=probe'],
  WorkingDir: '/',
};

function busyboxApplets(): string[] {
  return execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line !== '' && line !== 'bin/busybox');
}

/** The rootfs as tar entries, parents before children. */
export async function probeRootfs(platform: Platform = AMD64): Promise<TarEntry[]> {
  const dir = (path: string, mode = 0o755, uid = 0, gid = 0): TarEntry => ({ path, type: 'dir', mode, uid, gid });
  const entries: TarEntry[] = [
    dir('bin/'), dir('sbin/'), dir('usr/'), dir('usr/bin/'), dir('usr/sbin/'), dir('etc/'), dir('dev/'),
    dir('proc/', 0o555), dir('sys/', 0o555), dir('tmp/', 0o1777), dir('root/', 0o700), dir('home/'),
    dir('home/skiff/', 0o755, 1000, 1000), dir('var/'), dir('var/tmp/', 0o1777), dir('run/'),
    { path: 'bin/busybox', type: 'file', mode: 0o755, content: readFileSync(BUSYBOX) },
    { path: 'probe', type: 'file', mode: 0o755, content: readFileSync(await probeBinary()) },
    { path: 'etc/passwd', type: 'file', content: PASSWD },
    { path: 'etc/group', type: 'file', content: GROUP },
    { path: 'etc/skiff-platform', type: 'file', content: `${platform.os}/${platform.architecture}\n` },
  ];
  for (const applet of busyboxApplets()) {
    entries.push({ path: applet, type: 'symlink', linkname: '/bin/busybox' });
  }
  return entries;
}

async function probeImage(format: ImageFormat = 'oci', platform: Platform = AMD64): Promise<BuiltImage> {
  const layer = buildLayer(await probeRootfs(platform));
  return buildImage({ layers: [layer], config: PROBE_CONFIG, platform, format });
}

export interface PublishedFixtures {
  /** `docker://` references, e.g. `docker://127.0.0.1:5000/skiff/probe:oci`. */
  refs: { oci: string; docker: string; index: string };
  oci: BuiltImage;
  docker: BuiltImage;
  index: { blob: Blob; images: BuiltImage[] };
}

let built: Promise<Omit<PublishedFixtures, 'refs'>> | undefined;

/** Builds the fixture images once per process. */
export function fixtureImages(): Promise<Omit<PublishedFixtures, 'refs'>> {
  built ??= (async () => {
    const oci = await probeImage('oci', AMD64);
    const docker = await probeImage('docker', AMD64);
    const arm = await probeImage('oci', ARM64);
    const images = [oci, arm];
    return { oci, docker, index: { blob: buildIndex(images), images } };
  })();
  return built;
}

/** Pushes the probe image as `:oci` (OCI manifest), `:v2s2` (Docker) and `:multi` (OCI index). */
export async function publishFixtures(
  registry: RegistryTarget & { host: string },
  repo: string = PROBE_REPO,
): Promise<PublishedFixtures> {
  const images = await fixtureImages();
  await pushImage(registry, repo, 'oci', images.oci);
  await pushImage(registry, repo, 'v2s2', images.docker);
  await pushIndex(registry, repo, 'multi', images.index.blob, images.index.images);
  const base = `docker://${registry.host}/${repo}`;
  return { ...images, refs: { oci: `${base}:oci`, docker: `${base}:v2s2`, index: `${base}:multi` } };
}

/** Writes the fixtures as an OCI layout: refs `oci` (one image) and `multi` (the index). */
export async function writeFixtureLayout(dir: string): Promise<void> {
  const images = await fixtureImages();
  await writeOciLayout(dir, [
    { ref: 'oci', image: images.oci },
    { ref: 'multi', index: images.index },
  ]);
}

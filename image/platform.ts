/**
 * Platform selection from an index (`--platform os/arch[/variant]`, default
 * the host's), with containerd's normalisation so that the names people and
 * build tools write agree: x86_64 → amd64, aarch64 → arm64, arm64's variant
 * defaults to v8 (so "linux/arm64" and "linux/arm64/v8" are the same), arm's
 * to v7, amd64's v1 is no variant. A 32-bit arm host runs lower variants too
 * (v7 runs v6 and v5), preferring the highest; every other platform must
 * match exactly.
 */
import { arch as nodeArch, platform as nodePlatform } from 'node:os';
import { ImageError, UsageError } from '../runtime/errors.js';
import { ociArch } from '../runtime/oci-arch.js';
import { isManifestMediaType, type Descriptor, type ImageIndex, type Platform } from './manifest.js';

const KNOWN_OS = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'android', 'plan9'];

export interface NormalPlatform {
  os: string;
  architecture: string;
  variant: string | undefined;
}

export function normalizePlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): NormalPlatform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant === undefined || p.variant === '' ? undefined : p.variant.toLowerCase();
  switch (architecture) {
    case 'i386':
    case 'i686':
      architecture = '386';
      variant = undefined;
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === undefined || variant === '8' || variant === 'v8.0') variant = 'v8';
      else if (/^[0-9]/.test(variant)) variant = `v${variant}`;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === undefined) variant = 'v7';
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { os, architecture, variant };
}

export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return `${p.os}/${p.architecture}${p.variant === undefined || p.variant === '' ? '' : `/${p.variant}`}`;
}

/** The platform this process runs on, in OCI's names. */
export function hostPlatform(): NormalPlatform {
  const architecture = ociArch(nodeArch());
  let variant: string | undefined;
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
    variant = typeof armVersion === 'string' || typeof armVersion === 'number' ? `v${armVersion}` : undefined;
  }
  return normalizePlatform({ os: nodePlatform(), architecture, variant });
}

/**
 * `--platform`: 'os/arch[/variant]', or one word: an OS (with the host's
 * architecture) or an architecture (on linux).
 */
export function parsePlatform(spec: string): NormalPlatform {
  const parts = spec.split('/');
  const ok = parts.length >= 1 && parts.length <= 3 && parts.every((p) => /^[A-Za-z0-9_.-]+$/.test(p));
  if (!ok) {
    throw new UsageError(`invalid platform "${spec}"`, { input: spec, hint: 'write OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7' });
  }
  if (parts.length === 1) {
    const word = parts[0]!.toLowerCase();
    return KNOWN_OS.includes(word)
      ? normalizePlatform({ os: word, architecture: hostPlatform().architecture })
      : normalizePlatform({ os: 'linux', architecture: word });
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

/** How well `have` serves `want`: undefined if not at all, higher is better. */
function score(want: NormalPlatform, have: NormalPlatform): number | undefined {
  if (want.os !== have.os || want.architecture !== have.architecture) return undefined;
  if (want.variant === have.variant) return 100;
  if (want.architecture === 'arm' && want.variant !== undefined && have.variant !== undefined) {
    const w = Number(want.variant.slice(1));
    const h = Number(have.variant.slice(1));
    if (Number.isInteger(w) && Number.isInteger(h) && h < w && h >= 5) return h;
  }
  return undefined;
}

/**
 * Picks the image manifest for `want` (default: the host) from an index.
 * Entries that are not image manifests (nested indexes, attestations without a
 * platform) are never chosen. Ties keep the index's order.
 */
export function selectPlatform(
  index: ImageIndex,
  want: Pick<Platform, 'os' | 'architecture' | 'variant'> | undefined,
  where: string,
): Descriptor {
  const target = want === undefined ? hostPlatform() : normalizePlatform(want);
  let best: { descriptor: Descriptor; score: number } | undefined;
  for (const descriptor of index.manifests) {
    if (!isManifestMediaType(descriptor.mediaType) || descriptor.platform === undefined) continue;
    const s = score(target, normalizePlatform(descriptor.platform));
    if (s !== undefined && (best === undefined || s > best.score)) best = { descriptor, score: s };
  }
  if (best !== undefined) return best.descriptor;
  const available = index.manifests
    .filter((d) => isManifestMediaType(d.mediaType) && d.platform !== undefined)
    .map((d) => formatPlatform(normalizePlatform(d.platform!)));
  throw new ImageError(
    `${where} has no image for ${formatPlatform(target)}; available: ${available.length === 0 ? 'none' : [...new Set(available)].join(', ')}`,
    { input: where, hint: available.length === 0 ? 'the index names no platform images' : 'choose one with --platform' },
  );
}

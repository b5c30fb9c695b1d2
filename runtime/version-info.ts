/**
 * What `skiff version` reports: Skiff's and Node's versions, the stage1 binary
 * (its version and build, as it reports them itself) and the host features
 * pods depend on. Loads nothing beyond node:fs and node:os, so it stays within
 * a plain Node start-up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { platform, release } from 'node:os';
import { join } from 'node:path';
import { detectHostFeatures, type HostFeatures } from './host-features.js';
import { packageRoot, stage1Path } from './install-paths.js';
import { ociArch } from './oci-arch.js';

export interface VersionInfo {
  skiff: string;
  node: string;
  os: string;
  arch: string;
  kernel: string;
  /** version: what `skiff-stage1 --version` says (package version and build), null when the binary holds no such line. */
  stage1: { path: string; present: boolean; version: string | null };
  features: HostFeatures;
}

export function skiffVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}


/**
 * stage1's own word on its version: the line `skiff-stage1 --version` prints, read out of the
 * binary, where main.c keeps it as one NUL-ended literal. Reading ~0.5 MB costs under a
 * millisecond; running it would load node:child_process (~20 ms, most of `skiff version`).
 * test/unit/cli-frame.test.ts checks that both give the same line.
 */
function stage1Version(path: string): string | null {
  try {
    const bytes = readFileSync(path).toString('latin1');
    return /skiff-stage1 (\d+\.\d+\.\d+[^\n\0]*)\n\0/.exec(bytes)?.[1] ?? null;
  } catch {
    return null;
  }
}

export function versionInfo(): VersionInfo {
  const stage1 = stage1Path();
  return {
    skiff: skiffVersion(),
    node: process.version,
    os: platform(),
    arch: ociArch(),
    kernel: release(),
    stage1: { path: stage1, present: existsSync(stage1), version: existsSync(stage1) ? stage1Version(stage1) : null },
    features: detectHostFeatures('/', release()),
  };
}

/**
 * What `skiff version` reports: Skiff's and Node's versions, the stage1 binary
 * (its version and build, as it reports them itself) and the host features
 * pods depend on. Loads nothing beyond node:fs, node:os and node:child_process,
 * so it stays within a plain Node start-up.
 */
import { execFileSync } from 'node:child_process';
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
  /** version: what `skiff-stage1 --version` says (package version and build), null when it cannot run. */
  stage1: { path: string; present: boolean; version: string | null };
  features: HostFeatures;
}

export function skiffVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}


/** stage1's own word on its version: a static binary, ~1 ms to ask. */
function stage1Version(path: string): string | null {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return /^skiff-stage1 (.+)$/m.exec(out)?.[1] ?? null;
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

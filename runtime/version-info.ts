/**
 * What `skiff version` reports: Skiff's and Node's versions, the stage1 binary
 * and the host features pods depend on. Loads nothing beyond node:fs and
 * node:os, so it stays within a plain Node start-up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { join } from 'node:path';
import { detectHostFeatures, type HostFeatures } from './host-features.js';
import { packageRoot, stage1Path } from './install-paths.js';

export interface VersionInfo {
  skiff: string;
  node: string;
  os: string;
  arch: string;
  kernel: string;
  stage1: { path: string; present: boolean };
  features: HostFeatures;
}

export function skiffVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Node's arch names differ from OCI's for a few platforms (x64 → amd64). */
export function ociArch(nodeArch: string = arch()): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64' };
  return map[nodeArch] ?? nodeArch;
}

export function versionInfo(): VersionInfo {
  const stage1 = stage1Path();
  return {
    skiff: skiffVersion(),
    node: process.version,
    os: platform(),
    arch: ociArch(),
    kernel: release(),
    stage1: { path: stage1, present: existsSync(stage1) },
    features: detectHostFeatures('/', release()),
  };
}

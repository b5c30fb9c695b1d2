/**
 * `skiff version`. The launcher prints the same itself (native/launcher/version-query.c)
 * while its Node is the one it was built with: change both, test/integration/launcher-queries.test.ts
 * compares them.
 */
import { versionInfo, type VersionInfo } from '../../version-info.js';
import type { GlobalOptions } from '../global-options.js';
import { printResult } from '../output.js';

/** A cgroup hierarchy is usable for pods when it carries one of the limits pods set. */
const POD_CONTROLLERS = ['memory', 'cpu', 'pids'];

function flag(on: boolean, name: string): string {
  return `${on ? '+' : '-'}${name}`;
}

export function renderVersion(v: VersionInfo): string {
  const { cgroup } = v.features;
  const v1 = Object.keys(cgroup.v1).filter((c) => !c.startsWith('name='));
  const v2 = cgroup.v2 === null ? 'none' : `${cgroup.v2.mount} [${cgroup.v2.controllers.join(',') || 'no controllers'}]`;
  return [
    `skiff Version: ${v.skiff}`,
    `Node Version: ${v.node}`,
    `OS/Arch: ${v.os}/${v.arch}`,
    `Kernel: ${v.kernel}`,
    `Stage1: ${v.stage1.path}${v.stage1.present ? '' : ' (missing: run npm ci or npm run build)'}`,
    `Stage1 Version: ${v.stage1.version ?? 'unknown (no version line in it: rebuild with npm run build)'}`,
    `Features: ${[
      flag(v.features.overlayfs !== 'missing', 'OVERLAYFS'),
      flag(v1.length > 0, 'CGROUP_V1'),
      flag(cgroup.v2 !== null && POD_CONTROLLERS.some((c) => cgroup.v2?.controllers.includes(c)), 'CGROUP_V2'),
      flag(v.features.userNamespaces, 'USERNS'),
    ].join(' ')}`,
    `cgroups: ${cgroup.mode}; v1 [${v1.join(',') || 'none'}]; v2 ${v2}`,
  ].join('\n');
}

export default function version(global: GlobalOptions): void {
  printResult(global.format, versionInfo(), renderVersion);
}

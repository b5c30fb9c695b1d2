/**
 * Tests that need something of the host (root, v1 cgroup hierarchies, a zstd
 * command) are defined with `testWhen(...conditions)`: when a condition does
 * not hold, the test is an ava skip whose title names what it needs, never an
 * early return that reads as a pass. Each skip is also recorded (one JSON line
 * in $SKIFF_SKIP_LOG, when set) so CI can check it: .ci/run re-checks every
 * recorded condition with its own shell test (.ci/host-condition) and fails
 * when the host meets it after all, or when ava skipped a test that recorded
 * nothing (a bare test.skip). README "Tests" says the rule.
 */
import test, { type Implementation } from 'ava';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';

/** What each condition means; .ci/host-condition tests the same ids its own way. */
export const HOST_CONDITIONS = {
  root: 'running as root',
  'cgroup-v1': 'v1 cgroup hierarchies for memory, cpu and pids',
  cgroups: 'a cgroup filesystem (v1 or v2) mounted',
  'no-cgroups': 'no cgroup filesystem mounted at all',
  'zstd-cli': 'a zstd command at /usr/bin/zstd or /bin/zstd',
  'cgroup-v2': 'a pure cgroup v2 hierarchy whose root offers cpu, memory and pids (the VM tier has one)',
  'vagrant-cli': 'a vagrant command at /usr/bin/vagrant (Debian\'s vagrant package)',
  'shellcheck-cli': 'a shellcheck command at /usr/bin/shellcheck (Debian\'s shellcheck package)',
  'socket-activate-cli': 'systemd-socket-activate at /usr/bin/systemd-socket-activate (Debian\'s systemd package)',
  isal: 'ISA-L gzip inflate: native/build/libskiff-gunzip.so, built where libisal-dev is installed (Debian\'s libisal-dev)',
} as const;

export type HostConditionId = keyof typeof HOST_CONDITIONS;

/** The super options (after " - fstype source ") of every mount of `fstype`. */
function superOptions(fstype: string): string[][] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' - ')[1]?.split(' ') ?? [])
    .filter(([type]) => type === fstype)
    .map(([, , options]) => (options ?? '').split(','));
}

const CHECKS: Record<HostConditionId, () => boolean> = {
  root: () => process.getuid?.() === 0,
  'cgroup-v1': () => ['memory', 'cpu', 'pids'].every((c) => superOptions('cgroup').some((o) => o.includes(c))),
  cgroups: () => superOptions('cgroup').length > 0 || superOptions('cgroup2').length > 0,
  'no-cgroups': () => !CHECKS.cgroups(),
  'zstd-cli': () => ['/usr/bin/zstd', '/bin/zstd'].some((p) => existsSync(p)),
  'cgroup-v2': () => {
    const v2 = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
    const at = v2?.split(' ')[4];
    if (at === undefined || superOptions('cgroup').length > 0) return false;
    const offered = readFileSync(`${at}/cgroup.controllers`, 'utf8').split(/\s+/);
    return ['cpu', 'memory', 'pids'].every((c) => offered.includes(c));
  },
  'vagrant-cli': () => existsSync('/usr/bin/vagrant'),
  isal: () => existsSync(join(packageRoot(), 'native', 'build', 'libskiff-gunzip.so')),
  'shellcheck-cli': () => existsSync('/usr/bin/shellcheck'),
  'socket-activate-cli': () => existsSync('/usr/bin/systemd-socket-activate'),
};

export function hostMeets(id: HostConditionId): boolean {
  return CHECKS[id]();
}

/** `test` when the host meets every condition, else a recorded, visible skip naming the unmet ones. */
export function testWhen(...conditions: HostConditionId[]): (title: string, implementation: Implementation<[]>) => void {
  const unmet = conditions.filter((id) => !hostMeets(id));
  if (unmet.length === 0) return (title, implementation) => test(title, implementation);
  return (title, implementation) => {
    const log = process.env['SKIFF_SKIP_LOG'];
    if (log !== undefined && log !== '') appendFileSync(log, `${JSON.stringify({ title, conditions: unmet })}\n`);
    test.skip(`${title} [skipped: needs ${unmet.map((id) => HOST_CONDITIONS[id]).join(', ')}]`, implementation);
  };
}

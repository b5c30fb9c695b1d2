/**
 * Removing a pod that no longer runs: undo what stage1 would have undone if it
 * had not been killed (its host-down commands, cgroups, the netns bind mount, IPAM files, all
 * listed in the pod's stage1 config), then delete the pod dir. Every step is
 * idempotent ("already gone" is success), so rm and gc can be repeated.
 */
import { readFileSync, rmSync, unlinkSync } from 'node:fs';
import { InvalidStateError } from '../errors.js';
import { unescapeMountPath } from '../host-features.js';
import { valuesOf } from './nul-pairs.js';
import { removePodCgroup } from './pod-cgroup.js';
import { readStage1Config } from './stage1-config.js';
import { releasePodAddresses } from './pod-net-info.js';
import { runHostDowns } from './pod-host-hooks.js';
import { releasePortClaims } from '../../network/port-forward.js';
import { join } from 'node:path';
import { releaseUsernsClaims } from './private-users.js';

function mountedUnder(dir: string): string[] {
  const prefix = `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .flatMap((l) => {
      const mountPoint = l.split(' ')[4];
      return mountPoint === undefined ? [] : [unescapeMountPath(mountPoint)];
    })
    .filter((mp) => mp === dir || mp.startsWith(prefix));
}

function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EINVAL';
}

export async function teardownPodLeftovers(podDir: string): Promise<void> {
  const config = readStage1Config(podDir);
  const uuid = valuesOf(config, 'uuid')[0];
  // First, as stage1 does; a failed down (state already gone) must not keep the pod around.
  await runHostDowns(podDir, config);
  const claims = valuesOf(config, 'port-claim');
  if (claims.length > 0 && uuid !== undefined) {
    // A forwarding rule a down could not match (net-info.json lost) is still found by its comment.
    const { removePodRules } = await import('../../network/port-forward-host.js');
    await removePodRules(uuid).catch(() => undefined);
  }
  // After the rules, as stage1 does: a port is free only once its rules are gone.
  releasePortClaims(uuid ?? '', claims);
  // Idempotent, waits out a dying cgroup, names what still runs.
  await removePodCgroup(valuesOf(config, 'cgroup-cleanup'));
  for (const path of valuesOf(config, 'netns-cleanup')) {
    const { unmountDetached } = await import('../../native/bindings/mount.js');
    unmountDetached(path);
    try {
      unlinkSync(path);
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }
  if (uuid !== undefined) releasePodAddresses(uuid, config);
  const users = valuesOf(config, 'private-users');
  if (users.length > 0) {
    // The bind of the pod's user namespace an older stage1 made for enter (gone now: enter uses PID 1's fd), then the range it claimed.
    const { unmountDetached } = await import('../../native/bindings/mount.js');
    unmountDetached(join(podDir, 'userns'));
    try {
      unlinkSync(join(podDir, 'userns'));
    } catch (err) {
      if (!gone(err)) throw err;
    }
    if (uuid !== undefined) releaseUsernsClaims(uuid, users);
  }
  for (const path of valuesOf(config, 'file-cleanup')) {
    try {
      unlinkSync(path);
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }
}

/** Deletes the pod dir, refusing if anything is still mounted inside it. */
export function deletePodDir(podDir: string): void {
  const mounts = mountedUnder(podDir);
  if (mounts.length > 0) {
    throw new InvalidStateError(`pod dir ${podDir} still has mounts: ${mounts.join(', ')}`, {
      input: podDir,
      hint: 'a pod process may still run; stop it, then retry',
    });
  }
  rmSync(podDir, { recursive: true, force: true });
}

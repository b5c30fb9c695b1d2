/**
 * The pod state machine on disk (rkt's model, DESIGN.md "Pods"):
 *
 *   pods/embryo/<uuid>          being created; renamed on once it is locked
 *   pods/prepare/<uuid>         locked: preparing;      unlocked: aborted prepare
 *   pods/prepared/<uuid>        ready to run (unlocked)
 *   pods/run/<uuid>             locked: running;        unlocked: exited
 *   pods/exited-garbage/<uuid>  gc-marked exited pods (locked while being deleted)
 *   pods/garbage/<uuid>         pods that never ran, marked for deletion
 *
 * A state change is one rename(2) between sibling dirs, so it is atomic and a
 * racing loser gets ENOENT. Liveness is an exclusive flock on the pod dir,
 * held by whoever owns the state (stage1 for a running pod), released by the
 * kernel when that process dies: no daemon, no pid files to go stale.
 */
import { join } from 'node:path';

export const POD_STATES = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type PodDirState = (typeof POD_STATES)[number];

export function podsRoot(dir: string): string {
  return join(dir, 'pods');
}

export function podDir(dir: string, state: PodDirState, uuid: string): string {
  return join(dir, 'pods', state, uuid);
}

/** Files inside a pod dir. */
export const POD_FILES = {
  manifest: 'pod',
  images: 'images',
  created: 'pod-created',
  stage1Config: 'stage1.conf',
  pid: 'pid',
  stage1Error: 'stage1-error',
  rootfs: 'rootfs',
  overlay: 'overlay',
  apps: 'apps',
  volumes: 'volumes',
} as const;

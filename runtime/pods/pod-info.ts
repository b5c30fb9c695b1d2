/**
 * What `list` and `status` show about a pod, read from its dir alone: state,
 * apps with their images and exit statuses, pid, times. Never blocks on a
 * busy pod: the lock is only probed.
 */
import { existsSync } from 'node:fs';
import { podDir } from './pod-dirs.js';
import { readPodManifest, type PodManifest } from './pod-manifest.js';
import { podCreated, podState, readAppExit, readAppStarted, readPodPid, readStage1Error, type AppExit, type PodState } from './pod-state.js';
import type { PodLocation } from './pod-uuid.js';
import { readNetInfo } from './pod-net-info.js';
import { compareStrings } from '../compare-strings.js';
import type { PortForward } from '../../network/port-forward.js';

export interface AppInfo {
  name: string;
  image: string;
  imageId: string;
  started: string | undefined;
  exit: AppExit | undefined;
}

export interface NetworkStatus {
  name: string;
  ifName?: string;
  ip?: string;
  mac?: string;
  gateway?: string;
}

function networksOf(dir: string, manifest: PodManifest | null): NetworkStatus[] {
  const attached = readNetInfo(dir);
  if (attached !== undefined) return attached.map(({ name, ifName, ip, mac, gateway }) => ({ name, ifName, ip, mac, gateway }));
  if (manifest === null) return [];
  return manifest.runtime.net.split(',').map((n) => ({ name: n.split(':')[0] as string }));
}

export interface PodInfo {
  uuid: string;
  state: PodState;
  created: string | undefined;
  started: string | undefined;
  pid: number | undefined;
  apps: AppInfo[];
  /** What stage1 attached (net-info.json); before that, or for none/host, the names only. */
  networks: NetworkStatus[];
  /** Host ports forwarded to the pod (`--port`), from its manifest. */
  ports: PortForward[];
  /**
   * The pod's overall status when exited: first failing app's code, else 0; 254 when stage1
   * failed before any app ran. null when the outcome is unknown (see `reason`): a pod whose
   * stage1 was killed never reads as success. Absent while the pod has not exited.
   */
  exitCode: number | null | undefined;
  /** Why `exitCode` is null. */
  reason: string | undefined;
  error: string | undefined;
}

function manifestOrNull(dir: string): PodManifest | null {
  try {
    return readPodManifest(dir);
  } catch {
    return null;
  }
}

function unknownReason(unrecorded: string[]): string {
  const which = unrecorded.length === 0 ? 'its apps' : unrecorded.join(', ');
  return `stage1 ended without recording an exit status for ${which} (killed, e.g. by SIGKILL): the outcome is unknown`;
}

export function podInfo(storeDir: string, location: PodLocation): PodInfo {
  const dir = podDir(storeDir, location.state, location.uuid);
  const state = podState(storeDir, location);
  const manifest = existsSync(dir) ? manifestOrNull(dir) : null;
  const apps: AppInfo[] = (manifest?.apps ?? []).map((a) => ({
    name: a.name,
    image: a.image.name,
    imageId: a.image.id,
    started: readAppStarted(dir, a.name),
    exit: readAppExit(dir, a.name),
  }));
  const starts = apps.map((a) => a.started).filter((s): s is string => s !== undefined).sort();
  const exits = apps.map((a) => a.exit).filter((e): e is AppExit => e !== undefined);
  const firstFailure = [...exits].filter((e) => e.code !== 0).sort((a, b) => compareStrings(a.finished, b.finished))[0];
  const ended = state === 'exited' || state === 'exited garbage' || state === 'exited deleting';
  const error = readStage1Error(dir);
  // stage1 records every started app's exit before it ends, even when PID 1 dies, and an error
  // when an app never started: an app with neither means stage1 itself was killed.
  const unrecorded = apps.filter((a) => a.exit === undefined).map((a) => a.name);
  const unknown = ended && error === undefined && (apps.length === 0 || unrecorded.length > 0);
  return {
    uuid: location.uuid,
    state,
    created: manifest?.created ?? podCreated(dir),
    started: starts[0],
    pid: state === 'running' ? readPodPid(dir) : undefined,
    apps,
    networks: networksOf(dir, manifest),
    ports: manifest?.runtime.ports ?? [],
    exitCode: !ended ? undefined : unknown ? null : error !== undefined && exits.length === 0 ? 254 : (firstFailure?.code ?? 0),
    reason: unknown ? unknownReason(unrecorded) : undefined,
    error,
  };
}

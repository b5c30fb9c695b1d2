/**
 * The handoff to stage1 (DESIGN.md, "The pieces"): with the pod dir locked,
 * move it to run/, create its cgroup, write the stage1 config, and execve()
 * stage1 in place, passing it the lock fd. From then on stage1 is the pod's
 * supervisor under this very PID, and Node is gone.
 *
 * If anything fails before the exec, the cgroup is removed again and the
 * reason is written to the pod's stage1-error, so `status` shows why the pod
 * exited without running; the pod stays in run/ (exited) for gc or rm.
 */
import { mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execInPlace } from '../../native/bindings/exec.js';
import type { HeldLock } from '../../native/bindings/flock.js';
import { writeFileAtomic } from '../atomic-file.js';
import { asSkiffError, InvalidStateError } from '../errors.js';
import { STAGE1_PATH_ENV, stage1Path } from '../install-paths.js';
import { POD_FILES, podDir, type PodDirState } from './pod-dirs.js';
import { podLimits, readPodManifest, writePodManifest, type PodManifest } from './pod-manifest.js';
import type { CgroupOp, PodCgroup } from '../cgroups/index.js';
import { applyPodCgroup, planPodCgroup, removePodCgroup } from './pod-cgroup.js';
import { listenFdsFromEnv } from './listen-fds.js';
import { watchdogEnvFromEnv } from './watchdog-env.js';
import { writeStage1Config, type Stage1Pairs } from './stage1-config.js';
import { stage1Pairs } from './stage1-pairs.js';
import { DEFAULT_LOCAL_CONFIG } from '../local-config.js';
import { resolvePodNetworks, setUpHostNetworks, type PodNetworks } from './pod-network.js';
import type { HostNetworkState } from '../../network/host-network-state.js';
import { assertPortsFree, portsDir } from '../../network/port-forward.js';

/** Moves a locked pod to run/. Losing a race (another run-prepared) is an InvalidStateError. */
export function moveToRun(storeDir: string, uuid: string, from: PodDirState): string {
  const target = podDir(storeDir, 'run', uuid);
  mkdirSync(dirname(target), { recursive: true, mode: 0o711 });
  try {
    renameSync(podDir(storeDir, from, uuid), target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidStateError(`pod ${uuid} is no longer ${from} (another command started or removed it)`, {
        input: uuid,
        hint: "see 'skiff status'",
      });
    }
    throw err;
  }
  return target;
}

/** Everything the handoff used, for a run plan (run-plan.ts). */
export interface Handoff {
  manifest: PodManifest;
  pairs: Stage1Pairs;
  cgroupOps: CgroupOp[];
  stage1: string;
  lockFd: number;
  networks: PodNetworks;
  host: HostNetworkState;
}

export interface StartOptions {
  /** The pod's manifest when the caller has it (`run`: preparePod's); read from the pod dir otherwise. */
  manifest?: PodManifest;
  /** Runtime settings that replace the manifest's (`run-prepared`'s flags); written back to it. */
  overrides?: Partial<PodManifest['runtime']>;
  /** Called just before the exec, with what the handoff used. */
  beforeExec?: (handoff: Handoff) => void;
  /** Where network definitions live (--local-config): net.d/*.conf. */
  localConfig?: string;
  /** The pod's networks when the caller resolved them already (`run`, before preparing), and the host set-up it did for them. */
  networks?: PodNetworks;
  host?: HostNetworkState;
}

export async function startPod(dir: string, lock: HeldLock, options: StartOptions = {}): Promise<never> {
  const { overrides = {}, beforeExec } = options;
  let cgroup: PodCgroup | undefined;
  try {
    const manifest = options.manifest ?? readPodManifest(dir);
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length > 0) {
      manifest.runtime = { ...manifest.runtime, ...defined };
      writePodManifest(dir, manifest, { durable: false });
    }
    // Networks first: a bad network name or definition fails before any cgroup exists.
    const networks = options.networks ?? (await resolvePodNetworks(manifest.runtime.net, options.localConfig ?? DEFAULT_LOCAL_CONFIG));
    const ports = manifest.runtime.ports ?? [];
    // A host port another pod forwards: an error before anything is wired (stage1's claim decides a race).
    if (ports.length > 0) assertPortsFree(portsDir(), ports);
    const host = options.host ?? (await setUpHostNetworks(networks, { ports: ports.length > 0 }));
    const plan = planPodCgroup(manifest.uuid, podLimits(manifest.apps), manifest.runtime.cgroupParent);
    cgroup = applyPodCgroup(plan);
    const pairs = stage1Pairs(dir, manifest, lock.fd, cgroup, networks.values, networks.hooks);
    const config = writeStage1Config(dir, pairs);
    const stage1 = stage1Path();
    beforeExec?.({ manifest, pairs, cgroupOps: plan.ops, stage1, lockFd: lock.fd, networks, host });
    // systemd's NOTIFY_SOCKET reaches stage1 (the unit's main process), never the apps (native/stage1/sd-notify.c).
    const notify = process.env['NOTIFY_SOCKET'];
    // Socket activation's fds and variables, for the pod's first app (listen-fds.ts).
    const listen = listenFdsFromEnv(process.env, process.pid);
    const env = [
      STAGE1_PATH_ENV,
      ...(notify === undefined || notify === '' ? [] : [`NOTIFY_SOCKET=${notify}`, ...watchdogEnvFromEnv(process.env, process.pid)]),
      ...listen.env,
    ];
    execInPlace(stage1, ['skiff-stage1', 'run', config], env, [lock.fd, ...listen.fds]);
  } catch (err) {
    if (cgroup !== undefined) await removePodCgroup(cgroup.cleanup).catch(() => undefined);
    const e = asSkiffError(err);
    writeFileAtomic(join(dir, POD_FILES.stage1Error), `stage0: ${e.message}\n`);
    lock.release();
    throw err;
  }
}

/**
 * The pod manifest (`<pod dir>/pod`): everything stage0 decided about a pod at
 * prepare time, so `run-prepared`, `status`, `enter`, `cat-manifest` and `gc`
 * need nothing else. Written once, atomically; JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { PodLimits } from '../cgroups/index.js';
import { InvalidStateError } from '../errors.js';
import { POD_FILES } from './pod-dirs.js';
import type { PortForward } from '../../network/port-forward.js';
import type { PrivateUsers } from './private-users.js';

/** An app's limits are the pod cgroup's kinds; the pod's are their sums (podLimits). */
export type AppLimits = PodLimits;

export interface AppManifest {
  name: string;
  image: { id: string; name: string };
  /** The app's image layer dirs, bottom to top. */
  layers: string[];
  exec: string[];
  env: string[];
  workingDir: string;
  uid: number;
  gid: number;
  supplementaryGids: number[];
  /** The bounding set; a root app's process sets too. */
  caps: string[];
  /** A non-root app's process and ambient sets: only what `--caps-retain` asked for (absent in manifests before 0.2: none). */
  ambientCaps?: string[];
  noNewPrivs: boolean;
  /** stage1's `seccomp` value (seccomp-option.ts); absent: the default filter. */
  seccomp?: string;
  readonlyRootfs: boolean;
  mounts: Array<{ volume: string; target: string }>;
  limits: AppLimits;
}

export interface VolumeManifest {
  name: string;
  kind: 'host' | 'empty';
  /** host: the host path; empty: unused (the dir is `volumes/NAME` in the pod dir). */
  source: string;
  readOnly: boolean;
}

/** `none`, `host`, or the networks joined, in rkt's --net syntax (`default`, `a,b:IP=…`; network/pod-networks.ts). */
export type PodNet = string;

export interface PodManifest {
  version: 1;
  uuid: string;
  created: string;
  /**
   * One root for the whole pod when every app runs the same image (its layer
   * dirs, bottom to top), or undefined: each app gets its own root
   * (rkt's /opt/stage2/<app>/rootfs) from its own layers.
   */
  layers: string[] | undefined;
  /** true: a rendered copy instead of an overlay (`--no-overlay`), at rootfsCopyDir(). */
  noOverlay: boolean;
  /** `--private-users` (private-users.ts); absent: the host's user namespace. */
  privateUsers?: PrivateUsers;
  volumes: VolumeManifest[];
  apps: AppManifest[];
  /** Runtime settings; `run-prepared` may override them. */
  runtime: {
    net: PodNet;
    hostname: string | undefined;
    /** Nameserver addresses for a generated /etc/resolv.conf, or one of DNS_MODES (host-names.ts): `host`, `none`. */
    dns: string[];
    /** resolv.conf `search` domains, `options`, and `domain`; any of them (or `dns` addresses) makes stage1 write the file. */
    dnsSearch: string[];
    dnsOpts: string[];
    dnsDomain: string | undefined;
    hostsEntries: string[];
    interactive: boolean;
    /** Host ports forwarded to the pod's first network (`--port`); absent: none. */
    ports?: PortForward[];
    /** `--insecure-options=paths`: no masked and no read-only /proc and /sys paths; absent: Docker's lists. */
    insecurePaths?: boolean;
    /**
     * `--cgroup-parent`: the pod's cgroup is `<parent>/<uuid>` in each hierarchy (absolute from
     * the hierarchy's root, normalised); absent: SKIFF_CGROUP_PARENT, the caller's systemd unit, or /skiff.
     */
    cgroupParent?: string;
    /**
     * `--sd-notify=app`: under a Type=notify unit the apps tell systemd READY=1, STATUS=, WATCHDOG=1
     * (through stage1's relay, native/stage1/sd-notify.c); absent: stage1 says READY=1 once every app started.
     */
    sdNotify?: 'app';
  };
}

/** With noOverlay: the pod's rendered root, or app `app`'s (per-app roots), inside the pod dir (which moves: never stored). */
export function rootfsCopyDir(podDir: string, app?: string): string {
  return app === undefined ? join(podDir, 'rootfs-copy') : join(podDir, 'rootfs-copy', app);
}

export function writePodManifest(podDir: string, manifest: PodManifest, options: { durable?: boolean } = {}): void {
  writeFileAtomic(join(podDir, POD_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`, 0o600, options);
}

export function readPodManifest(podDir: string): PodManifest {
  let text: string;
  try {
    text = readFileSync(join(podDir, POD_FILES.manifest), 'utf8');
  } catch (err) {
    throw new InvalidStateError(`pod ${podDir} has no manifest (it was never fully prepared)`, {
      input: podDir,
      cause: err,
      hint: "remove it with 'skiff rm' or 'skiff gc'",
    });
  }
  return JSON.parse(text) as PodManifest;
}

/** Pod-level cgroup limits: the sum over apps of each limit some app sets. */
export function podLimits(apps: AppManifest[]): AppLimits {
  const out: AppLimits = {};
  for (const key of ['memoryBytes', 'cpuMillis', 'cpuShares', 'pidsMax'] as const) {
    const values = apps.map((a) => a.limits[key]).filter((v): v is number => v !== undefined);
    if (values.length > 0) out[key] = values.reduce((a, b) => a + b, 0);
  }
  return out;
}

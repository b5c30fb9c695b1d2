/**
 * The pods library's input: one typed PodSpec with one AppSpec per app, as
 * rkt's stage0 takes a PrepareConfig and libcrun an OCI runtime spec. The
 * CLI (runtime/cli/pod-spec-args.ts) is one way to make it, and the only
 * place that knows flag names; nothing here reads a command line.
 *
 * A spec holds values already converted and checked one by one (sizes in
 * bytes, caps normalised, mount targets normalised and confined, names
 * RFC 1123): the checks are the exported parsers of this folder
 * (quantities.ts, host-names.ts, volumes.ts, app-user.ts), which the CLI
 * calls flag by flag. checkPodSpec adds what spans several values (a volume
 * named twice, a mount of no volume, the pod's summed limits) and runs again
 * in preparePod, so a spec made elsewhere is held to the same rules before
 * anything is created. What only the image can tell (its command, working
 * dir, user, layers) is checked when the apps are built (build-apps.ts),
 * still before any cgroup exists, and the half-made pod dir is removed.
 */
import type { NormalPlatform } from '../../image/platform.js';
import type { PortRequest } from '../../network/port-forward.js';
import type { PullPolicy } from '../../image/pull.js';
import { UsageError } from '../errors.js';
import type { AppLimits, PodManifest, VolumeManifest } from './pod-manifest.js';
import { checkLimit } from './quantities.js';
import type { PrivateUsers } from './private-users.js';

/** What `run-prepared` may still change: the manifest's runtime settings. */
export type PodRuntime = PodManifest['runtime'];

export interface AppSpec {
  /** The image reference, as `fetch` takes it. */
  image: string;
  /** Default: from the image name (build-apps.ts defaultAppName). */
  name?: string | undefined;
  /** Run this instead of the image's Entrypoint and Cmd. */
  exec?: string | undefined;
  /** The app's arguments (after `--`); undefined: the image's Cmd (unless `exec` is given). */
  args?: string[] | undefined;
  /** NAME|UID[:GROUP], resolved in the image's /etc/passwd; default the image's User. */
  user?: string | undefined;
  /** NAME|GID, resolved in the image's /etc/group. */
  group?: string | undefined;
  supplementaryGids: number[];
  /** Absolute and normalised; default the image's WorkingDir, else `/`. */
  workingDir?: string | undefined;
  /** K=V, over the pod's env and the image's. */
  environment: string[];
  /** Targets absolute and normalised (volumes.ts normalizeMountTarget). */
  mounts: Array<{ volume: string; target: string }>;
  readonlyRootfs: boolean;
  limits: AppLimits;
  /** Exactly these capabilities (normalised names, capabilities.ts); excludes capsRemove. */
  capsRetain?: string[] | undefined;
  /** Docker's default set less these. */
  capsRemove?: string[] | undefined;
  /** stage1's `seccomp` value (seccomp-option.ts): undefined the default filter, `none` no filter. */
  seccomp?: string | undefined;
}

export interface PodSpec {
  apps: AppSpec[];
  volumes: VolumeManifest[];
  runtime: PodRuntime;
  /** Environment for every app: `files` (K=V lines, read when the pod is made), then `set`; `inherit`: the host's first. */
  env: { files: string[]; set: string[]; inherit: boolean };
  /** A rendered copy of the image instead of an overlay of the cached layers. */
  noOverlay: boolean;
  /** A user namespace for the apps (`--private-users`, private-users.ts); undefined: the host's. */
  privateUsers?: PrivateUsers | undefined;
  pull: { policy: PullPolicy; platform?: NormalPlatform | undefined };
  /** Host ports forwarded to the pod (`--port`; network/port-forward.ts), named ones resolved against the images when the pod is made. */
  ports?: PortRequest[] | undefined;
}

/** A spec's runtime settings when none are given: rkt's defaults. */
export function defaultRuntime(): PodRuntime {
  // rkt's default: the bridged, NATed `default` network (network/network-config.ts).
  return { net: 'default', hostname: undefined, dns: [], dnsSearch: [], dnsOpts: [], dnsDomain: undefined, hostsEntries: [], interactive: false };
}

/** An AppSpec with nothing but its image: everything else from the image and Docker's defaults. */
export function appSpecFor(image: string): AppSpec {
  return { image, supplementaryGids: [], environment: [], mounts: [], readonlyRootfs: false, limits: {} };
}

/** The checks that span several values of a spec (see above); throws a UsageError on the first failure. */
export function checkPodSpec(spec: PodSpec): void {
  if (spec.apps.length === 0) throw new UsageError('no image given', { hint: 'skiff run [pod flags] IMAGE [app flags] [-- ARGS]' });
  if (spec.runtime.interactive && spec.apps.length > 1) {
    throw new UsageError('--interactive needs a pod with one app', { hint: 'drop --interactive or run one image' });
  }
  if ((spec.ports ?? []).length > 0 && (spec.runtime.net === 'none' || spec.runtime.net === 'host')) {
    throw new UsageError(`--port needs a pod network to forward to, not --net=${spec.runtime.net}`, {
      input: spec.runtime.net, hint: 'use --net=default (or a network of net.d/), or drop --port',
    });
  }
  const volumes = new Set<string>();
  for (const v of spec.volumes) {
    if (volumes.has(v.name)) {
      throw new UsageError(`--volume ${v.name} is given twice`, { input: v.name, hint: 'give each volume one --volume with a name of its own' });
    }
    volumes.add(v.name);
  }
  for (const app of spec.apps) {
    for (const m of app.mounts) {
      if (!volumes.has(m.volume)) {
        throw new UsageError(`--mount names volume "${m.volume}", which no --volume defines`, { input: `volume=${m.volume},target=${m.target}` });
      }
    }
    if (app.capsRetain !== undefined && app.capsRemove !== undefined) {
      throw new UsageError('--caps-retain and --caps-remove exclude each other', { hint: 'use one of them' });
    }
  }
  // The pod's cgroup gets the sum of its apps' limits (podLimits): the sum must fit too.
  if (spec.apps.length > 1) {
    for (const key of ['memoryBytes', 'cpuMillis', 'cpuShares', 'pidsMax'] as const) {
      const values = spec.apps.map((a) => a.limits[key]).filter((v): v is number => v !== undefined);
      if (values.length > 1) checkLimit(key, values.reduce((a, b) => a + b, 0), 'the pod (the sum over its apps)');
    }
  }
}

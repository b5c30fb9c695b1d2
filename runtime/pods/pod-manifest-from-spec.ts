/**
 * A pod's manifest from its spec and its images, without touching the store
 * or the pod dir: what `prepare` writes, and what the unit tests check
 * without a command line.
 */
import type { StoredImage } from '../../image/store/stored-image.js';
import { buildApps } from './build-apps.js';
import { checkIdsInRange } from './private-users.js';
import type { PodManifest } from './pod-manifest.js';
import type { PodSpec } from './pod-spec.js';
import { imagePortNames, resolvePorts } from '../../network/port-forward.js';

export function podManifestFromSpec(
  spec: PodSpec,
  /** The stored image of each app, in the order of spec.apps. */
  images: StoredImage[],
  pod: { uuid: string; created: string },
  hostEnv: NodeJS.ProcessEnv,
): PodManifest {
  const first = images[0] as StoredImage;
  // Apps of one image share one root; apps of different images get one each.
  const sharedRoot = images.every((i) => i.record.id === first.record.id);
  const apps = buildApps({
    apps: spec.apps.map((app, i) => ({ spec: app, image: images[i] as StoredImage })),
    env: spec.env,
    hostEnv,
  });
  for (const app of apps) checkIdsInRange(spec.privateUsers, app.name, [app.uid, app.gid, ...app.supplementaryGids]);
  const rt = spec.runtime;
  // Named ports are the images' (each app's), looked up before anything of the pod exists.
  const ports = (spec.ports ?? []).length === 0 ? [] : resolvePorts(spec.ports ?? [], images.flatMap((i) => imagePortNames(i.config.config.exposedPorts)));
  return {
    version: 1,
    uuid: pod.uuid,
    created: pod.created,
    layers: sharedRoot ? first.layerDirs : undefined,
    noOverlay: spec.noOverlay,
    ...(spec.privateUsers === undefined ? {} : { privateUsers: { ...spec.privateUsers } }),
    volumes: spec.volumes.map((v) => ({ ...v })),
    apps,
    runtime: {
      net: rt.net,
      hostname: rt.hostname,
      dns: [...rt.dns],
      dnsSearch: [...rt.dnsSearch],
      dnsOpts: [...rt.dnsOpts],
      dnsDomain: rt.dnsDomain,
      hostsEntries: [...rt.hostsEntries],
      interactive: rt.interactive,
      ...(ports.length === 0 ? {} : { ports }),
      ...(rt.insecurePaths === true ? { insecurePaths: true } : {}),
      ...(rt.cgroupParent === undefined ? {} : { cgroupParent: rt.cgroupParent }),
      ...(rt.sdNotify === 'app' ? { sdNotify: 'app' as const } : {}),
    },
  };
}

/**
 * `prepare` (and the first half of `run`): a new pod dir, locked from birth,
 * moved embryo → prepare, filled (images pulled, apps resolved, manifest and
 * overlay dirs written, or with `--no-overlay` each root rendered from the
 * stored blobs into rootfs-copy/), then either moved on to prepared and unlocked, or
 * handed to startPod still locked (`run`). A failure removes the pod dir:
 * nothing half-prepared is left behind.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lockDir, type HeldLock } from '../../native/bindings/flock.js';
import { pullImage, type PullOptions } from '../../image/pull.js';
import { POD_IMAGES_FILE } from '../../image/store/images-in-use.js';
import { loadStoredImage, type StoredImage } from '../../image/store/stored-image.js';
import { storePaths } from '../../image/store/store-paths.js';
import { withGcLock } from '../../image/store/gc-lock.js';
import { writeFileAtomic } from '../atomic-file.js';
import { POD_FILES, podDir } from './pod-dirs.js';
import { rootfsCopyDir, writePodManifest, type PodManifest } from './pod-manifest.js';
import { podManifestFromSpec } from './pod-manifest-from-spec.js';
import { checkPodSpec, type PodSpec } from './pod-spec.js';
import { newPodUuid } from './pod-uuid.js';

export interface PreparedPod {
  uuid: string;
  /** The pod dir in its current state (prepare/ when locked for run, prepared/ otherwise). */
  dir: string;
  manifest: PodManifest;
  /** The stored images the pod uses, as listed in its POD_IMAGES_FILE. */
  imageIds: string[];
  /** Held when prepared for `run`. */
  lock: HeldLock | undefined;
}

function uniqueIds(images: StoredImage[]): string[] {
  return [...new Set(images.map((i) => i.record.id))];
}

export async function preparePod(
  storeDir: string,
  spec: PodSpec,
  /** How to find the images; the policy and platform are the spec's. */
  pull: Omit<PullOptions, 'policy' | 'platform'>,
  options: { keepLock: boolean; hostEnv?: NodeJS.ProcessEnv },
): Promise<PreparedPod> {
  // Checked before anything is created (the CLI checked it too; a spec may come from elsewhere).
  checkPodSpec(spec);
  const { noOverlay, volumes } = spec;
  const pullOptions: PullOptions = { ...pull, ...spec.pull };

  const uuid = newPodUuid();
  const embryo = podDir(storeDir, 'embryo', uuid);
  mkdirSync(dirname(embryo), { recursive: true, mode: 0o711 });
  // Root-only: a pod dir holds its rendered roots and overlay upper dirs, with whatever device
  // nodes, setuid files and modes the image brought (the store's layers/ is 0700 for the same reason).
  mkdirSync(embryo, { mode: 0o700 });
  const lock = lockDir(embryo, `pod ${uuid}`);
  let dir = podDir(storeDir, 'prepare', uuid);
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o711 });
    renameSync(embryo, dir);
    const paths = storePaths(storeDir);
    // gc.lock shared from finding the images until the pod lists them: image gc/rm (which
    // take it exclusively) can then never remove an image between the two.
    // A pod that runs now needs no durable files (see writeFileAtomic); a prepared one keeps them.
    const durable = !options.keepLock;
    const images = await withGcLock(paths, 'shared', async () => {
      const found: StoredImage[] = [];
      for (const app of spec.apps) found.push(loadStoredImage(paths, await pullImage(paths, app.image, pullOptions)));
      // Everything the pod uses is listed before the manifest exists, so image gc never races it.
      writeFileAtomic(join(dir, POD_IMAGES_FILE), `${uniqueIds(found).join('\n')}\n`, 0o644, { durable });
      return found;
    });
    const imageIds = uniqueIds(images);
    const first = images[0] as StoredImage;
    // What the images bring is checked here (build-apps.ts): a failure still leaves no pod dir and no cgroup.
    const manifest = podManifestFromSpec(spec, images, { uuid, created: new Date().toISOString() }, options.hostEnv ?? process.env);
    const { apps } = manifest;
    const sharedRoot = manifest.layers !== undefined;
    const overlays = noOverlay ? [] : sharedRoot ? [POD_FILES.overlay] : apps.map((a) => join(POD_FILES.overlay, a.name));
    for (const sub of [...overlays.flatMap((o) => [join(o, 'upper'), join(o, 'work')]), POD_FILES.rootfs, POD_FILES.apps]) {
      mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
    }
    for (const v of volumes.filter((v) => v.kind === 'empty')) {
      mkdirSync(join(dir, POD_FILES.volumes, v.name), { recursive: true, mode: 0o755 });
    }
    if (noOverlay) {
      const { renderImage } = await import('../../image/render-image.js');
      const roots = sharedRoot ? [{ dir: rootfsCopyDir(dir), image: first }] : apps.map((a, i) => ({ dir: rootfsCopyDir(dir, a.name), image: images[i] as StoredImage }));
      for (const root of roots) {
        mkdirSync(root.dir, { recursive: true, mode: 0o755 });
        await renderImage(paths, root.image.record, root.dir);
      }
    }
    writePodManifest(dir, manifest, { durable });
    writeFileSync(join(dir, POD_FILES.created), '');
    if (options.keepLock) return { uuid, dir, manifest, imageIds, lock };
    const prepared = podDir(storeDir, 'prepared', uuid);
    mkdirSync(dirname(prepared), { recursive: true, mode: 0o711 });
    renameSync(dir, prepared);
    dir = prepared;
    lock.release();
    return { uuid, dir, manifest, imageIds, lock: undefined };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(embryo, { recursive: true, force: true });
    lock.release();
    throw err;
  }
}

import { formatDockerName, formatReference, type ImageReference } from '../reference.js';

/** The name an image is recorded under in the store: `host/repo:tag` for registries, the reference otherwise. */
export function recordName(ref: ImageReference): string {
  return ref.transport === 'docker' ? formatDockerName(ref) : formatReference(ref);
}

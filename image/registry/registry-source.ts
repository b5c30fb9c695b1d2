/**
 * The ImageSource of a `docker://` reference: a registry repository, through
 * a RegistryClient. Several sources may share one client (and so its
 * connections and tokens); a source that made its own closes it.
 */
import { UsageError } from '../../runtime/errors.js';
import { formatReference, type DockerReference } from '../reference.js';
import type { ImageSource } from '../source.js';
import { RegistryClient } from './client.js';
import type { RegistryOptions } from './options.js';

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function registrySource(ref: DockerReference, options: RegistryOptions & { client?: RegistryClient } = {}): ImageSource {
  const client = options.client ?? new RegistryClient(options);
  const owned = options.client === undefined;
  const name = formatReference(ref);
  return {
    name,
    resolve: () => client.getManifest(ref.registry, ref.repository, ref.digest ?? ref.tag ?? 'latest', name),
    fetchManifest: (digest) => {
      if (!SHA256_DIGEST.test(digest)) {
        return Promise.reject(new UsageError(`"${digest}" is not a sha256 digest`, { input: name }));
      }
      return client.getManifest(ref.registry, ref.repository, digest, name);
    },
    openBlob: (descriptor) => client.openBlob(ref.registry, ref.repository, descriptor, name),
    close: () => (owned ? client.close() : Promise.resolve()),
  };
}

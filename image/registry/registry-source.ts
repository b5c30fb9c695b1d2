/**
 * The ImageSource of a `docker://` reference: a registry repository, through
 * a RegistryClient of its own, closed with the source.
 */
import { UsageError } from '../../runtime/errors.js';
import { SHA256_DIGEST } from '../digest.js';
import { formatReference, type DockerReference } from '../reference.js';
import type { ImageSource } from '../source.js';
import { RegistryClient } from './client.js';
import type { RegistryOptions } from './options.js';

export function registrySource(ref: DockerReference, options: RegistryOptions = {}): ImageSource {
  const client = new RegistryClient(options);
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
    close: () => client.close(),
  };
}

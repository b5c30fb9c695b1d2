/** docker:// references: the registry client, behind the ImageSource interface. */
import type { DockerReference } from '../reference.js';
import { registrySource } from '../registry/index.js';
import type { ImageSource } from '../source.js';
import type { SourceOptions } from './open-source.js';

export function openRegistrySource(ref: DockerReference, options: SourceOptions): ImageSource {
  return registrySource(ref, {
    insecure: options.insecure,
    ...(options.certsDir === undefined ? {} : { certsDir: options.certsDir }),
    ...(options.dockerConfigPath === undefined ? {} : { dockerConfigPath: options.dockerConfigPath }),
  });
}

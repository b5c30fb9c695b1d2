/**
 * Opens the ImageSource a reference names. Registry code (node:http(s)) is loaded
 * only for docker:// references.
 */
import { formatReference, type ImageReference } from '../reference.js';
import type { ImageSource } from '../source.js';
import { dockerArchiveSource } from './docker-archive-source.js';
import { dirBackend, tarBackend } from './file-backend.js';
import { ociLayoutSource } from './oci-layout-source.js';

export interface SourceOptions {
  /** --insecure-options: plain http and/or unverified TLS for registries. */
  insecure: ReadonlySet<'http' | 'tls' | 'image'>;
  /** docker's certs.d convention: <certsDir>/<host:port>/ca.crt. */
  certsDir?: string;
  /** Default: $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
  dockerConfigPath?: string;
}

export async function openSource(ref: ImageReference, options: SourceOptions): Promise<ImageSource> {
  const name = formatReference(ref);
  switch (ref.transport) {
    case 'docker': {
      const { registrySource } = await import('../registry/index.js');
      return registrySource(ref, options);
    }
    case 'oci':
      return ociLayoutSource(name, dirBackend(ref.path), ref.ref);
    case 'oci-archive':
      return ociLayoutSource(name, tarBackend(ref.path), ref.ref);
    case 'docker-archive':
      return dockerArchiveSource(name, tarBackend(ref.path), ref.ref);
  }
}

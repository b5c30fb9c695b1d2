/**
 * The registry client's public face. Importing this loads undici: only the
 * `docker://` fetch path should.
 */
export { RegistryClient } from './client.js';
export { registrySource } from './registry-source.js';
export { DEFAULT_CERTS_DIR, DEFAULT_RETRY, type RegistryOptions, type RetryPolicy } from './options.js';
export { dockerConfigPath, findCredentials, type Credentials } from './docker-config.js';
export { parseChallenges, type Challenge } from './challenge.js';

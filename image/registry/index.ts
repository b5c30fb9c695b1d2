/**
 * The registry client's public face. Importing this loads undici: only the
 * `docker://` fetch path should.
 */
export { registrySource } from './registry-source.js';
export type { RegistryOptions } from './options.js';

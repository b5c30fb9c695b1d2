/**
 * The registry client's public face. Importing this loads node:http(s): only the
 * `docker://` fetch path should.
 */
export { registrySource } from './registry-source.js';
export type { RegistryOptions } from './options.js';

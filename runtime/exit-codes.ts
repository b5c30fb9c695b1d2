/**
 * The exit-code table, in one place (DESIGN.md, "Pods"; rkt #3129).
 *
 * | code  | meaning                                                          |
 * |-------|------------------------------------------------------------------|
 * | 0     | success                                                          |
 * | 1-253 | `run`: the app's own exit status (first failing app of a pod)    |
 * | 128+N | `run`: the app was killed by signal N (SIGKILL: 137)             |
 * | 2     | usage error: unknown flag or command, missing or bad argument    |
 * | 254   | Skiff's own failure: fetch, verify, store, network, syscall      |
 *
 * `run` passes the app's status through, so 2 and 254 are ambiguous only for
 * `run`; every other command exits with 0, 2 or 254 alone.
 */
import { SkiffError } from './errors.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 254;

export function exitCodeFor(err: SkiffError): number {
  return err.code === 'E_USAGE' ? EXIT_USAGE : EXIT_FAILURE;
}

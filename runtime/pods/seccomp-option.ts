/**
 * `--seccomp mode=retain|remove[,errno=ENAME],SYSCALL...` (rkt's syntax) and
 * `--insecure-options=seccomp`, turned into the `seccomp` value stage1 takes
 * (native/stage1-protocol.md):
 *   no flag                    undefined: stage1's default filter (Docker's profile)
 *   --insecure-options=seccomp 'none': no filter
 *   --seccomp ...              'MODE\tERRNO\tNAME,...' with ERRNO a number, or
 *                              empty when no errno= is given (refused calls kill
 *                              the app with SIGSYS, as rkt's isolators)
 * A retain-set allows only the listed calls, a remove-set all but them; the
 * groups stand for the default filter's sets, so
 * `mode=retain,@docker/default-whitelist,mount` is the default plus mount and
 * `mode=remove,@docker/default-blacklist,socket` the default less socket.
 */
import { constants } from 'node:os';
import { UsageError } from '../errors.js';
import { SYSCALL_NAMES } from './syscall-names.js';

export const SECCOMP_GROUPS = {
  retain: ['@docker/default-whitelist', '@appc.io/all', '@appc.io/empty'],
  remove: ['@docker/default-blacklist', '@appc.io/all', '@appc.io/empty'],
} as const;

const ERRNO: Record<string, number> = constants.errno as Record<string, number>;

/** The `--seccomp` flag's text as stage1's value; a UsageError names what is wrong. */
export function parseSeccompOption(text: string): string {
  let mode: 'retain' | 'remove' | undefined;
  let errno = '';
  const names: string[] = [];
  for (const part of text.split(',')) {
    if (part.startsWith('mode=')) {
      const value = part.slice('mode='.length);
      if (value !== 'retain' && value !== 'remove') {
        throw new UsageError(`--seccomp mode "${value}" is not retain or remove`, { input: text });
      }
      mode = value;
    } else if (part.startsWith('errno=')) {
      const name = part.slice('errno='.length);
      const number = ERRNO[name];
      if (number === undefined) {
        throw new UsageError(`--seccomp errno "${name}" is not an errno name`, { input: text, hint: 'write e.g. errno=EPERM or errno=ENOSYS' });
      }
      errno = String(number);
    } else if (part !== '') {
      names.push(part);
    }
  }
  if (mode === undefined) {
    throw new UsageError(`--seccomp "${text}" has no mode=`, { input: text, hint: 'write mode=retain,SYSCALL... or mode=remove,SYSCALL...' });
  }
  if (names.length === 0) throw new UsageError(`--seccomp "${text}" names no syscall`, { input: text });
  const groups: readonly string[] = SECCOMP_GROUPS[mode];
  for (const name of names) {
    if (name.startsWith('@') ? !groups.includes(name) : !SYSCALL_NAMES.has(name)) {
      throw new UsageError(`--seccomp: "${name}" is not a syscall or a group of mode=${mode}`, {
        input: text,
        hint: `the groups of mode=${mode} are ${groups.join(', ')}`,
      });
    }
  }
  return [mode, errno, names.join(',')].join('\t');
}

/** An app's `seccomp` value from its `--seccomp` flag (if any) and the insecure option. */
export function seccompSetting(flag: string | undefined, insecure: boolean): string | undefined {
  // Checked even when the insecure option turns the filter off: a typo is still a usage error.
  const value = flag === undefined ? undefined : parseSeccompOption(flag);
  return insecure ? 'none' : value;
}

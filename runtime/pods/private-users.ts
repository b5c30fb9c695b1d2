/**
 * `--private-users[=SHIFT:COUNT]`: the pod's apps in a user namespace of their own, pod id N being
 * host id SHIFT+N (native/stage1/userns.c does the work; this is the flag, the stage1 value and
 * what `gc`/`rm` release).
 *
 * Bare, the range is picked by stage1 when the pod starts, not here: 65536 ids at the first free
 * multiple of 65536 from 2^19 up, claimed as the symlink DIR/SHIFT -> UUID in the claims dir
 * (made whole or not at all, EEXIST for every other pod, as the linked claim files of host ports
 * and IPAM addresses), so concurrent pods never share one, whether the CLI or the launcher's replay
 * (which runs no Node) starts them; the recorded value (`auto\tDIR`) is the same for every run. A
 * symlink keeps the holder in its inode: one syscall to claim, and no data block to free (and
 * discard) at release (stage1's userns.c). An older stage1 wrote a file holding the UUID, which gc
 * still reads. rkt picks a random shift instead; a claim makes uniqueness a fact, not a likelihood.
 *
 * SHIFT:COUNT is taken as given (systemd-nspawn's syntax) and not claimed: two pods given one range
 * share ids on purpose or by mistake, so SHIFT must leave the host's own ids (0..65535) alone, and
 * ranges from 2^19 up are where auto ranges go.
 */
import { readdirSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

export type PrivateUsers = { auto: true } | { shift: number; count: number };

/** Where auto ranges are claimed; SKIFF_USERNS_DIR moves it (tests). Host-wide, like the ports dir. */
export const DEFAULT_USERNS_DIR = '/run/skiff/userns';
export const USERNS_DIR_ENV = 'SKIFF_USERNS_DIR';
/** Auto ranges start here (stage1's AUTO_BASE); explicit ones should stay below it. */
export const AUTO_BASE = 2 ** 19;
/** Host ids 0..65535 are the host's own users and system accounts: never a pod's. */
export const MIN_SHIFT = 65536;
const MAX_HOST_ID = 4_294_967_294;

export function usernsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[USERNS_DIR_ENV];
  return dir === undefined || dir === '' ? DEFAULT_USERNS_DIR : dir;
}

/** The flag's value: 'true' (bare), 'false', or SHIFT:COUNT; undefined: not given. */
export function parsePrivateUsers(value: string | undefined): PrivateUsers | undefined {
  if (value === undefined || value === 'false') return undefined;
  if (value === 'true') return { auto: true };
  const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(value);
  const hint = `give --private-users alone (a free range is picked) or --private-users=SHIFT:COUNT with SHIFT >= ${MIN_SHIFT}, e.g. ${MIN_SHIFT * 2}:65536`;
  if (m === null) throw new UsageError(`--private-users "${value}" is not SHIFT:COUNT`, { input: value, hint });
  const shift = Number(m[1]);
  const count = Number(m[2]);
  if (shift < MIN_SHIFT) {
    throw new UsageError(`--private-users "${value}": SHIFT ${shift} overlaps the host's own ids 0..${MIN_SHIFT - 1}`, { input: value, hint });
  }
  if (count < 1 || shift + count - 1 > MAX_HOST_ID) {
    throw new UsageError(`--private-users "${value}": COUNT must be 1 or more with SHIFT + COUNT - 1 <= ${MAX_HOST_ID}`, { input: value, hint });
  }
  return { shift, count };
}

/** stage1's `private-users` value (native/stage1-protocol.md). */
export function privateUsersValue(users: PrivateUsers, env: NodeJS.ProcessEnv = process.env): string {
  return 'auto' in users ? `auto\t${usernsDir(env)}` : `${users.shift}\t${users.count}`;
}

/** An app's ids must be inside the range: the kernel refuses to switch to an unmapped one. */
export function checkIdsInRange(users: PrivateUsers | undefined, app: string, ids: number[]): void {
  if (users === undefined) return;
  const count = 'auto' in users ? 65536 : users.count;
  const bad = ids.find((id) => id >= count);
  if (bad !== undefined) {
    throw new UsageError(`app ${app} runs as id ${bad}, outside the pod's ${count} private ids`, {
      input: String(bad), hint: 'give --private-users=SHIFT:COUNT with a larger COUNT, or run the app as a lower --user',
    });
  }
}

/** Who holds a claim: the symlink's target, or an older stage1's file content (or its temp file's). */
function claimHolder(path: string): string {
  try {
    return readlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    return readFileSync(path, 'utf8').trim();
  }
}

/**
 * `gc`/`rm` after a kill -9 (stage1 releases its own at teardown): the claims of the config's
 * `private-users auto\tDIR` that name pod `uuid`, and an older stage1's temp file; idempotent.
 */
export function releaseUsernsClaims(uuid: string, values: readonly string[]): void {
  for (const value of values) {
    const [kind, dir] = value.split('\t');
    if (kind !== 'auto' || dir === undefined) continue;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!/^[0-9]+$/.test(name) && name !== `.claim-${uuid}`) continue;
      const path = join(dir, name);
      try {
        if (claimHolder(path) === uuid) unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}

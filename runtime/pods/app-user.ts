/**
 * Who an app runs as. `--user`/`--group` (or the image's `User`) may be names
 * or numbers; names are resolved from the image's own /etc/passwd and
 * /etc/group, never the host's, as docker does. Supplementary groups are the
 * user's memberships in the image's /etc/group plus --supplementary-gids.
 */
import { ImageError, UsageError } from '../errors.js';

/** The largest uid or gid: (uid_t)-1 is no id, it means "unchanged" to setresuid() and chown(). */
export const MAX_ID = 4_294_967_294;

export interface AppUser {
  uid: number;
  gid: number;
  supplementaryGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 6 && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? ''))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] as string }));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2] ?? ''))
    .map((f) => ({ name: f[0] as string, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const isNumber = (s: string): boolean => /^\d+$/.test(s);

/**
 * `--user NAME|UID[:GROUP|GID]` or `--group NAME|GID` as given, checked for
 * form and numeric range only (names are looked up in the image later):
 * `--user 0:0:0` was taken as 0:0, `--user 4294967295` failed late in stage1.
 */
export function checkUserFlag(text: string, flag: '--user' | '--group'): string {
  const parts = text.split(':');
  if (parts.length > (flag === '--user' ? 2 : 1)) {
    throw new UsageError(`${flag} "${text}" is not ${flag === '--user' ? 'NAME|UID[:GROUP|GID]' : 'NAME|GID'}`, { input: text });
  }
  for (const part of parts) {
    if (isNumber(part) && Number(part) > MAX_ID) {
      throw new UsageError(`${flag} "${text}": ${part} is above ${MAX_ID}, the largest id ((uid_t)-1 means no id)`, { input: text });
    }
  }
  return text;
}

export function resolveAppUser(
  spec: { user?: string | undefined; group?: string | undefined; supplementaryGids?: number[] | undefined },
  files: { passwd: string | null; group: string | null },
  image: string,
): AppUser {
  const passwd = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  let userPart = spec.user ?? '0';
  let groupPart = spec.group;
  if (userPart.split(':').length > 2) {
    throw new ImageError(`user "${userPart}" of ${image} is not NAME|UID[:GROUP|GID]`, { input: userPart, hint: 'give --user' });
  }
  if (spec.group === undefined && userPart.includes(':')) [userPart, groupPart] = userPart.split(':', 2) as [string, string];
  if (userPart === '') userPart = '0';

  const entry = isNumber(userPart) ? passwd.find((p) => p.uid === Number(userPart)) : passwd.find((p) => p.name === userPart);
  if (entry === undefined && !isNumber(userPart)) {
    throw new ImageError(`user "${userPart}" is not in the /etc/passwd of ${image}`, {
      input: userPart,
      hint: 'give a numeric uid, or a user the image defines',
    });
  }
  const uid = entry?.uid ?? Number(userPart);
  let gid = entry?.gid ?? (isNumber(userPart) ? 0 : 0);
  if (groupPart !== undefined && groupPart !== '') {
    if (isNumber(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (g === undefined) {
        throw new ImageError(`group "${groupPart}" is not in the /etc/group of ${image}`, {
          input: groupPart,
          hint: 'give a numeric gid, or a group the image defines',
        });
      }
      gid = g.gid;
    }
  }
  // Flags were checked (checkUserFlag): an id out of range here came from the image.
  if (uid > MAX_ID || gid > MAX_ID) {
    throw new ImageError(`user ${spec.user ?? '0'} of ${image} has uid ${uid} and gid ${gid}: ids go up to ${MAX_ID}`, {
      input: spec.user ?? '0',
      hint: 'give --user and --group with ids in range',
    });
  }
  const memberOf = entry === undefined ? [] : groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  const supplementaryGids = [...new Set([...memberOf, ...(spec.supplementaryGids ?? [])])].filter((g) => g !== gid);
  return { uid, gid, supplementaryGids, home: entry?.home ?? '/' };
}

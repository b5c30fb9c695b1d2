/**
 * Where a pod's cgroup goes, relative to each hierarchy's root.
 *
 * Under systemd (the caller's own cgroup lies inside a `*.service` or
 * `*.scope` unit) the pod nests under that unit, `<unit>/skiff-<uuid>`, like
 * rkt's --keep-unit: systemd keeps accounting the pod to the unit that
 * started it, stops it with the unit, and never finds foreign cgroups beside
 * its own (it may remove those). The unit is read from the name=systemd
 * hierarchy on v1/hybrid hosts and from the `0::` line on v2 hosts; the
 * deepest `.service`/`.scope` component counts, so a caller already moved to
 * a leaf inside its unit (v2: `<unit>/skiff-supervisor`) still nests under the
 * unit itself. Elsewhere (no systemd, or a container's own cgroup) pods go to
 * `/skiff/<uuid>`. An explicit `parent` wins: `<parent>/<uuid>`.
 */
import { CgroupError } from '../errors.js';

export interface SelfCgroups {
  /** v1 hierarchies keyed by each controller of the line (`memory`, `name=systemd`, …). */
  v1: Map<string, string>;
  /** The `0::` line: the process's cgroup2 path. */
  v2: string | undefined;
}

/** Parses /proc/self/cgroup (`ID:CONTROLLERS:PATH` lines). */
export function parseSelfCgroups(text: string): SelfCgroups {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2 = path;
    else for (const c of controllers.split(',')) v1.set(c, path);
  }
  return { v1, v2 };
}

/** The systemd unit a cgroup path lies in (`/system.slice/foo.service`), or undefined. */
export function systemdUnit(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const parts = path.split('/').filter((p) => p !== '');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (/\.(service|scope)$/.test(parts[i] ?? '')) return `/${parts.slice(0, i + 1).join('/')}`;
  }
  return undefined;
}

export interface Placement {
  /** The pod's path relative to the hierarchy root. */
  path: string;
  /** Its parent: `/skiff`, the unit, or the caller's `parent`. */
  parent: string;
  /** The systemd unit the pod nests under, if it does. */
  unit: string | undefined;
}

const UUID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Checks a caller's `parent`: absolute, no `.`/`..`/empty components; returns it without a trailing slash. */
export function normalizeParent(parent: string): string {
  const parts = parent.split('/').filter((p) => p !== '');
  if (!parent.startsWith('/') || parts.some((p) => p === '.' || p === '..')) {
    throw new CgroupError(`invalid cgroup parent ${JSON.stringify(parent)}: must be an absolute path without . or ..`, {
      input: parent,
      hint: 'pass a cgroup path such as /skiff or /machine.slice/skiff',
    });
  }
  return parts.length === 0 ? '' : `/${parts.join('/')}`;
}

export function placePod(uuid: string, kind: 'v1' | 'v2', self: SelfCgroups, parent?: string): Placement {
  if (!UUID_RE.test(uuid)) {
    throw new CgroupError(`invalid pod UUID ${JSON.stringify(uuid)} for a cgroup name`, {
      input: uuid,
      hint: 'pass the pod UUID (letters, digits, ".", "_", "-")',
    });
  }
  if (parent !== undefined) {
    const p = normalizeParent(parent);
    return { path: `${p}/${uuid}`, parent: p === '' ? '/' : p, unit: undefined };
  }
  const unit = systemdUnit(kind === 'v2' ? self.v2 : self.v1.get('name=systemd'));
  if (unit !== undefined) return { path: `${unit}/skiff-${uuid}`, parent: unit, unit };
  return { path: `/skiff/${uuid}`, parent: '/skiff', unit: undefined };
}

/**
 * Run plans: what a `skiff run` did, recorded for the native launcher to
 * replay (native/launcher/; why: bench/start, Node's start-up is most of a
 * pod's start time).
 *
 * Recorded just before the handoff to stage1, only when the launcher asked
 * for it (a RunPlanRequest: cli/run-plan-request.ts) and only for a run whose work depends on
 * nothing but the inputs the launcher checks: its arguments, Skiff's
 * environment, the working directory, the caller's cgroups, the boot, the
 * builds (all in the launcher's key) and the image index (its stamp, file-stamp.ts).
 * Not recorded: --pull-policy=update (asks the source each time),
 * --inherit-env and --set-env-file (read the environment and files),
 * --no-overlay (renders a copy per pod), and any run that fetched an image.
 *
 * The file: NUL-separated KEY, VALUE pairs (as the stage1 config), values
 * that differ per pod as templates (0x01 escapes: \1U uuid, \1h its first 8
 * characters, \1T creation time, \1L lock fd, \10 NUL, \1\1 0x01):
 *   format 1 · key HEX · index STAMP · store DIR · stage1 PATH
 *   marker PATH…          image last-used markers to touch
 *   dir MODE\tREL…        the pod dir's subdirs, parents first
 *   file MODE\tREL\tTPL…  its files (manifest, image list, created)
 *   uuid-file-save PATH
 *   cgroup OP\tARG…       the cgroup driver's plan (cgroups/cgroup-plan.ts)
 *   stamp PATH\tSTAMP…    network definitions (net.d/ and its files; '-': absent)
 *                         the config's `net` values came from
 *   host-link NAME…       bridges the pod's networks attach to, and
 *   host-sysctl PATH\tV…  sysctls the host set-up wrote: a replay checks
 *                         each is still there, else the CLI sets them up
 *   host-rule T\tC\tN…    NAT rules it made, by a name only they hold
 *                         (host-network-state.ts hostRuleChecks)
 *   layer INODE\tPATH…    the overlay lower dirs the config mounts, checked
 *                         by inode before the pod is committed (a layer
 *                         moved away must send the run to the CLI)
 *   stage1-config TPL
 * Before writing, every template is expanded again with this pod's values
 * and compared with what was really written: a plan that would not
 * reproduce this very run is not recorded.
 *
 * `prepare` records a second kind, `kind run-prepared`, in the prepared pod's
 * own dir (PREPARED_PLAN_FILE): the stage1 config and cgroup ops a bare
 * `run-prepared UUID` of that pod will use, keyed without arguments or cwd.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { encodeCgroupOp, type CgroupOp } from '../cgroups/index.js';
import { stage1Path } from '../install-paths.js';
import { planPodCgroup } from './pod-cgroup.js';
import { POD_FILES, podDir } from './pod-dirs.js';
import { podLimits, type PodManifest } from './pod-manifest.js';
import { encodeNulPairs, type NulPairs } from './nul-pairs.js';
import { defaultHostname, stage1Pairs } from './stage1-pairs.js';
import type { Stage1Pairs } from './stage1-config.js';
import type { PodNetworks } from './pod-network.js';
import { hostRuleChecks, IP_FORWARD, routeLocalnetSysctl, type HostNetworkState } from '../../network/host-network-state.js';
import type { PodSpec } from './pod-spec.js';

/** Where `prepare` leaves the plan of a bare `run-prepared` (native/launcher/replay-prepared.c). */
export const PREPARED_PLAN_FILE = 'run-plan';

/** Where the launcher wants a plan, and the hex of what it depends on (its key). */
export interface RunPlanRequest {
  path: string;
  keyHex: string;
}

/** Whether a run of this spec may be replayed from a plan (see above). */
export function runIsReplayable(spec: PodSpec): boolean {
  const policy = spec.pull.policy;
  return (policy === 'new' || policy === 'never') && !spec.env.inherit && spec.env.files.length === 0 && !spec.noOverlay;
}

export interface PodValues {
  uuid: string;
  created: string;
  lockFd: number;
}

function template(text: string, uuid: string): string {
  return text.replaceAll('\x01', '\x01\x01').replaceAll(uuid, '\x01U').replaceAll('\0', '\x010');
}

/** The launcher's expand_template, to check a plan before it is written. */
export function expandTemplate(tpl: string, v: PodValues): string {
  const values: Record<string, string> = {
    '\x01': '\x01', U: v.uuid, h: v.uuid.slice(0, 8), T: v.created, L: String(v.lockFd), '0': '\0',
  };
  return tpl.replace(/\x01([\s\S]?)/g, (_, c: string) => {
    const value = values[c];
    if (value === undefined) throw new Error(`bad template escape ${JSON.stringify(c)}`);
    return value;
  });
}

export interface RunRecord {
  storeDir: string;
  /** The image index's stamp from before the images were looked up; undefined: it changed meanwhile. */
  indexStamp: string | undefined;
  markers: string[];
  stage1: string;
  /** The pod dir in run/, stage1 config written. */
  podDir: string;
  manifest: PodManifest;
  lockFd: number;
  pairs: Stage1Pairs;
  cgroupOps: CgroupOp[];
  uuidFileSave: string | undefined;
  networks: PodNetworks;
  host: HostNetworkState;
}

function stage1Template(pairs: Stage1Pairs, manifest: PodManifest): string {
  const defaultName = manifest.runtime.hostname === undefined;
  return pairs
    .map(([k, v]) => {
      const value = k === 'lock-fd' ? '\x01L' : k === 'hostname' && defaultName && v === defaultHostname(manifest.uuid) ? 'skiff-\x01h' : template(v, manifest.uuid);
      return `${template(k, manifest.uuid)}\x010${value}\x010`;
    })
    .join('');
}

/** The pod dir's subdirs (parents first) and files, the stage1 config excepted. */
function podContent(podDir: string): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(podDir, path);
      if (rel === POD_FILES.stage1Config) continue;
      const st = lstatSync(path);
      if (st.isDirectory()) {
        dirs.push(rel);
        walk(path);
      } else if (st.isFile()) files.push(rel);
      else throw new Error(`unexpected ${rel} in the pod dir`);
    }
  };
  walk(podDir);
  return { dirs, files };
}

const mode = (path: string) => (lstatSync(path).mode & 0o7777).toString(8);

/** The pairs both kinds of plan start with. */
function planHeader(h: { kind?: string; keyHex: string; index?: string; store: string; stage1: string }): NulPairs {
  const pairs: NulPairs = [['format', '1']];
  if (h.kind !== undefined) pairs.push(['kind', h.kind]);
  pairs.push(['key', h.keyHex]);
  if (h.index !== undefined) pairs.push(['index', h.index]);
  pairs.push(['store', h.store], ['stage1', h.stage1]);
  return pairs;
}

/** The cgroup ops as plan pairs; undefined when one cannot be carried (encodeCgroupOp). */
function cgroupPairs(ops: CgroupOp[], uuid: string): NulPairs | undefined {
  try {
    return ops.map((op): [string, string] => ['cgroup', template(encodeCgroupOp(op), uuid)]);
  } catch {
    return undefined;
  }
}

/** The layer dirs stage1 will mount, each with its inode (native/launcher: check_layers). */
function layerPairs(pairs: Stage1Pairs): NulPairs {
  const lowers = new Set(pairs.filter(([k]) => k === 'rootfs-lower').map(([, v]) => v));
  return [...lowers].map((dir): [string, string] => ['layer', `${statSync(dir).ino}\t${dir}`]);
}

/** What a replay must find as the CLI left it for the pod's networks (native/launcher: check_stamps, check_host_network). */
function networkPairs(networks: PodNetworks, bridges: readonly string[], sysctls: ReadonlyArray<[string, string]>, ports: boolean): NulPairs {
  const rules = hostRuleChecks(networks.joined.map((n) => n.def), ports && networks.joined.length > 0);
  return [
    ...networks.stamps.map(([path, stamp]): [string, string] => ['stamp', `${path}\t${stamp}`]),
    ...bridges.map((b): [string, string] => ['host-link', b]),
    ...sysctls.map(([path, value]): [string, string] => ['host-sysctl', `${path}\t${value}`]),
    ...rules.map((r): [string, string] => ['host-rule', r.join('\t')]),
  ];
}

/** The sysctls the host set-up of a prepared pod's networks will have set (host-network.ts), for its plan to check. */
function preparedSysctls(networks: PodNetworks, ports: boolean): Array<[string, string]> {
  const first = networks.joined[0];
  const sysctls: Array<[string, string]> = [];
  if (networks.joined.some((n) => n.def.defaultRoute || n.def.ipMasq) || (ports && first !== undefined)) sysctls.push([IP_FORWARD, '1']);
  if (ports && first !== undefined) sysctls.push([routeLocalnetSysctl(first.def.bridge), '1']);
  return sysctls;
}

/** Writes a plan: atomic (a reader sees a whole plan or none) but, being a cache, not durable. */
function writePlan(path: string, pairs: NulPairs): void {
  writeFileAtomic(path, encodeNulPairs(pairs), 0o600, { durable: false });
}

/**
 * Writes the plan the launcher asked for; returns false (and writes
 * nothing) when this run cannot be replayed exactly.
 */
export function recordRunPlan(request: RunPlanRequest, run: RunRecord): boolean {
  if (run.indexStamp === undefined) return false;
  const values: PodValues = { uuid: run.manifest.uuid, created: run.manifest.created, lockFd: run.lockFd };
  const uuid = values.uuid;
  const pairs: NulPairs = [
    ...planHeader({ keyHex: request.keyHex, index: run.indexStamp, store: run.storeDir, stage1: run.stage1 }),
    ...run.markers.map((m): [string, string] => ['marker', m]),
  ];
  const checks: Array<[tpl: string, real: string]> = [];
  const { dirs, files } = podContent(run.podDir);
  for (const rel of dirs) {
    if (/[\t\n]/.test(rel)) return false;
    pairs.push(['dir', `${mode(join(run.podDir, rel))}\t${rel}`]);
  }
  for (const rel of files) {
    if (/[\t\n]/.test(rel)) return false;
    const path = join(run.podDir, rel);
    const text = readFileSync(path, 'utf8');
    let tpl = template(text, uuid);
    if (rel === POD_FILES.manifest) {
      const created = `"created": ${JSON.stringify(values.created)}`;
      if (!tpl.includes(created)) return false;
      tpl = tpl.replace(created, '"created": "\x01T"');
    }
    pairs.push(['file', `${mode(path)}\t${rel}\t${tpl}`]);
    checks.push([tpl, text]);
  }
  if (run.uuidFileSave !== undefined) pairs.push(['uuid-file-save', run.uuidFileSave]);
  const cgroup = cgroupPairs(run.cgroupOps, uuid);
  if (cgroup === undefined) return false;
  pairs.push(...cgroup, ...layerPairs(run.pairs), ...networkPairs(run.networks, run.host.bridges, run.host.sysctls, (run.manifest.runtime.ports ?? []).length > 0));
  const config = stage1Template(run.pairs, run.manifest);
  pairs.push(['stage1-config', config]);
  checks.push([config, readFileSync(join(run.podDir, POD_FILES.stage1Config), 'utf8')]);
  for (const [tpl, real] of checks) if (expandTemplate(tpl, values) !== real) return false;
  mkdirSync(dirname(request.path), { recursive: true, mode: 0o700 });
  writePlan(request.path, pairs);
  return true;
}

/**
 * For `prepare`: the plan a bare `run-prepared UUID` replays, written into the
 * prepared pod's dir. The cgroup placement is computed now, from this
 * caller's cgroup: the launcher's key holds it, so a run-prepared from
 * elsewhere goes to the CLI. Returns false when nothing was recorded.
 */
export function recordPreparedPlan(request: RunPlanRequest, storeDir: string, preparedDir: string, manifest: PodManifest, networks: PodNetworks): boolean {
  const uuid = manifest.uuid;
  const runDir = podDir(storeDir, 'run', uuid);
  const cgroup = planPodCgroup(uuid, podLimits(manifest.apps), manifest.runtime.cgroupParent);
  // Any fd serves as the sample: the check only needs \1L to come out as the real lock-fd.
  const sample: PodValues = { uuid, created: manifest.created, lockFd: 7 };
  const pairs = stage1Pairs(runDir, manifest, sample.lockFd, cgroup.cgroup, networks.values, networks.hooks);
  const config = stage1Template(pairs, manifest);
  if (expandTemplate(config, sample) !== encodeNulPairs(pairs).toString('utf8')) return false;
  const ops = cgroupPairs(cgroup.ops, uuid);
  if (ops === undefined) return false;
  const plan: NulPairs = [
    ...planHeader({ kind: 'run-prepared', keyHex: request.keyHex, store: storeDir, stage1: stage1Path() }),
    ...ops,
    ...layerPairs(pairs),
    // The host set-up has not run yet: its bridges must be there by run-prepared, else the CLI makes them.
    ...networkPairs(networks, [...new Set(networks.joined.map((n) => n.def.bridge))], preparedSysctls(networks, (manifest.runtime.ports ?? []).length > 0), (manifest.runtime.ports ?? []).length > 0),
    ['stage1-config', config],
  ];
  writePlan(join(preparedDir, PREPARED_PLAN_FILE), plan);
  return true;
}

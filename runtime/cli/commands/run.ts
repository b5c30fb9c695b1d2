/** `skiff run`, `prepare` and `run-prepared`: prepare a pod and hand it to stage1. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { lockDir, type HeldLock } from '../../../native/bindings/flock.js';
import { InvalidStateError, UsageError } from '../../errors.js';
import { podDir } from '../../pods/pod-dirs.js';
import { preparePod } from '../../pods/prepare-pod.js';
import { podState } from '../../pods/pod-state.js';
import { resolvePodUuid } from '../../pods/pod-uuid.js';
import { moveToRun, startPod, type Handoff } from '../../pods/start-pod.js';
import { lastUsedMarker } from '../../../image/store/image-index.js';
import { storePaths } from '../../../image/store/store-paths.js';
import { fileStamp } from '../../file-stamp.js';
import { recordPreparedPlan, recordRunPlan, runIsReplayable } from '../../pods/run-plan.js';
import { PREPARED_PLAN_REQUEST, type RunPlanRequest } from '../run-plan-request.js';
import { progressFor } from '../fetch-progress.js';
import type { GlobalOptions } from '../global-options.js';
import { sourceOptionsOf } from '../image-options.js';
import { parseFlagsAndOperands, parsePodArgs, POD_FLAGS, RUN_PREPARED_FLAGS, type FlagSpec } from '../pod-args.js';
import { resolvePodNetworks, setUpHostNetworks, type PodNetworks } from '../../pods/pod-network.js';
import { hostResolvConf } from '../../pods/host-resolv-conf.js';
import type { PodRuntime } from '../../pods/pod-spec.js';
import { podCommandLine, runtimeFromFlags, type PodGlobals } from '../pod-spec-args.js';
import { assertPortsFree, portsDir } from '../../../network/port-forward.js';

/** The --net of pods that give none (like SKIFF_DIR for --dir): `none` for hosts or CI jobs that want no network by default. */
export const NET_ENV = 'SKIFF_NET';

/** Flags `prepare` takes: `run`'s, less --interactive (a prepared pod has no terminal yet; run-prepared takes it). */
const PREPARE_FLAGS: Record<string, FlagSpec> = Object.fromEntries(Object.entries(POD_FLAGS).filter(([name]) => name !== 'interactive'));

/** What the pod flags take from outside the command line: --insecure-options, and $SKIFF_NET for a pod without --net. */
function podGlobals(global: GlobalOptions): PodGlobals {
  const net = process.env[NET_ENV];
  return {
    insecureSeccomp: global.insecureOptions.has('seccomp'),
    insecurePaths: global.insecureOptions.has('paths'),
    ...(net === undefined || net === '' ? {} : { defaultNet: net }),
  };
}

/** `--dns=host` picks the host's file by its contents (host-resolv-conf.ts): a replay after either file changed goes to the CLI. */
function withResolverStamps(networks: PodNetworks, runtime: PodRuntime): PodNetworks {
  return runtime.dns.includes('host') ? { ...networks, stamps: [...networks.stamps, ...hostResolvConf().stamps] } : networks;
}

function pullOptions(global: GlobalOptions, quiet: boolean) {
  return { ...sourceOptionsOf(global), listener: progressFor(quiet) };
}

export async function run(global: GlobalOptions, argv: string[], planRequest?: RunPlanRequest): Promise<never> {
  const { spec, quiet, uuidFileSave: save } = podCommandLine(parsePodArgs(argv), podGlobals(global));
  const paths = storePaths(global.dir);
  const replayable = planRequest !== undefined && runIsReplayable(spec);
  const indexBefore = replayable ? fileStamp(paths.index) : undefined;
  // Before anything is made: an unknown network, a bad definition or a subnet that overlaps the host's routes leaves no pod behind.
  // A numeric --port another pod holds fails here, before anything is made (named ones once the images are known, in startPod).
  assertPortsFree(portsDir(), (spec.ports ?? []).flatMap((p) => (p.kind === 'numeric' ? [p.forward] : [])));
  const networks = withResolverStamps(await resolvePodNetworks(spec.runtime.net, global.localConfig), spec.runtime);
  const host = await setUpHostNetworks(networks, { ports: (spec.ports ?? []).length > 0 });
  const prepared = await preparePod(global.dir, spec, pullOptions(global, quiet), { keepLock: true });
  if (save !== undefined) writeFileSync(save, `${prepared.uuid}\n`);
  const lock = prepared.lock;
  if (lock === undefined) throw new InvalidStateError('internal: prepared pod is not locked');
  const dir = moveToRun(global.dir, prepared.uuid, 'prepare');
  const record = (handoff: Handoff) => {
    if (!replayable || planRequest === undefined) return;
    try {
      recordRunPlan(planRequest, {
        ...handoff,
        storeDir: global.dir,
        // Unchanged across the lookup: the run fetched nothing and raced no other writer.
        indexStamp: indexBefore !== undefined && indexBefore === fileStamp(paths.index) ? indexBefore : undefined,
        markers: prepared.imageIds.map((id) => lastUsedMarker(paths, id)),
        podDir: dir,
        uuidFileSave: save === undefined ? undefined : resolve(save),
      });
    } catch (err) {
      // A plan is only a cache: the pod runs all the same.
      if (global.debug) process.stderr.write(`skiff: run plan not recorded: ${String(err)}\n`);
    }
  };
  return startPod(dir, lock, { manifest: prepared.manifest, beforeExec: record, localConfig: global.localConfig, networks, host });
}

export async function prepare(global: GlobalOptions, argv: string[], planRequest?: RunPlanRequest): Promise<void> {
  const { spec, uuidFileSave: save } = podCommandLine(parsePodArgs(argv, PREPARE_FLAGS), podGlobals(global));
  const networks = withResolverStamps(await resolvePodNetworks(spec.runtime.net, global.localConfig), spec.runtime);
  const prepared = await preparePod(global.dir, spec, pullOptions(global, true), { keepLock: false });
  // Whatever the flags, a prepared pod's manifest is fixed now: its run-prepared can always be replayed.
  if (planRequest !== undefined && planRequest.path === PREPARED_PLAN_REQUEST) {
    try {
      recordPreparedPlan(planRequest, global.dir, prepared.dir, prepared.manifest, networks);
    } catch (err) {
      // A plan is only a cache: run-prepared works all the same, through the CLI.
      if (global.debug) process.stderr.write(`skiff: run-prepared plan not recorded: ${String(err)}\n`);
    }
  }
  if (save !== undefined) writeFileSync(save, `${prepared.uuid}\n`);
  process.stdout.write(`${prepared.uuid}\n`);
}

export async function runPrepared(global: GlobalOptions, argv: string[]): Promise<never> {
  const { flags: pod, operands: query } = parseFlagsAndOperands(argv, RUN_PREPARED_FLAGS);
  if (query.length !== 1) throw new UsageError('run-prepared takes one pod UUID', { hint: 'skiff run-prepared [flags] UUID' });
  // Checked before the pod is touched: a bad value leaves it prepared.
  // --insecure-options=paths relaxes a prepared pod too (rkt's run-prepared takes it); without it the pod keeps what prepare chose.
  const overrides = { ...runtimeFromFlags(pod), ...(global.insecureOptions.has('paths') ? { insecurePaths: true } : {}) };
  const location = resolvePodUuid(global.dir, query[0] as string);
  if (location.state !== 'prepared') {
    throw new InvalidStateError(`pod ${location.uuid} is ${podState(global.dir, location)}, not prepared`, {
      input: location.uuid,
      hint: "only a pod made by 'skiff prepare' can be started with run-prepared",
    });
  }
  let lock: HeldLock;
  try {
    lock = lockDir(podDir(global.dir, 'prepared', location.uuid), `pod ${location.uuid}`);
  } catch (err) {
    throw new InvalidStateError(`pod ${location.uuid} is being started by another command`, { input: location.uuid, cause: err });
  }
  let dir: string;
  try {
    dir = moveToRun(global.dir, location.uuid, 'prepared');
  } catch (err) {
    lock.release();
    throw err;
  }
  return startPod(dir, lock, { overrides, localConfig: global.localConfig });
}

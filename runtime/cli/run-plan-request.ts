/**
 * The native launcher (native/launcher/launch-main.c) starts the CLI for a
 * `skiff run` it has no plan for with SKIFF_RUN_PLAN (where to record one)
 * and SKIFF_RUN_PLAN_KEY (the hex of what the plan depends on); a `prepare`
 * with SKIFF_RUN_PLAN=@pod (the plan of its run-prepared goes in the pod dir). They are
 * taken out of the environment at once, so they never reach a pod
 * (`--inherit-env`) or a child process.
 */
import type { RunPlanRequest } from '../pods/run-plan.js';

export type { RunPlanRequest };

/** SKIFF_RUN_PLAN for `prepare`: the plan goes into the prepared pod's dir (run-plan.ts). */
export const PREPARED_PLAN_REQUEST = '@pod';

export function takeRunPlanRequest(env: NodeJS.ProcessEnv = process.env): RunPlanRequest | undefined {
  const path = env['SKIFF_RUN_PLAN'];
  const keyHex = env['SKIFF_RUN_PLAN_KEY'];
  delete env['SKIFF_RUN_PLAN'];
  delete env['SKIFF_RUN_PLAN_KEY'];
  if (path === undefined || keyHex === undefined || !/^([0-9a-f]{2})+$/.test(keyHex)) return undefined;
  return { path, keyHex };
}

/**
 * The pod's `host-down` commands (native/stage1-protocol.md, native/host-hooks.c), run by `rm`
 * and `gc` when stage1 could not run them itself (it was SIGKILLed). Same argv, same
 * placeholders, same fixed environment as stage1's, with the values the pod left behind:
 * `{uuid}` and `{pod-dir}` from its stage1 config (the pod-dir stage1 saw, also when the pod has
 * moved to garbage/ since), `{ip:NAME}` from its net-info.json (empty when the attach never got
 * that far), and `{netns}` always empty: the pod's netns lived in its supervisor, which is dead.
 * A down must cope with an empty `{netns}` (the iptables ones never use it).
 *
 * Every down runs, last first, whatever failed: downs are idempotent, and one that finds its
 * state already gone (stage1 ran it before it died, say) fails harmlessly. Failures are
 * returned, not thrown, so the rest of the teardown still runs.
 */
import { spawn } from 'node:child_process';
import { valuesOf, type NulPairs } from './nul-pairs.js';
import { readNetInfo } from './pod-net-info.js';

/** stage1's HOOK_PATH: nothing else of the caller's environment reaches a hook. */
export const HOOK_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export interface HookValues {
  netns: string;
  uuid: string;
  podDir: string;
  /** Network name → the pod's address on it. */
  ips: ReadonlyMap<string, string>;
}

/** One hook argument with its placeholders replaced, as native/host-hooks.c's expand(); other braces stay. */
export function expandHookArg(arg: string, v: HookValues): string {
  return arg.replace(/\{(netns|uuid|pod-dir|ip:[^}]*)\}/g, (_, name: string) => {
    if (name === 'netns') return v.netns;
    if (name === 'uuid') return v.uuid;
    if (name === 'pod-dir') return v.podDir;
    return v.ips.get(name.slice(3)) ?? '';
  });
}

/** The `host-down` argvs of a stage1 config, expanded, in the order they must run (last first). */
export function hostDownCommands(config: NulPairs, v: HookValues): string[][] {
  return valuesOf(config, 'host-down')
    .map((value) => value.split('\t').map((arg) => expandHookArg(arg, v)))
    .reverse();
}

/** One down, as stage1 runs it: stdin /dev/null, the fixed PATH, cwd /; its output is kept for the failure line only. */
function runOne(argv: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(argv[0]!, argv.slice(1), { env: HOOK_ENV, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err: NodeJS.ErrnoException) => resolve(`host-down ${argv[0]}: ${err.code ?? err.message}`));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(undefined);
      else resolve(`host-down ${argv[0]}: ${code !== null ? `exit ${code}` : `killed by signal ${signal}`}: ${stderr.trim()}`);
    });
  });
}

/** Runs the pod's host-down commands (see above); returns one line per failed command. */
export async function runHostDowns(podDir: string, config: NulPairs): Promise<string[]> {
  if (valuesOf(config, 'host-down').length === 0) return [];
  const uuid = valuesOf(config, 'uuid')[0] ?? '';
  const ips = new Map((readNetInfo(podDir) ?? []).map((n) => [n.name, n.ip] as const));
  const commands = hostDownCommands(config, { netns: '', uuid, podDir: valuesOf(config, 'pod-dir')[0] ?? podDir, ips });
  const failures: string[] = [];
  for (const argv of commands) {
    const failed = await runOne(argv);
    if (failed !== undefined) failures.push(failed);
  }
  return failures;
}

/**
 * One CNI plugin execution (spec 1.0, section 2): the command and the attachment in `CNI_*`
 * environment variables, the plugin's execution configuration on stdin, a result (or nothing)
 * as JSON on stdout; a non-zero exit carries an error `{code, msg, details}` on stdout. Running
 * plugin binaries is the CNI contract, the one exec of this kind on the runtime path.
 */
import { spawn } from 'node:child_process';
import { NetworkError } from '../../runtime/errors.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** What identifies an attachment (spec: "Attachment Parameters") and where plugins live. */
export interface CniAttachment {
  containerId: string;
  /** Path of the container's netns; may be gone for DEL. */
  netns: string;
  ifName: string;
  /** CNI_ARGS: `K=V;K=V`, or empty. */
  args: string;
  /** The plugin dirs, passed on as CNI_PATH. */
  path: readonly string[];
}

export const DEFAULT_PLUGIN_TIMEOUT_MS = 60_000;
/** A plugin's stdout and stderr are kept up to this many bytes each: a result is small. */
const MAX_OUTPUT = 1 << 20;
/** Used when the caller has no PATH: plugins run iptables and the like. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function cniEnv(command: CniCommand, att: CniAttachment, callerPath = process.env['PATH']): Record<string, string> {
  return {
    PATH: callerPath === undefined || callerPath === '' ? DEFAULT_PATH : callerPath,
    CNI_COMMAND: command,
    CNI_CONTAINERID: att.containerId,
    CNI_NETNS: att.netns,
    CNI_IFNAME: att.ifName,
    CNI_ARGS: att.args,
    CNI_PATH: att.path.join(':'),
  };
}

/** A plugin's error, as spec 1.0 defines it (code 1-99 the spec's, 100+ the plugin's). */
export interface CniErrorBody {
  code: number;
  msg: string;
  details?: string;
}

function errorBody(stdout: string): CniErrorBody | undefined {
  try {
    const parsed = JSON.parse(stdout) as Partial<CniErrorBody>;
    if (typeof parsed.code === 'number' && typeof parsed.msg === 'string') return parsed as CniErrorBody;
  } catch {
    // not JSON: the caller falls back to stderr
  }
  return undefined;
}

/** What a failed plugin said: its error JSON, else the end of its stderr. */
function failure(stdout: string, stderr: string, status: string): string {
  const body = errorBody(stdout);
  if (body !== undefined) return `error ${body.code}: ${body.msg}${body.details === undefined || body.details === '' ? '' : ` (${body.details})`}`;
  const said = stderr.trim().split('\n').slice(-3).join(' ') || stdout.trim().slice(0, 500);
  return `${status}${said === '' ? ' without an error message' : `: ${said}`}`;
}

export interface PluginRun {
  /** The plugin's binary. */
  binary: string;
  /** The network and plugin type, for messages. */
  network: string;
  type: string;
}

/**
 * Runs one plugin; resolves to its parsed stdout (undefined when empty: DEL and CHECK print
 * nothing). Fails with a NetworkError naming the network, the plugin, the command and what the
 * plugin said; a plugin that outlives `timeoutMs` is SIGKILLed.
 */
export async function execPlugin(run: PluginRun, command: CniCommand, att: CniAttachment, config: object, timeoutMs = DEFAULT_PLUGIN_TIMEOUT_MS): Promise<unknown> {
  const what = `network ${run.network}: CNI plugin ${run.type} ${command}`;
  const child = spawn(run.binary, [], { env: cniEnv(command, att), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < MAX_OUTPUT) stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < MAX_OUTPUT) stderr += d; });
  // A plugin that exits without reading stdin makes the write fail with EPIPE: its exit status says what happened.
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(config));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
    // A process the plugin left behind may hold its stdout open: stop waiting for it.
    child.stdout.destroy();
    child.stderr.destroy();
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', (err) => reject(new NetworkError(`${what}: cannot run ${run.binary}: ${err.message}`, { input: run.binary, cause: err })));
    child.on('close', (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  if (timedOut) {
    throw new NetworkError(`${what}: no answer within ${timeoutMs / 1000} s (killed)`, { input: run.binary, hint: 'see what the plugin waits for (a lock, a daemon such as dhcp)' });
  }
  if (code !== 0) {
    const status = signal !== null ? `killed by ${signal}` : `exit ${code}`;
    throw new NetworkError(`${what} failed: ${failure(stdout, stderr, status)}`, { input: run.network });
  }
  if (stdout.trim() === '') return undefined;
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    throw new NetworkError(`${what}: its output is not JSON: ${stdout.trim().slice(0, 200)}`, { input: run.binary });
  }
}

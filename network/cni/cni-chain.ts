/**
 * A network configuration's plugin chain applied to an attachment (spec 1.0, section 3):
 *   ADD   each plugin in order, each given the previous one's result as `prevResult`; the last
 *         result is the attachment's (the caller keeps it for DEL and CHECK). When one fails,
 *         the whole chain is DELeted (the spec: a delete follows even a failed add), so a failed
 *         ADD leaves nothing half-configured, and the ADD error is what is thrown.
 *   DEL   each plugin in reverse order, each given the final ADD result (when there is one).
 *   CHECK each plugin in order, given the final ADD result; skipped for `disableCheck` and for
 *         versions before 0.4.0, which have no CHECK.
 * Every plugin binary is looked up before the first runs: a missing one runs nothing.
 */
import { NetworkError } from '../../runtime/errors.js';
import type { CniNetwork, CniPluginConf } from './cni-config.js';
import { DEFAULT_PLUGIN_TIMEOUT_MS, execPlugin, type CniAttachment, type CniCommand } from './cni-exec.js';
import { requirePlugins } from './cni-plugin-dirs.js';

export interface ChainOptions {
  timeoutMs?: number;
}

/** What a plugin reads on stdin: its configuration with the network's name and version, and prevResult; `capabilities` removed (Skiff passes no runtimeConfig). */
export function executionConfig(net: CniNetwork, plugin: CniPluginConf, prevResult: unknown): Record<string, unknown> {
  const { capabilities: _dropped, ...rest } = plugin;
  return { ...rest, cniVersion: net.cniVersion, name: net.name, ...(prevResult === undefined ? {} : { prevResult }) };
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

async function runOne(net: CniNetwork, binary: string, i: number, command: CniCommand, att: CniAttachment, prevResult: unknown, options: ChainOptions): Promise<unknown> {
  const plugin = net.plugins[i] as CniPluginConf;
  return execPlugin({ binary, network: net.name, type: plugin.type }, command, att, executionConfig(net, plugin, prevResult), options.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS);
}

export async function delChain(net: CniNetwork, att: CniAttachment, addResult: unknown, options: ChainOptions = {}): Promise<void> {
  const binaries = requirePlugins(net, att.path);
  for (let i = net.plugins.length - 1; i >= 0; i--) await runOne(net, binaries[i] as string, i, 'DEL', att, addResult, options);
}

export async function addChain(net: CniNetwork, att: CniAttachment, options: ChainOptions = {}): Promise<unknown> {
  const binaries = requirePlugins(net, att.path);
  let result: unknown;
  for (let i = 0; i < net.plugins.length; i++) {
    try {
      result = await runOne(net, binaries[i] as string, i, 'ADD', att, result, options);
    } catch (err) {
      try {
        await delChain(net, att, undefined, options);
      } catch (undo) {
        throw new NetworkError(`${(err as Error).message}; undoing it failed too: ${(undo as Error).message}`, { input: net.name, cause: err });
      }
      throw err;
    }
    if (result === undefined) {
      const type = (net.plugins[i] as CniPluginConf).type;
      await delChain(net, att, undefined, options).catch(() => undefined);
      throw new NetworkError(`network ${net.name}: CNI plugin ${type} ADD printed no result`, { input: type, hint: 'the plugin does not follow the CNI spec' });
    }
  }
  return result;
}

/** Whether CHECK applies to this network at all. */
export function checkable(net: CniNetwork): boolean {
  return !net.disableCheck && versionAtLeast(net.cniVersion, 0, 4);
}

export async function checkChain(net: CniNetwork, att: CniAttachment, addResult: unknown, options: ChainOptions = {}): Promise<void> {
  if (!checkable(net)) return;
  const binaries = requirePlugins(net, att.path);
  for (let i = 0; i < net.plugins.length; i++) await runOne(net, binaries[i] as string, i, 'CHECK', att, addResult, options);
}

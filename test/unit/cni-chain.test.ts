/**
 * The CNI protocol against fake plugins (small shell scripts written into a temp dir): the
 * CNI_* environment, stdin, prevResult chaining, DEL in reverse with the ADD's result, error
 * JSON, a missing plugin, a plugin that hangs, and the pod-dir record DEL and CHECK use.
 */
import test from 'ava';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCniConfig, type CniNetwork } from '../../network/cni/cni-config.js';
import { addChain, checkChain, delChain } from '../../network/cni/cni-chain.js';
import { addAttachment, checkAttachment, delAttachment, readAttachment } from '../../network/cni/cni-attachments.js';
import type { CniAttachment } from '../../network/cni/cni-exec.js';

interface Call {
  plugin: string;
  command: string;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  path: string;
  stdin: Record<string, unknown> & { prevResult?: { by?: string } };
}

/** A plugin dir with fake plugins; each call is one JSON line in `calls`. */
function fakePlugins(t: { teardown(fn: () => void): void }): { dir: string; calls: () => Call[]; add: (name: string, body?: string) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-fake-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  const add = (name: string, body = '') => {
    const script = `#!/bin/sh
stdin=$(cat)
printf '{"plugin":"%s","command":"%s","containerId":"%s","netns":"%s","ifName":"%s","args":"%s","path":"%s","stdin":%s}\\n' \\
  "${name}" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$stdin" >> '${log}'
${body}
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","by":"${name}","interfaces":[{"name":"%s","mac":"02:00:00:00:00:0a","sandbox":"%s"}],"ips":[{"address":"198.18.3.4/24","gateway":"198.18.3.1","interface":0}]}' "$CNI_IFNAME" "$CNI_NETNS"
fi
`;
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  };
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call) : []);
  return { dir, calls, add };
}

function network(types: string[], extra: object = {}): CniNetwork {
  return parseCniConfig({ cniVersion: '1.0.0', name: 'fake', ...extra, plugins: types.map((type) => ({ type, marker: `${type}-conf` })) }, 'fake.conflist', true);
}

function attachment(dir: string): CniAttachment {
  return { containerId: 'c0ffee00-0000-4000-8000-000000000001', netns: '/proc/1234/ns/net', ifName: 'eth1', args: 'IgnoreUnknown=1;IP=198.18.3.9', path: [dir, '/nonexistent'] };
}

test('ADD: each plugin in order, with the CNI_* environment, its own config, the name and version, and the previous result', async (t) => {
  const p = fakePlugins(t);
  p.add('first');
  p.add('second');
  const result = (await addChain(network(['first', 'second']), attachment(p.dir))) as { by: string };
  t.is(result.by, 'second', 'the last plugin\'s result is the attachment\'s');
  const [one, two, ...rest] = p.calls();
  t.is(rest.length, 0);
  t.like(one, { plugin: 'first', command: 'ADD', containerId: 'c0ffee00-0000-4000-8000-000000000001', netns: '/proc/1234/ns/net', ifName: 'eth1', args: 'IgnoreUnknown=1;IP=198.18.3.9', path: `${p.dir}:/nonexistent` });
  t.deepEqual(one!.stdin, { type: 'first', marker: 'first-conf', cniVersion: '1.0.0', name: 'fake' }, 'no prevResult for the first');
  t.like(two, { plugin: 'second', command: 'ADD' });
  t.is(two!.stdin.prevResult?.by, 'first', 'the second gets the first\'s result');
  t.is(two!.stdin['marker'], 'second-conf');
});

test('DEL: in reverse order, each given the final ADD result; CHECK in order with it; disableCheck runs none', async (t) => {
  const p = fakePlugins(t);
  p.add('first');
  p.add('second');
  const net = network(['first', 'second']);
  const result = await addChain(net, attachment(p.dir));
  await delChain(net, attachment(p.dir), result);
  await checkChain(net, attachment(p.dir), result);
  await checkChain(network(['first', 'second'], { disableCheck: true }), attachment(p.dir), result);
  const calls = p.calls().slice(2);
  t.deepEqual(calls.map((c) => `${c.command} ${c.plugin}`), ['DEL second', 'DEL first', 'CHECK first', 'CHECK second']);
  for (const c of calls) t.is(c.stdin.prevResult?.by, 'second', `${c.command} ${c.plugin} gets the final ADD result`);
});

test('a failing plugin: its error JSON in the message, and the whole chain DELeted (reverse) so nothing stays half-added', async (t) => {
  const p = fakePlugins(t);
  p.add('first');
  p.add('broken', `if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","code":7,"msg":"invalid bridge","details":"name too long"}'; exit 1; fi`);
  p.add('third');
  await t.throwsAsync(addChain(network(['first', 'broken', 'third']), attachment(p.dir)), {
    message: 'network fake: CNI plugin broken ADD failed: error 7: invalid bridge (name too long)',
  });
  const calls = p.calls();
  t.deepEqual(calls.map((c) => `${c.command} ${c.plugin}`), ['ADD first', 'ADD broken', 'DEL third', 'DEL broken', 'DEL first']);
  t.is(calls[2]!.stdin.prevResult, undefined, 'no ADD result to give');
});

test('a plugin failing without error JSON: its stderr is the message', async (t) => {
  const p = fakePlugins(t);
  p.add('noisy', 'if [ "$CNI_COMMAND" = ADD ]; then echo "cannot open /dev/net/tun" >&2; exit 3; fi');
  await t.throwsAsync(addChain(network(['noisy']), attachment(p.dir)), { message: 'network fake: CNI plugin noisy ADD failed: exit 3: cannot open /dev/net/tun' });
});

test('a missing plugin: nothing runs, the error names the type, the network and the dirs searched', async (t) => {
  const p = fakePlugins(t);
  p.add('first');
  await t.throwsAsync(addChain(network(['first', 'absent']), attachment(p.dir)), { message: `network fake (fake.conflist): CNI plugin "absent" not found in ${p.dir}:/nonexistent` });
  t.deepEqual(p.calls(), [], 'not even the first plugin ran');
});

test('a plugin that does not answer is killed after the timeout', async (t) => {
  const p = fakePlugins(t);
  p.add('stuck', 'if [ "$CNI_COMMAND" = ADD ]; then exec sleep 600; fi');
  await t.throwsAsync(addChain(network(['stuck']), attachment(p.dir), { timeoutMs: 200 }), { message: /network fake: CNI plugin stuck ADD: no answer within 0.2 s \(killed\)/ });
  // The ADD ran (the error says so) but may have been killed before its shell logged it: a loaded
  // CI took longer than 0.2 s to get there once. The DEL that follows is what is checked here.
  const commands = p.calls().map((c) => c.command);
  t.deepEqual(commands.filter((c) => c !== 'ADD'), ['DEL'], 'and the chain is DELeted');
  t.is(commands.at(-1), 'DEL', 'after the ADD');
});

test('a plugin that exits but leaves a process holding its stdout does not hold the run past the timeout', async (t) => {
  const p = fakePlugins(t);
  // The leftover sleeps on in the background with the plugin's stdout; its pid is kept so the test can end it.
  p.add('leaky', `if [ "$CNI_COMMAND" = ADD ]; then sleep 600 & echo $! > "$0.child"; exit 0; fi`);
  t.teardown(() => {
    try {
      process.kill(Number(readFileSync(join(p.dir, 'leaky.child'), 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  });
  await t.throwsAsync(addChain(network(['leaky']), attachment(p.dir), { timeoutMs: 300 }), { message: /CNI plugin leaky ADD: no answer within 0.3 s/ });
});

test('attachments: ADD keeps config, parameters and result in the pod dir; DEL uses them and removes the record; DEL again is success', async (t) => {
  const p = fakePlugins(t);
  p.add('first');
  const cache = join(p.dir, 'pod', 'cni');
  const net = network(['first']);
  const record = await addAttachment(cache, net, attachment(p.dir));
  t.deepEqual(readAttachment(cache, 'eth1'), record);
  t.like(record, { containerId: 'c0ffee00-0000-4000-8000-000000000001', ifName: 'eth1', args: 'IgnoreUnknown=1;IP=198.18.3.9', result: { by: 'first' } });
  await t.throwsAsync(addAttachment(cache, net, attachment(p.dir)), { message: /eth1 of c0ffee00.* is attached already/ });
  await checkAttachment(cache, attachment(p.dir));
  // DEL with another config (net.d edited meanwhile): the kept one runs, with the ADD's CNI_ARGS.
  p.add('other');
  await delAttachment(cache, network(['other']), { ...attachment(p.dir), args: '' });
  t.is(readAttachment(cache, 'eth1'), undefined);
  await delAttachment(cache, network(['first']), attachment(p.dir));
  const calls = p.calls();
  t.deepEqual(calls.map((c) => `${c.command} ${c.plugin}`), ['ADD first', 'CHECK first', 'DEL first', 'DEL first']);
  t.is(calls[2]!.args, 'IgnoreUnknown=1;IP=198.18.3.9');
  t.is(calls[2]!.stdin.prevResult?.by, 'first');
  t.is(calls[3]!.stdin.prevResult, undefined, 'no record: DEL without prevResult');
  await t.throwsAsync(checkAttachment(cache, attachment(p.dir)), { message: /eth1 of .* is not attached/ });
});

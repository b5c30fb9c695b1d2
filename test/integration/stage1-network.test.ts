/**
 * The pod's network namespace: a fresh one (`new`), the host's, or a prepared
 * one joined by path, and the netns-cleanup teardown step. Addresses are from
 * 198.18.0.0/16 and only inside namespaces these tests create; the root
 * namespace's network is never touched.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { firstJson, probe, runPod, sharedProbeRootfs } from '../support/stage1-harness.js';
import { createNetns, testNetns } from '../support/netns.js';
import { mountsUnder } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

const nsInode = (link: string): number => Number(/\[(\d+)\]/.exec(link)![1]);

/** The client's shell: wait until the pod's netns has a listener on 8080 (0x1F90, state 0A), then fetch once. */
const WAIT_FOR_LISTENER = 'until grep -q ":1F90 00000000:0000 0A" /proc/net/tcp; do sleep 0.02; done; exec /probe fetch 127.0.0.1 8080';

test('netns new: only loopback, up, with 127.0.0.1; no routes', async (t) => {
  const r = await runPod(t, { netns: 'new', apps: [probe(['info'])] });
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  t.is(info.interfaces.length, 1);
  t.like(info.interfaces[0], { name: 'lo', up: true });
  t.true(info.interfaces[0].addresses.includes('127.0.0.1/8'));
  t.deepEqual(info.routes, []);
  t.not(info.ns.net, nsInode(readlinkSync('/proc/self/ns/net')));
});

test('netns new: the apps of a pod share it (TCP over loopback)', async (t) => {
  const r = await runPod(t, {
    netns: 'new',
    apps: [
      probe(['serve', '8080', 'pong', '--once'], { name: 'server' }),
      { name: 'client', exec: '/bin/sh', args: ['-c', WAIT_FOR_LISTENER] },
    ],
  });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  t.true(lines.some((l) => l.listening === 8080));
  t.true(lines.some((l) => l.ok === true && l.data === 'pong\n'), r.stdout);
});

test('netns host: the host\'s namespace', async (t) => {
  const r = await runPod(t, { netns: 'host', apps: [probe(['info'])] });
  t.is(r.code, 0, r.stderr);
  t.is(firstJson(r).ns.net, nsInode(readlinkSync('/proc/self/ns/net')));
});

test('netns path: the pod joins a prepared namespace and sees its interfaces', async (t) => {
  const ns = await testNetns(t);
  // A veth pair with both ends inside: the dummy driver is not available on every host.
  t.is((await ns.run('ip', ['link', 'add', 'skt0', 'type', 'veth', 'peer', 'name', 'skt1'])).code, 0);
  t.is((await ns.run('ip', ['addr', 'add', '198.18.7.1/24', 'dev', 'skt0'])).code, 0);
  t.is((await ns.run('ip', ['link', 'set', 'skt0', 'up'])).code, 0);
  const r = await runPod(t, { netns: ns.path, apps: [probe(['info'])] });
  t.is(r.code, 0, r.stderr);
  const info = firstJson(r);
  t.is(info.ns.net, statSync(ns.path).ino);
  const skt0 = (info.interfaces as { name: string; addresses: string[] }[]).find((i) => i.name === 'skt0');
  t.deepEqual(skt0?.addresses.filter((a) => a.includes('.')), ['198.18.7.1/24']);
  t.true(existsSync(ns.path), 'no netns-cleanup given: the namespace stays');
});

test('netns-cleanup: the bind-mounted namespace is unmounted and removed at teardown', async (t) => {
  const ns = await createNetns('skc');
  t.teardown(() => ns.destroy());
  const r = await runPod(t, { netns: ns.path, netnsCleanup: [ns.path], apps: [probe(['exit', '0'])] });
  t.is(r.code, 0, r.stderr);
  t.false(existsSync(ns.path));
  t.deepEqual(mountsUnder(ns.path), []);
  t.notRegex(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), new RegExp(`^${ns.name}\\b`, 'm'));
});

test('netns-cleanup of a path already gone is success', async (t) => {
  const r = await runPod(t, { netnsCleanup: ['/run/netns/skiff-test-never-existed'], fileCleanup: ['/nonexistent/skiff-file'], apps: [probe(['exit', '0'])] });
  t.is(r.code, 0);
  t.is(r.stderr, '');
});

test('a netns path that does not exist: 254 naming the path', async (t) => {
  const r = await runPod(t, { netns: '/run/netns/skiff-test-missing', apps: [probe(['exit', '0'])] });
  t.is(r.code, 254);
  t.is(r.state.stage1Error, 'netns: open /run/netns/skiff-test-missing: ENOENT\n');
});

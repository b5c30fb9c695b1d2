import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createNetns, testNetns } from '../support/netns.js';

const netnsList = (): string => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

test('a test netns is isolated: only loopback, up, and its own addresses', async (t) => {
  const ns = await testNetns(t);
  t.true(existsSync(ns.path));
  const links = await ns.run('ip', ['-o', 'link', 'show']);
  t.is(links.code, 0, links.stderr);
  t.deepEqual(
    links.stdout.trim().split('\n').map((l) => l.split(':')[1]?.trim()),
    ['lo'],
  );
  t.regex(links.stdout, /LOOPBACK,UP/);
  const add = await ns.run('ip', ['link', 'add', 'skt0', 'type', 'veth', 'peer', 'name', 'skt1']);
  t.is(add.code, 0, add.stderr);
  t.is((await ns.run('ip', ['addr', 'add', '198.19.0.1/24', 'dev', 'skt0'])).code, 0);
  t.regex((await ns.run('ip', ['-o', 'addr', 'show', 'dev', 'skt0'])).stdout, /198\.19\.0\.1\/24/);
  t.notRegex(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }), /skt0/, 'the root namespace never sees it');
});

test('destroy removes the namespace and is idempotent; failures report exit codes', async (t) => {
  const ns = await createNetns();
  t.regex(netnsList(), new RegExp(`^${ns.name}\\b`, 'm'));
  const fail = await ns.run('sh', ['-c', 'exit 3']);
  t.is(fail.code, 3);
  await ns.destroy();
  await ns.destroy();
  t.false(existsSync(ns.path));
  t.notRegex(netnsList(), new RegExp(`^${ns.name}\\b`, 'm'));
});

import test from 'ava';
import { matchFastPath } from '../../runtime/cli/fast-path.js';

test('run with global flags before it takes the fast path', (t) => {
  const fast = matchFastPath(['--dir', '/d', '--insecure-options=http', 'run', 'img', '--exec', '/x', '--', '--dir', 'arg'], {});
  t.is(fast?.command, 'run');
  t.is(fast?.global.dir, '/d');
  t.deepEqual([...(fast?.global.insecureOptions ?? [])], ['http']);
  t.deepEqual(fast?.args, ['img', '--exec', '/x', '--', '--dir', 'arg'], 'a global flag after -- belongs to the app');
});

test('SKIFF_DIR and the defaults apply as in the full parser', (t) => {
  t.is(matchFastPath(['prepare', 'img'], { SKIFF_DIR: '/env' })?.global.dir, '/env');
  t.is(matchFastPath(['prepare', 'img'], {})?.global.dir, '/var/lib/skiff');
  t.is(matchFastPath(['run-prepared', 'abc'], {})?.global.format, 'text');
});

test('anything unusual goes through the full command tree', (t) => {
  for (const argv of [
    ['version'],
    ['--bogus', 'run', 'img'],
    ['run', '--help'],
    ['run', 'img', '--dir', '/x'],
    ['--format', 'xml', 'run', 'img'],
    ['--insecure-options=nope', 'run', 'img'],
    ['--dir'],
    [],
  ]) {
    t.is(matchFastPath(argv, {}), undefined, argv.join(' '));
  }
});

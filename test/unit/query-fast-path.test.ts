import test from 'ava';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../runtime/cli/program.js';
import { matchQueryPath, QUERY_SHAPES } from '../../runtime/cli/query-fast-path.js';
import { runSkiff, skiffBin, skiffLauncher } from '../support/skiff-cli.js';
import { cliEntry, packageRoot } from '../../runtime/install-paths.js';

function commandAt(words: readonly string[]): Command {
  let cmd: Command = buildProgram();
  for (const word of words) {
    const next = cmd.commands.find((c) => c.name() === word);
    if (next === undefined) throw new Error(`no command ${words.join(' ')}`);
    cmd = next;
  }
  return cmd;
}

test('each query shape takes exactly the boolean flags its command defines', (t) => {
  for (const shape of QUERY_SHAPES) {
    const cmd = commandAt(shape.words);
    const booleans = cmd.options.filter((o) => !o.required && !o.optional).map((o) => o.long);
    t.deepEqual([...shape.booleans].sort(), booleans.sort(), shape.words.join(' '));
    const valued = cmd.options.filter((o) => o.required || o.optional).map((o) => o.long ?? '');
    t.false(valued.some((flag) => (shape.booleans as readonly string[]).includes(flag)), 'a flag that takes a value is never read as a boolean');
    t.is(cmd.registeredArguments.length >= shape.positionals, true, 'the command takes the positional the shape reads');
  }
});

test('plain shapes take the query path with the global flags before them', (t) => {
  const list = matchQueryPath(['--dir', '/d', '--format=json', 'list', '--full', '--no-legend'], {});
  t.is(list?.words, 'list');
  t.is(list?.global.dir, '/d');
  t.is(list?.global.format, 'json');
  t.deepEqual([...(list?.flags ?? [])].sort(), ['--full', '--no-legend']);
  t.is(matchQueryPath(['image', 'list'], { SKIFF_DIR: '/env' })?.global.dir, '/env');
  t.is(matchQueryPath(['status', 'abc'], {})?.positional, 'abc');
  t.is(matchQueryPath(['version'], {})?.words, 'version');
});

test('anything else goes through the full command tree', (t) => {
  for (const argv of [
    ['version', 'extra'],
    ['version', '--help'],
    ['list', '--dir', '/x'],
    ['list', '--bogus'],
    ['list', 'extra'],
    ['image', 'rm', 'x'],
    ['image'],
    ['status'],
    ['status', '--wait', 'abc'],
    ['status', '--uuid-file', 'f'],
    ['status', 'a', 'b'],
    ['--format', 'xml', 'list'],
    ['--bogus', 'list'],
    ['stop', 'abc'],
  ]) {
    t.is(matchQueryPath(argv, {}), undefined, argv.join(' '));
  }
});

test('the query path and the full command tree print the same', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-query-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [words, flags] of [[['version'], []], [['list'], ['--full']], [['image', 'list'], ['--no-legend']], [['status'], ['0123']]] as const) {
    for (const format of ['text', 'json']) {
      // A global flag after the command is a shape only the full tree takes.
      const quick = await runSkiff(['--format', format, '--dir', dir, ...words, ...flags]);
      const full = await runSkiff(['--format', format, ...words, ...flags, '--dir', dir]);
      t.deepEqual({ code: quick.code, stdout: quick.stdout, stderr: quick.stderr }, { code: full.code, stdout: full.stdout, stderr: full.stderr }, `${format} ${words.join(' ')}`);
    }
  }
});

test('version, list, image list and status load neither commander nor what they do not use', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-imports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const recorder = fileURLToPath(new URL('../support/import-recorder.js', import.meta.url));
  for (const [args, unwanted] of [
    [['version'], /node_modules\/commander\//],
    [['list'], /node_modules\/commander\/|\/pods\/pod-lifecycle\.js|\/dist\/image\//],
    [['status', 'abc'], /node_modules\/commander\/|\/pods\/pod-lifecycle\.js|\/dist\/image\//],
    [['image', 'list'], /node_modules\/commander\/|\/dist\/image\/(applier|archive)\/|\/dist\/image\/registry\/(?!options\.js)/],
  ] as const) {
    const log = join(dir, `${args.join('-')}.log`);
    const r = spawnSync(process.execPath, ['--import', recorder, skiffBin(), '--dir', dir, ...args], {
      env: { ...process.env, SKIFF_IMPORT_LOG: log },
      encoding: 'utf8',
    });
    t.true(r.status === 0 || args[0] === 'status', r.stderr);
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    t.true(urls.some((u) => u.includes('/runtime/cli/query-fast-path.js')), `${args.join(' ')}: the recorder saw the query path load`);
    t.deepEqual(urls.filter((u) => unwanted.test(u)), [], args.join(' '));
  }
});

test('the launcher runs the bundle (dist/cli/skiff.cjs), which answers as tsc\'s modules do', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // `image list`: the launcher answers `list` itself (test/integration/launcher-queries.test.ts), not this.
  const traced = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', skiffLauncher(), '--dir', dir, '--format', 'json', 'image', 'list'], { encoding: 'utf8' });
  t.is(traced.status, 0, traced.stderr);
  t.regex(traced.stderr, /execve\("[^"]*node", \["node", "[^"]*\/dist\/cli\/skiff\.cjs"/, 'Node runs the bundle');
  t.deepEqual(JSON.parse(traced.stdout), []);
  const bundled = spawnSync(process.execPath, [cliEntry(), '--dir', dir, '--format', 'json', 'version'], { encoding: 'utf8' });
  const modules = spawnSync(process.execPath, [skiffBin(), '--dir', dir, '--format', 'json', 'version'], { encoding: 'utf8' });
  t.is(bundled.status, 0, bundled.stderr);
  t.deepEqual(JSON.parse(bundled.stdout), JSON.parse(modules.stdout));
});

test('the bundle runs without its code cache, and with one V8 refuses, as it does with it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const built = join(packageRoot(), 'dist', 'cli');
  t.true(existsSync(join(built, 'skiff-main.cjs.v8cache')), 'the build made the cache');
  for (const file of ['skiff.cjs', 'skiff-main.cjs']) copyFileSync(join(built, file), join(dir, file));
  const list = (): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [join(dir, 'skiff.cjs'), '--dir', join(dir, 'store'), '--format', 'json', 'list'], { encoding: 'utf8' });
  let r = list();
  t.is(r.status, 0, `no cache: ${r.stderr}`);
  t.deepEqual(JSON.parse(r.stdout), []);
  writeFileSync(join(dir, 'skiff-main.cjs.v8cache'), 'not a code cache');
  r = list();
  t.is(r.status, 0, `a cache V8 refuses: ${r.stderr}`);
  t.deepEqual(JSON.parse(r.stdout), []);
});

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../runtime/install-paths.js';
import { runSkiff, skiffBin } from '../support/skiff-cli.js';

test('version prints skiff, node, stage1 and features as text', async (t) => {
  const r = await runSkiff(['version']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^skiff Version: \d+\.\d+\.\d+$/m);
  t.regex(r.stdout, new RegExp(`^Node Version: ${process.version.replace(/\./g, '\\.')}$`, 'm'));
  t.regex(r.stdout, /^Features: [+-]OVERLAYFS [+-]CGROUP_V1 [+-]CGROUP_V2 [+-]USERNS$/m);
  t.regex(r.stdout, /^Stage1: \S+skiff-stage1$/m, 'stage1 was built by npm ci');
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  t.regex(r.stdout, new RegExp(`^Stage1 Version: ${pkg.version.replace(/\./g, '\\.')} \\(build [0-9a-f]{12} (musl|glibc)\\)$`, 'm'), 'stage1 reports its own build');
  t.is(r.stderr, '');
});

test('the stage1 version that version reads from the binary is the line the binary prints', async (t) => {
  const r = await runSkiff(['--format', 'json', 'version']);
  const v = JSON.parse(r.stdout) as { stage1: { path: string; version: string } };
  const own = spawnSync(v.stage1.path, ['--version'], { encoding: 'utf8' });
  t.is(own.status, 0);
  t.is(own.stdout, `skiff-stage1 ${v.stage1.version}\n`);
});

test('--format json version prints one JSON document', async (t) => {
  const r = await runSkiff(['--format', 'json', 'version']);
  t.is(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as Record<string, unknown>;
  t.is(v['node'], process.version);
  t.truthy((v['stage1'] as { present: boolean }).present);
  t.regex((v['stage1'] as { version: string }).version, /^\d+\.\d+\.\d+ \(build [0-9a-f]{12} (musl|glibc)\)$/);
  t.true(['v1', 'v2', 'hybrid', 'none'].includes((v['features'] as { cgroup: { mode: string } }).cgroup.mode));
});

/** What this host has, read here from /proc apart from runtime/host-features.ts. */
function hostFacts() {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [before, after = ''] = line.split(' - ');
    const [fstype, , options = ''] = after.split(' ');
    return { mountpoint: (before ?? '').split(' ')[4] ?? '', fstype, options: options.split(',') };
  });
  const known = new Set(readFileSync('/proc/cgroups', 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('\t')[0]));
  const v1: Record<string, string> = {};
  for (const m of mounts.filter((m) => m.fstype === 'cgroup')) {
    for (const o of m.options) if (known.has(o) || o.startsWith('name=')) v1[o] ??= m.mountpoint;
  }
  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  const v2 = unified === undefined ? null : {
    mount: unified.mountpoint,
    controllers: readFileSync(join(unified.mountpoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean),
  };
  const controllers = Object.keys(v1).filter((c) => !c.startsWith('name='));
  const mode = controllers.length > 0 ? (v2 === null ? 'v1' : 'hybrid') : v2 === null ? 'none' : 'v2';
  const overlay = /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) || existsSync('/sys/module/overlay');
  const userns = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) > 0;
  return { v1, v2, controllers, mode, overlay, userns };
}

test('version reports exactly what this host has: overlayfs, the cgroup layout and its controllers, user namespaces', async (t) => {
  const host = hostFacts();
  const r = await runSkiff(['--format', 'json', 'version']);
  t.is(r.code, 0, r.stderr);
  const features = (JSON.parse(r.stdout) as { features: Record<string, unknown> }).features;
  t.is(features['overlayfs'], host.overlay ? 'available' : 'missing');
  t.deepEqual(features['cgroup'], { mode: host.mode, v1: host.v1, v2: host.v2 });
  t.is(features['userNamespaces'], host.userns);
  const text = await runSkiff(['version']);
  const v2Usable = host.v2 !== null && ['memory', 'cpu', 'pids'].some((c) => host.v2!.controllers.includes(c));
  const flags = [[host.overlay, 'OVERLAYFS'], [host.controllers.length > 0, 'CGROUP_V1'], [v2Usable, 'CGROUP_V2'], [host.userns, 'USERNS']] as const;
  t.regex(text.stdout, new RegExp(`^Features: ${flags.map(([on, name]) => `\\${on ? '+' : '-'}${name}`).join(' ')}$`, 'm'));
  const v2Text = host.v2 === null ? 'none' : `${host.v2.mount} [${host.v2.controllers.join(',') || 'no controllers'}]`;
  t.true(text.stdout.includes(`\ncgroups: ${host.mode}; v1 [${host.controllers.join(',') || 'none'}]; v2 ${v2Text}\n`), text.stdout);
  t.log(`this host: ${host.mode}, overlayfs ${host.overlay}, v1 [${host.controllers.join(',')}], v2 ${v2Text}`);
});

test('global flags are accepted after the command too', async (t) => {
  const r = await runSkiff(['version', '--format=json']);
  t.is(r.code, 0, r.stderr);
  t.notThrows(() => JSON.parse(r.stdout));
});

const usageCases: Array<[string, string[], RegExp]> = [
  ['unknown command', ['bogus'], /^skiff: unknown command 'bogus'; run 'skiff help' for usage$/],
  ['unknown global flag', ['--bogus', 'version'], /^skiff: unknown option '--bogus'; run 'skiff help' for usage$/],
  ['unknown command flag', ['version', '--bogus'], /^skiff: unknown option '--bogus'; run 'skiff help version' for usage$/],
  ['excess argument', ['version', 'extra'], /^skiff: too many arguments for 'version'.*; run 'skiff help version' for usage$/],
  ['bad --format', ['--format', 'xml', 'version'], /^skiff: option '--format <format>' argument 'xml' is invalid.*text, json; run 'skiff help' for usage$/],
  ['bad --insecure-options', ['--insecure-options=http,nope', 'version'], /'nope' is not one of none, http, tls, image, seccomp, paths, all-fetch, all-run, all; run 'skiff help' for usage$/],
];

for (const [name, args, line] of usageCases) {
  test(`usage error exits 2 with one helpful line: ${name}`, async (t) => {
    const r = await runSkiff(args);
    t.is(r.code, 2);
    t.is(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0] ?? '', line);
  });
}

test('no command prints help and exits 2', async (t) => {
  const r = await runSkiff([]);
  t.is(r.code, 2);
  t.regex(r.stdout + r.stderr, /Usage: skiff/);
});

test('help and help COMMAND exit 0', async (t) => {
  const all = await runSkiff(['help']);
  t.is(all.code, 0);
  t.regex(all.stdout, /Commands:[\s\S]*version/);
  t.regex(all.stdout, /--insecure-options/);
  const one = await runSkiff(['help', 'version']);
  t.is(one.code, 0);
  t.regex(one.stdout, /Usage: skiff version/);
});

test('--debug adds the stack to an error', async (t) => {
  const r = await runSkiff(['--debug', 'bogus']);
  t.is(r.code, 2);
  t.regex(r.stderr, /^skiff: unknown command 'bogus'/);
  t.regex(r.stderr, /\n\s*at /, 'a stack trace follows the line');
});

test('version loads no network, netlink, FFI or image code', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-imports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'imports.log');
  const recorder = fileURLToPath(new URL('../support/import-recorder.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', recorder, skiffBin(), 'version'], {
    env: { ...process.env, SKIFF_IMPORT_LOG: log },
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  t.true(urls.some((u) => u.includes('/runtime/cli/commands/version.js')), 'the recorder saw the command load');
  const heavy = urls.filter((u) => /node_modules\/(undici|netlink|koffi|tar)\/|\/dist\/(image|network)\//.test(u));
  t.deepEqual(heavy, []);
});

test('help run and run --help list the pod and app flags', async (t) => {
  for (const args of [['help', 'run'], ['run', 'some-image', '--help']]) {
    const r = await runSkiff(args);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /Usage: skiff run \[pod flags\] IMAGE/);
    t.regex(r.stdout, /^ {2}--volume +NAME,kind=host\|empty/m);
    t.regex(r.stdout, /^ {2}--caps-retain +CAP,CAP/m);
  }
  const prepared = await runSkiff(['help', 'run-prepared']);
  t.regex(prepared.stdout, /^ {2}--hostname /m);
  t.notRegex(prepared.stdout, /--memory/);
});

/**
 * The security audit's odd flags and images (issue 13, items 10, 12, 13, 14)
 * through `skiff` as users run it: each is refused by stage0 with one line and
 * exit 2 (the command line) or 254 (the image), and leaves nothing behind: no
 * pod dir in any state and no cgroup under the test's parent. Before, most
 * reached stage1's config check after the pod dir and its cgroups were made
 * (leaving `skiff/<uuid>` cgroups until gc), or were accepted: two lines in
 * /etc/hosts, a volume over `/` or over procfs. What Docker accepts (a
 * relative WorkingDir, an Entrypoint of [""]) now runs.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cgroupMounts } from '../support/cgroup-cleanup.js';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer, type ImageConfigSpec } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';

/** Pod dirs in any state, and cgroups under the test's parent in any hierarchy. */
function leftovers(s: PodStore): string[] {
  const left: string[] = [];
  const pods = join(s.dir, 'pods');
  for (const state of existsSync(pods) ? readdirSync(pods) : []) {
    for (const uuid of readdirSync(join(pods, state))) left.push(`pod dir ${state}/${uuid}`);
  }
  for (const mount of cgroupMounts()) {
    const parent = join(mount, s.cgroupParent);
    if (!existsSync(parent)) continue;
    for (const e of readdirSync(parent, { withFileTypes: true })) if (e.isDirectory()) left.push(`cgroup ${join(parent, e.name)}`);
  }
  return left;
}

/** The probe's rootfs with another config, fetched into the store as oci:LAYOUT:REF. */
async function variants(t: Teardown, s: PodStore, configs: Record<string, ImageConfigSpec & { noLayers?: boolean }>): Promise<Record<string, string>> {
  const base = buildLayer(gunzipSync((await fixtureImages()).oci.layers[0]?.data ?? Buffer.alloc(0)));
  const layout = join(tempDir(t, 'skiff-variants-'), 'layout');
  const entries = Object.entries(configs).map(([ref, { noLayers, ...config }]) => ({
    ref,
    image: buildImage({ layers: noLayers === true ? [] : [base], config: { ...PROBE_CONFIG, ...config } }),
  }));
  await writeOciLayout(layout, entries);
  const refs: Record<string, string> = {};
  for (const { ref } of entries) {
    refs[ref] = `oci:${layout}:${ref}`;
    const f = await s.skiff(['fetch', '--quiet', refs[ref] as string]);
    if (f.code !== 0) throw new Error(`fetch of ${ref} failed: ${f.stderr}`);
  }
  return refs;
}

interface Refusal {
  /** The skiff arguments, IMAGE standing for the probe image. */
  args: string[];
  code: number;
  line: RegExp;
}

const EXIT0 = ['--exec', '/probe', '--', 'exit', '0'];

const refusals: Array<[string, Refusal]> = [
  // Item 10: reached stage1's config check after the pod dir and its cgroups were made.
  ['--user 4294967295', { args: ['run', 'IMAGE', '--user', '4294967295', ...EXIT0], code: 2, line: /^skiff: --user "4294967295": 4294967295 is above 4294967294/ }],
  ['a --volume name given twice', { args: ['run', '--volume', 'v,kind=empty', '--volume', 'v,kind=empty', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --volume v is given twice/ }],
  // Item 12: injection into /etc/hosts and the UTS name.
  ['a newline in --hosts-entry', { args: ['run', '--hosts-entry', '1.2.3.4=a\n6.6.6.6 evil', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --hosts-entry "1.2.3.4=a\\n6.6.6.6 evil": the host name/ }],
  ['a --hosts-entry without an IP', { args: ['run', '--hosts-entry', 'host=name', 'IMAGE', ...EXIT0], code: 2, line: /"host" is not an IPv4 or IPv6 address/ }],
  ['a space in a --hosts-entry name', { args: ['run', '--hosts-entry', '1.2.3.4=a b', 'IMAGE', ...EXIT0], code: 2, line: /label "a b"/ }],
  ['a newline in --hostname', { args: ['run', '--hostname', 'a\nb', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --hostname "a\\nb" has a label/ }],
  ['a ; in --hostname', { args: ['run', '--hostname', 'a;b', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --hostname "a;b" has a label/ }],
  ['an empty --hostname', { args: ['run', '--hostname', '', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --hostname "" is empty/ }],
  ['a 70-character --hostname', { args: ['run', '--hostname', 'a'.repeat(70), 'IMAGE', ...EXIT0], code: 2, line: /is longer than 64 characters/ }],
  // Item 13: bounds and units at parse time.
  ['--user 0:0:0', { args: ['run', 'IMAGE', '--user', '0:0:0', ...EXIT0], code: 2, line: /^skiff: --user "0:0:0" is not NAME\|UID\[:GROUP\|GID\]$/ }],
  ['--memory 4096', { args: ['run', 'IMAGE', '--memory', '4096', ...EXIT0], code: 2, line: /^skiff: --memory 4096 is below 4Mi/ }],
  ['--pids-limit 1', { args: ['run', 'IMAGE', '--pids-limit', '1', ...EXIT0], code: 2, line: /^skiff: --pids-limit 1 leaves the app no process/ }],
  ['--cpu 5m', { args: ['run', 'IMAGE', '--cpu', '5m', ...EXIT0], code: 2, line: /^skiff: --cpu 5m is below 10m/ }],
  ['--cpu 99999999999', { args: ['run', 'IMAGE', '--cpu', '99999999999', ...EXIT0], code: 2, line: /^skiff: --cpu 99999999999 is more than 1000000 CPUs/ }],
  ['--memory 99999999T', { args: ['run', 'IMAGE', '--memory', '99999999T', ...EXIT0], code: 2, line: /^skiff: --memory 99999999T is more than the largest memory limit/ }],
  // Item 14: a volume over the root or over procfs.
  ['--mount target=/..', { args: ['run', '--volume', 'v,kind=empty', 'IMAGE', '--mount', 'volume=v,target=/..', ...EXIT0], code: 2, line: /target \/ is the pod's root/ }],
  ['--mount target=/proc', { args: ['run', '--volume', 'v,kind=empty', 'IMAGE', '--mount', 'volume=v,target=/proc', ...EXIT0], code: 2, line: /target \/proc is in \/proc/ }],
  ['--mount target=/dev/../sys', { args: ['run', '--volume', 'v,kind=empty', 'IMAGE', '--mount', 'volume=v,target=/dev/../sys', ...EXIT0], code: 2, line: /target \/sys would replace/ }],
  ['prepare with a bad value', { args: ['prepare', '--hostname', 'a b', 'IMAGE', ...EXIT0], code: 2, line: /^skiff: --hostname "a b"/ }],
];

// One store for the refusals (each is quick): its teardowns run after the last of them.
const teardowns: Array<() => void | Promise<void>> = [];
let shared: Promise<PodStore> | undefined;
const sharedStore = () => (shared ??= podStore({ teardown: (fn) => teardowns.push(fn) }));
test.after.always(async () => {
  for (const fn of teardowns.reverse()) await fn();
});

for (const [name, { args, code, line }] of refusals) {
  test.serial(`refused with one line and exit ${code}, leaving no pod dir and no cgroup: ${name}`, async (t) => {
    const s = await sharedStore();
    const before = leftovers(s);
    const r = await s.skiff(args.map((a) => (a === 'IMAGE' ? s.image : a)));
    t.is(r.code, code, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    t.is(lines.length, 1, `one line: ${r.stderr}`);
    t.regex(lines[0] ?? '', line);
    t.deepEqual(leftovers(s).filter((l) => !before.includes(l)), [], 'nothing left behind');
  });
}

// Item 10: image problems are said by stage0 as image problems (254), before any cgroup.
test('images stage0 refuses: no layers, a User out of range or malformed; exit 254, nothing left', async (t) => {
  const s = await podStore(t);
  const refs = await variants(t, s, { empty: { noLayers: true }, huge: { User: '4294967295' }, triple: { User: '0:0:0' } });
  const cases: Array<[string, RegExp]> = [
    ['empty', /^skiff: image oci:.*:empty has no layers: it holds no root filesystem to run/],
    ['huge', /^skiff: user 4294967295 of oci:.*:huge has uid 4294967295/],
    ['triple', /^skiff: user "0:0:0" of oci:.*:triple is not NAME\|UID\[:GROUP\|GID\]/],
  ];
  for (const [ref, line] of cases) {
    const r = await s.skiff(['run', refs[ref] as string]);
    t.is(r.code, 254, `${ref}: ${r.stderr}`);
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, line);
    t.deepEqual(leftovers(s), [], `${ref} left nothing behind`);
  }
});

// Item 10: what Docker accepts runs.
test('a relative WorkingDir is taken from /, an Entrypoint of [""] is none', async (t) => {
  const s = await podStore(t);
  const refs = await variants(t, s, { relative: { WorkingDir: 'tmp/' }, reset: { Entrypoint: [''] } });
  const relative = await s.skiff(['run', refs['relative'] as string]);
  t.is(relative.code, 0, relative.stderr);
  t.is((JSON.parse(relative.stdout.split('\n')[0] ?? '{}') as { cwd: string }).cwd, '/tmp');
  const reset = await s.skiff(['run', refs['reset'] as string, '--', '/probe', 'exit', '5']);
  t.is(reset.code, 5, reset.stderr);
  const cmd = await s.skiff(['run', refs['reset'] as string]);
  t.is(cmd.code, 0, cmd.stderr);
  t.regex(cmd.stdout, /"cwd":"\/"/, 'the Cmd (/probe info) ran');
  // The launcher replays what the CLI decided: the same working dir on the second, replayed run.
  const replayed = await runSkiff(['--dir', s.dir, 'run', refs['relative'] as string], { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
  t.is(replayed.code, 0, replayed.stderr);
  t.regex(replayed.stderr, /^skiff launch: replay /m);
  t.is((JSON.parse(replayed.stdout.split('\n')[0] ?? '{}') as { cwd: string }).cwd, '/tmp');
});

test('valid names reach the pod: hosts entries, a 64-character hostname, a normalised mount target', async (t) => {
  const s = await podStore(t);
  const hostname = `${'h'.repeat(62)}.x`;
  const r = await s.skiff([
    'run', '--hostname', hostname, '--hosts-entry', '198.18.0.5=db.example', '--hosts-entry=fd00::5=db6', '--volume', 'v,kind=empty',
    s.image, '--mount', 'volume=v,target=/srv/./data/', '--exec', '/bin/sh', '--', '-c', 'hostname; cat /etc/hosts; echo x > /srv/data/f && echo mounted',
  ]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[0], hostname);
  t.true(lines.includes('198.18.0.5 db.example'), r.stdout);
  t.true(lines.includes('fd00::5 db6'), r.stdout);
  t.is(lines.at(-1), 'mounted');
});

test('run-prepared with a bad value leaves the pod prepared', async (t) => {
  const s = await podStore(t);
  const p = await s.skiff(['prepare', s.image, ...EXIT0]);
  t.is(p.code, 0, p.stderr);
  const uuid = p.stdout.trim();
  const bad = await s.skiff(['run-prepared', '--hosts-entry', '1.2.3.4=a\nb', uuid]);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /^skiff: --hosts-entry "1.2.3.4=a\\nb"/);
  t.regex((await s.skiff(['status', uuid])).stdout, /^state=prepared$/m);
  const good = await s.skiff(['run-prepared', '--hostname', 'ok', uuid]);
  t.is(good.code, 0, good.stderr);
});

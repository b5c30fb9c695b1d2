/**
 * PodSpec → pod manifest, with no command line and no store: fake stored
 * images whose layer dirs hold only /etc/passwd and /etc/group. Docker's rules
 * for what the image brings (a relative WorkingDir, an Entrypoint of [""]),
 * and the image problems stage0 now refuses itself before any pod dir or
 * cgroup (no layers, ids out of range), which reached stage1's config check before.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../../image/image-config.js';
import type { StoredImage } from '../../image/store/stored-image.js';
import { ImageError, UsageError } from '../../runtime/errors.js';
import { DEFAULT_CAPS } from '../../runtime/pods/capabilities.js';
import { podManifestFromSpec } from '../../runtime/pods/pod-manifest-from-spec.js';
import { appSpecFor, checkPodSpec, defaultRuntime, type AppSpec, type PodSpec } from '../../runtime/pods/pod-spec.js';
import { stage1Pairs } from '../../runtime/pods/stage1-pairs.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nskiff:x:1000:1000::/home/skiff:/bin/sh\nhuge:x:4294967295:0::/:/bin/sh\n';
const GROUP = 'root:x:0:\nwheel:x:10:skiff\nskiff:x:1000:\n';

function fakeImage(t: Teardown, id: string, run: Partial<RunConfig>, layers = 1): StoredImage {
  const root = tempDir(t, 'skiff-spec-');
  const layerDirs = Array.from({ length: layers }, (_, i) => join(root, `layer${i}`));
  for (const dir of layerDirs) mkdirSync(join(dir, 'etc'), { recursive: true });
  const top = layerDirs.at(-1);
  if (top !== undefined) {
    writeFileSync(join(top, 'etc', 'passwd'), PASSWD);
    writeFileSync(join(top, 'etc', 'group'), GROUP);
  }
  return {
    record: {
      id, names: [`example.test/${id}:latest`], manifestDigest: `sha256:m${id}`, manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
      configDigest: id, platform: { os: 'linux', architecture: 'amd64' }, layers: [], size: 0, importTime: '', lastUsed: '',
    },
    config: {
      os: 'linux', architecture: 'amd64', variant: undefined, created: undefined, diffIds: [],
      config: { cmd: undefined, entrypoint: undefined, env: [], workingDir: undefined, user: undefined, exposedPorts: [], labels: {}, stopSignal: undefined, ...run },
    },
    layerDirs,
  } as StoredImage;
}

function specWith(apps: AppSpec[], more: Partial<PodSpec> = {}): PodSpec {
  return { apps, volumes: [], runtime: defaultRuntime(), env: { files: [], set: [], inherit: false }, noOverlay: false, pull: { policy: 'new' }, ...more };
}

const POD = { uuid: '01234567-89ab-cdef-0123-456789abcdef', created: '2026-01-01T00:00:00.000Z' };

test('a bare app spec: everything from the image and Docker\'s defaults', (t) => {
  const image = fakeImage(t, 'probe', { entrypoint: ['/probe'], cmd: ['info'], env: ['A=image'], workingDir: '/srv' });
  const m = podManifestFromSpec(specWith([appSpecFor('probe')]), [image], POD, {});
  t.deepEqual(m, {
    version: 1, uuid: POD.uuid, created: POD.created, layers: image.layerDirs, noOverlay: false, volumes: [],
    apps: [{
      name: 'probe', image: { id: 'probe', name: 'example.test/probe:latest' }, layers: image.layerDirs,
      exec: ['/probe', 'info'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=image', 'HOME=/root'],
      workingDir: '/srv', uid: 0, gid: 0, supplementaryGids: [], caps: DEFAULT_CAPS, ambientCaps: [], noNewPrivs: true, readonlyRootfs: false,
      mounts: [], limits: {},
    }],
    runtime: { net: 'default', hostname: undefined, dns: [], dnsSearch: [], dnsOpts: [], dnsDomain: undefined, hostsEntries: [], interactive: false },
  });
});

test('every app setting of the spec reaches the manifest', (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, 'env');
  writeFileSync(envFile, '# comment\nB=file\nC=file\n');
  const image = fakeImage(t, 'probe', { cmd: ['/probe', 'info'], env: ['A=image', 'B=image'] });
  const spec = specWith([{
    ...appSpecFor('probe'), name: 'web', exec: '/bin/sh', args: ['-c', 'true'], user: 'skiff', group: 'wheel', supplementaryGids: [7],
    workingDir: '/tmp', environment: ['D=app'], mounts: [{ volume: 'v', target: '/data' }], readonlyRootfs: true,
    limits: { memoryBytes: 64 << 20, pidsMax: 9 }, capsRetain: ['kill'],
  }], {
    volumes: [{ name: 'v', kind: 'empty', source: '', readOnly: false }],
    runtime: { net: 'host', hostname: 'web-1', dns: ['198.18.0.1'], dnsSearch: ['example.test'], dnsOpts: ['ndots:2'], dnsDomain: 'example.test', hostsEntries: ['198.18.0.5 db'], interactive: true },
    env: { files: [envFile], set: ['C=set', 'D=set'], inherit: true },
    noOverlay: true,
  });
  const m = podManifestFromSpec(spec, [image], POD, { A: 'host', Z: 'host' });
  const app = m.apps[0];
  t.is(app?.name, 'web');
  t.deepEqual(app?.exec, ['/bin/sh', '-c', 'true']);
  t.deepEqual(app?.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=host', 'B=file', 'Z=host', 'C=set', 'D=app', 'HOME=/home/skiff']);
  t.deepEqual([app?.uid, app?.gid, app?.supplementaryGids], [1000, 10, [7]]);
  t.is(app?.workingDir, '/tmp');
  t.deepEqual(app?.mounts, [{ volume: 'v', target: '/data' }]);
  t.true(app?.readonlyRootfs);
  t.deepEqual(app?.limits, { memoryBytes: 64 << 20, pidsMax: 9 });
  t.deepEqual(app?.caps, ['kill']);
  t.deepEqual(app?.ambientCaps, ['kill'], 'a non-root app holds what --caps-retain asks for');
  t.deepEqual(m.volumes, spec.volumes);
  t.deepEqual(m.runtime, spec.runtime);
  t.true(m.noOverlay);
});

test('caps-remove takes from Docker\'s default', (t) => {
  const m = podManifestFromSpec(specWith([{ ...appSpecFor('p'), exec: '/x', capsRemove: ['mknod', 'kill'] }]), [fakeImage(t, 'p', {})], POD, {});
  t.deepEqual(m.apps[0]?.caps, DEFAULT_CAPS.filter((c) => c !== 'mknod' && c !== 'kill'));
});

test('apps of different images get a root each; of one image, one for the pod', (t) => {
  const a = fakeImage(t, 'a', { cmd: ['/a'] });
  const b = fakeImage(t, 'b', { cmd: ['/b'] });
  const two = podManifestFromSpec(specWith([appSpecFor('a'), appSpecFor('b')]), [a, b], POD, {});
  t.is(two.layers, undefined);
  t.deepEqual(two.apps.map((x) => [x.name, x.layers]), [['a', a.layerDirs], ['b', b.layerDirs]]);
  const same = podManifestFromSpec(specWith([appSpecFor('a'), { ...appSpecFor('a'), name: 'a2' }]), [a, a], POD, {});
  t.deepEqual(same.layers, a.layerDirs);
  t.throws(() => podManifestFromSpec(specWith([appSpecFor('a'), appSpecFor('a')]), [a, a], POD, {}), { instanceOf: UsageError, message: /two apps are named "a"/ });
});

// Audit item 10: an image's relative WorkingDir is taken from / (Docker), not sent to stage1 as it is.
test('an image\'s relative WorkingDir is taken from /, normalised', (t) => {
  const wd = (workingDir: string | undefined) =>
    podManifestFromSpec(specWith([appSpecFor('p')]), [fakeImage(t, 'p', { cmd: ['/x'], workingDir })], POD, {}).apps[0]?.workingDir;
  t.is(wd('tmp'), '/tmp');
  t.is(wd('a/../b/./c/'), '/b/c');
  t.is(wd('../..'), '/');
  t.is(wd(''), '/');
  t.is(wd(undefined), '/');
  t.is(wd('/srv/'), '/srv');
});

// Audit item 10: Entrypoint [""] is no entrypoint (Docker), not an empty `exec` for stage1.
test('an Entrypoint of [""] is none: the Cmd runs', (t) => {
  const exec = (run: Partial<RunConfig>, spec: Partial<AppSpec> = {}) =>
    podManifestFromSpec(specWith([{ ...appSpecFor('p'), ...spec }]), [fakeImage(t, 'p', run)], POD, {}).apps[0]?.exec;
  t.deepEqual(exec({ entrypoint: [''], cmd: ['/probe', 'info'] }), ['/probe', 'info']);
  t.deepEqual(exec({ entrypoint: [''], cmd: ['/probe'] }, { args: ['/bin/true', '3'] }), ['/bin/true', '3'], 'args replace the Cmd');
  t.deepEqual(exec({ entrypoint: ['/bin/sh', ''], cmd: ['x'] }), ['/bin/sh', '', 'x'], 'only [""] alone is a reset');
  for (const run of [{ entrypoint: [''] }, { cmd: [''] }, { entrypoint: [''], cmd: [''] }]) {
    t.throws(() => exec(run), { instanceOf: UsageError, message: /names no command to run/ }, JSON.stringify(run));
  }
});

// Audit item 10: a zero-layer image is an image problem (exit 254), said before anything is made.
test('an image without layers is refused with an ImageError', (t) => {
  const err = t.throws(() => podManifestFromSpec(specWith([appSpecFor('p')]), [fakeImage(t, 'p', { cmd: ['/x'] }, 0)], POD, {}), { instanceOf: ImageError });
  t.regex(err?.message ?? '', /^image example.test\/p:latest has no layers/);
});

// Audit items 10 and 13: ids out of range and a malformed User from the image are image problems.
test('image users out of range or malformed are ImageErrors', (t) => {
  const build = (user: string) => () => podManifestFromSpec(specWith([appSpecFor('p')]), [fakeImage(t, 'p', { cmd: ['/x'], user })], POD, {});
  t.throws(build('4294967295'), { instanceOf: ImageError, message: /uid 4294967295 .* ids go up to 4294967294/ });
  t.throws(build('huge'), { instanceOf: ImageError, message: /uid 4294967295/ }, 'from the image\'s /etc/passwd');
  t.throws(build('0:4294967295'), { instanceOf: ImageError, message: /gid 4294967295/ });
  t.throws(build('0:0:0'), { instanceOf: ImageError, message: /user "0:0:0" of example.test\/p:latest is not NAME\|UID\[:GROUP\|GID\]/ });
  t.is(podManifestFromSpec(specWith([appSpecFor('p')]), [fakeImage(t, 'p', { cmd: ['/x'], user: '4294967294:1' })], POD, {}).apps[0]?.uid, 4294967294);
});

test('checkPodSpec: what spans values of a spec made without the CLI', (t) => {
  const v = { name: 'v', kind: 'empty' as const, source: '', readOnly: false };
  t.throws(() => checkPodSpec(specWith([appSpecFor('p')], { volumes: [v, v] })), { instanceOf: UsageError, message: /--volume v is given twice/ });
  t.throws(() => checkPodSpec(specWith([{ ...appSpecFor('p'), mounts: [{ volume: 'w', target: '/w' }] }], { volumes: [v] })), { message: /no --volume defines/ });
  t.throws(() => checkPodSpec(specWith([])), { message: /no image given/ });
  t.throws(() => checkPodSpec(specWith([{ ...appSpecFor('p'), capsRetain: [], capsRemove: [] }])), { message: /exclude each other/ });
  t.throws(() => checkPodSpec(specWith([{ ...appSpecFor('a'), limits: { memoryBytes: 2 ** 52 } }, { ...appSpecFor('b'), limits: { memoryBytes: 2 ** 52 } }])), {
    message: /--memory for the pod \(the sum over its apps\) comes to 9007199254740992/,
  });
  t.notThrows(() => checkPodSpec(specWith([appSpecFor('p')], { volumes: [v] })));
});

test('the manifest gives stage1 the normalised working dir and mount targets', (t) => {
  const spec = specWith([{ ...appSpecFor('p'), mounts: [{ volume: 'v', target: '/data' }] }], { volumes: [{ name: 'v', kind: 'empty', source: '', readOnly: false }] });
  const m = podManifestFromSpec(spec, [fakeImage(t, 'p', { cmd: ['/x'], workingDir: 'tmp' })], POD, {});
  const pairs = stage1Pairs('/pods/run/x', m, 5, { join: [], cleanup: [] });
  t.deepEqual(pairs.filter(([k]) => k === 'working-dir' || k === 'mount' || k === 'volume'), [
    ['volume', 'v\tempty\t/pods/run/x/volumes/v\t0'],
    ['working-dir', '/tmp'],
    ['mount', 'v\t/data'],
  ]);
});

test('--insecure-options=paths and --cgroup-parent reach the manifest; stage1 then gets no mask-path or readonly-path', (t) => {
  const image = fakeImage(t, 'p', { cmd: ['/x'] });
  const plain = podManifestFromSpec(specWith([appSpecFor('p')]), [image], POD, {});
  t.false('insecurePaths' in plain.runtime || 'cgroupParent' in plain.runtime, 'absent unless asked for');
  const keys = (m: typeof plain) => new Set(stage1Pairs('/pods/run/x', m, 5, { join: [], cleanup: [] }).map(([k]) => k));
  t.true(keys(plain).has('mask-path') && keys(plain).has('readonly-path'));
  const relaxed = podManifestFromSpec(specWith([appSpecFor('p')], { runtime: { ...defaultRuntime(), insecurePaths: true, cgroupParent: '/a/b' } }), [image], POD, {});
  t.deepEqual([relaxed.runtime.insecurePaths, relaxed.runtime.cgroupParent], [true, '/a/b']);
  t.false(keys(relaxed).has('mask-path') || keys(relaxed).has('readonly-path'));
  t.false(keys(plain).has('sd-notify'));
  const notifying = podManifestFromSpec(specWith([appSpecFor('p')], { runtime: { ...defaultRuntime(), sdNotify: 'app' } }), [image], POD, {});
  t.deepEqual(stage1Pairs('/pods/run/x', notifying, 5, { join: [], cleanup: [] }).filter(([k]) => k === 'sd-notify'), [['sd-notify', 'app']]);
});

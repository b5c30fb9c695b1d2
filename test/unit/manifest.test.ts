import test from 'ava';
import { createHash } from 'node:crypto';
import { ImageError, UsageError } from '../../runtime/errors.js';
import { parseImageConfig } from '../../image/image-config.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseManifest, type ImageIndex, type ImageManifest } from '../../image/manifest.js';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from '../../image/media-types.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, selectPlatform } from '../../image/platform.js';
import { ociArch } from '../../runtime/oci-arch.js';

const WHERE = 'docker://127.0.0.1:5000/skiff/probe:oci';
const digest = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const config = { mediaType: OCI_CONFIG, digest: digest('config'), size: 100 };
const layer = { mediaType: OCI_LAYER_GZIP, digest: digest('layer'), size: 2000 };
const ociManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };

function entry(architecture: string, variant?: string, mediaType = OCI_MANIFEST) {
  return { mediaType, digest: digest(architecture + (variant ?? '')), size: 500, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } };
}
function index(...manifests: unknown[]): ImageIndex {
  const parsed = parseManifest(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), OCI_INDEX, WHERE);
  if (parsed.kind !== 'index') throw new Error('not an index');
  return parsed;
}

test('an OCI manifest parses, its type from the body', (t) => {
  const m = parseManifest(json(ociManifest), 'application/json; charset=utf-8', WHERE) as ImageManifest;
  t.is(m.kind, 'manifest');
  t.is(m.mediaType, OCI_MANIFEST);
  t.deepEqual(m.config, { ...config, urls: undefined, annotations: undefined, platform: undefined });
  t.is(m.layers.length, 1);
});

test('a Docker v2s2 manifest and manifest list parse', (t) => {
  const docker = { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { ...config, mediaType: DOCKER_CONFIG }, layers: [{ ...layer, mediaType: DOCKER_LAYER_GZIP }] };
  t.is(parseManifest(json(docker), DOCKER_MANIFEST, WHERE).mediaType, DOCKER_MANIFEST);
  const list = parseManifest(json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: [entry('amd64', undefined, DOCKER_MANIFEST)] }), undefined, WHERE);
  t.is(list.kind, 'index');
  t.is(list.mediaType, DOCKER_MANIFEST_LIST);
});

test('without a mediaType field, the served type or the shape decides', (t) => {
  const { mediaType: _m, ...bare } = ociManifest;
  t.is(parseManifest(json(bare), undefined, WHERE).mediaType, OCI_MANIFEST);
  t.is(parseManifest(json({ schemaVersion: 2, manifests: [] }), 'application/octet-stream', WHERE).mediaType, OCI_INDEX);
  t.is(parseManifest(json({ schemaVersion: 2, manifests: [] }), DOCKER_MANIFEST_LIST, WHERE).mediaType, DOCKER_MANIFEST_LIST);
});

const schema1Body = {
  schemaVersion: 1,
  name: 'skiff/probe',
  tag: 'v2s2',
  architecture: 'amd64',
  fsLayers: [{ blobSum: digest('layer') }],
  history: [{ v1Compatibility: '{}' }],
  signatures: [{ header: { alg: 'ES256' }, signature: 'x', protected: 'y' }],
};

test('schema 1 is refused by media type and by body, with the fix in the message', (t) => {
  for (const [type, body] of [
    [DOCKER_SCHEMA1_SIGNED, schema1Body],
    [DOCKER_SCHEMA1, schema1Body],
    ['application/json', schema1Body],
    [undefined, { ...schema1Body, mediaType: DOCKER_SCHEMA1 }],
  ] as const) {
    const err = t.throws(() => parseManifest(json(body), type, WHERE), { instanceOf: ImageError });
    t.is(
      err!.message,
      `${WHERE} is a Docker schema 1 manifest, which Skiff does not support; push the image again with a current docker or skopeo`,
    );
  }
});

const hostile: Array<[string, unknown, string | undefined, RegExp]> = [
  ['not JSON', '{"schemaVersion": 2,', undefined, /not valid JSON/],
  ['a JSON array', [], undefined, /not a JSON object/],
  ['schemaVersion 3', { ...ociManifest, schemaVersion: 3 }, undefined, /schemaVersion 3/],
  ['body and Content-Type disagree', ociManifest, DOCKER_MANIFEST, /says it is .*oci.* but was served as .*docker/],
  ['ambiguous: manifests and layers', { ...ociManifest, manifests: [] }, undefined, /ambiguous/],
  ['index with layers', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [] }, undefined, /ambiguous/],
  ['unknown media type', { ...ociManifest, mediaType: 'application/vnd.example+json' }, undefined, /unsupported manifest media type/],
  ['an artifact, not an image', { ...ociManifest, config: { ...config, mediaType: 'application/vnd.example.config+json' } }, undefined, /not a container image/],
  ['sha512 layer digest', { ...ociManifest, layers: [{ ...layer, digest: 'sha512:' + 'a'.repeat(128) }] }, undefined, /sha512.*sha256 digests only/],
  ['malformed digest', { ...ociManifest, layers: [{ ...layer, digest: 'sha256:../../etc' }] }, undefined, /not a sha256 digest/],
  ['negative size', { ...ociManifest, layers: [{ ...layer, size: -1 }] }, undefined, /size is not a non-negative integer/],
  ['fractional size', { ...ociManifest, config: { ...config, size: 1.5 } }, undefined, /size is not a non-negative integer/],
  ['layers not a list', { ...ociManifest, layers: {} }, undefined, /"layers" is not a list/],
  ['missing config', { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }, undefined, /config is not an object/],
  ['bad annotations', { ...ociManifest, annotations: { a: 1 } }, undefined, /annotations is not a map of strings/],
  ['platform without architecture', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...entry('amd64'), platform: { os: 'linux' } }] }, undefined, /lacks os or architecture/],
];

for (const [name, body, type, message] of hostile) {
  test(`refused manifest: ${name}`, (t) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : json(body);
    const err = t.throws(() => parseManifest(bytes, type, WHERE), { instanceOf: ImageError });
    t.regex(err!.message, message);
    t.true(err!.message.startsWith(WHERE), 'names where the manifest came from');
  });
}

test('a manifest over 4 MiB is refused before parsing', (t) => {
  const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
  t.throws(() => parseManifest(big, OCI_MANIFEST, WHERE), { instanceOf: ImageError, message: /over the 4194304-byte limit/ });
});

test('platforms normalise the way containerd does', (t) => {
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'aarch64' })), 'linux/arm64/v8');
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: '8' })), 'linux/arm64/v8');
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'x86_64' })), 'linux/amd64');
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'amd64', variant: 'v1' })), 'linux/amd64');
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'arm' })), 'linux/arm/v7');
  t.is(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'armhf' })), 'linux/arm/v7');
  t.is(formatPlatform(parsePlatform('linux/arm64')), 'linux/arm64/v8');
});

test('--platform parsing', (t) => {
  t.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(parsePlatform('riscv64'), { os: 'linux', architecture: 'riscv64', variant: undefined });
  t.is(parsePlatform('linux').architecture, hostPlatform().architecture);
  for (const bad of ['', 'linux/', 'a/b/c/d', 'linux/amd 64']) {
    t.throws(() => parsePlatform(bad), { instanceOf: UsageError, message: /invalid platform/ });
  }
});

test('the host platform is linux and the OCI name of this machine', (t) => {
  t.is(hostPlatform().os, 'linux');
  t.is(hostPlatform().architecture, ociArch());
});

test('platform selection: host by default, arm64 with or without v8, arm variants fall back', (t) => {
  const idx = index(entry('amd64'), entry('arm64', 'v8'), entry('arm', 'v6'), entry('arm', 'v5'));
  t.is(selectPlatform(idx, undefined, WHERE).platform?.architecture, ociArch());
  t.is(selectPlatform(idx, { os: 'linux', architecture: 'arm64' }, WHERE).digest, digest('arm64v8'));
  const noVariant = index(entry('amd64'), entry('arm64'));
  t.is(selectPlatform(noVariant, parsePlatform('linux/arm64/v8'), WHERE).digest, digest('arm64'));
  t.is(selectPlatform(idx, parsePlatform('linux/arm/v7'), WHERE).digest, digest('armv6'), 'v7 runs v6, the best below it');
  t.is(selectPlatform(idx, parsePlatform('linux/arm/v5'), WHERE).digest, digest('armv5'));
});

test('platform selection skips nested indexes and attestations; no match lists what there is', (t) => {
  const attestation = { mediaType: OCI_MANIFEST, digest: digest('att'), size: 10, platform: { os: 'unknown', architecture: 'unknown' } };
  const nested = { ...entry('riscv64'), mediaType: OCI_INDEX };
  const idx = index(entry('amd64'), entry('arm64', 'v8'), attestation, nested);
  const err = t.throws(() => selectPlatform(idx, parsePlatform('linux/riscv64'), WHERE), { instanceOf: ImageError });
  t.is(err!.message, `${WHERE} has no image for linux/riscv64; available: linux/amd64, linux/arm64/v8, unknown/unknown`);
  t.is(err!.hint, 'choose one with --platform');
  t.throws(() => selectPlatform(index(), undefined, WHERE), { message: /available: none/ });
});

const goodConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2026-01-01T00:00:00Z',
  config: {
    Cmd: ['/probe', 'info'],
    Entrypoint: null,
    Env: ['PATH=/bin', 'A=b'],
    WorkingDir: '/srv',
    User: '1000:1000',
    ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} },
    Labels: { 'org.example': 'yes' },
  },
  rootfs: { type: 'layers', diff_ids: [digest('tar')] },
};
const manifest = parseManifest(json(ociManifest), OCI_MANIFEST, WHERE) as ImageManifest;

test('the image config gives diffIDs and the run defaults', (t) => {
  const c = parseImageConfig(json(goodConfig), manifest.layers.length, WHERE);
  t.is(c.os, 'linux');
  t.is(c.architecture, 'amd64');
  t.deepEqual(c.diffIds, [digest('tar')]);
  t.deepEqual(c.config.cmd, ['/probe', 'info']);
  t.is(c.config.entrypoint, undefined);
  t.deepEqual(c.config.env, ['PATH=/bin', 'A=b']);
  t.is(c.config.workingDir, '/srv');
  t.is(c.config.user, '1000:1000');
  t.deepEqual(c.config.exposedPorts, [
    { port: 53, protocol: 'udp' },
    { port: 80, protocol: 'tcp' },
    { port: 8080, protocol: 'tcp' },
  ]);
  t.deepEqual(c.config.labels, { 'org.example': 'yes' });
});

test('Docker nulls become empty defaults', (t) => {
  const c = parseImageConfig(json({ ...goodConfig, config: { Env: null, Cmd: null, Labels: null, ExposedPorts: null } }), manifest.layers.length, WHERE);
  t.deepEqual(c.config.env, []);
  t.is(c.config.cmd, undefined);
  t.deepEqual(c.config.labels, {});
  t.deepEqual(c.config.exposedPorts, []);
});

const badConfigs: Array<[string, unknown, RegExp]> = [
  ['diff_ids count differs from layers', { ...goodConfig, rootfs: { type: 'layers', diff_ids: [digest('a'), digest('b')] } }, /2 diff_ids but the manifest has 1 layers/],
  ['rootfs type not layers', { ...goodConfig, rootfs: { type: 'other', diff_ids: [] } }, /rootfs must be/],
  ['bad diff_id', { ...goodConfig, rootfs: { type: 'layers', diff_ids: ['md5:x'] } }, /rootfs.diff_ids\[0\]/],
  ['no os', { ...goodConfig, os: undefined }, /"os" is missing/],
  ['Cmd not strings', { ...goodConfig, config: { Cmd: [1] } }, /Cmd is not a list of strings/],
  ['NUL in Env', { ...goodConfig, config: { Env: ['A=\0b'] } }, /Env contains a NUL byte/],
  ['bad port', { ...goodConfig, config: { ExposedPorts: { '70000/tcp': {} } } }, /ExposedPorts has "70000\/tcp"/],
  ['Labels not strings', { ...goodConfig, config: { Labels: { a: 1 } } }, /Labels is not a map of strings/],
];
for (const [name, body, message] of badConfigs) {
  test(`refused config: ${name}`, (t) => {
    t.throws(() => parseImageConfig(json(body), manifest.layers.length, WHERE), { instanceOf: ImageError, message });
  });
}

test('a config over 8 MiB is refused', (t) => {
  t.throws(() => parseImageConfig(Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20), manifest.layers.length, WHERE), { message: /over the 8388608-byte limit/ });
});

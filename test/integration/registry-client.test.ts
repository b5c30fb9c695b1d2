/**
 * The registry client against the real registry (distribution 2.8): plain http
 * and TLS, certs.d trust, basic and token auth, manifests by tag and digest,
 * platform selection, blobs streamed, resumed, retried and redirected. Faults
 * come from a small proxy in front of the registry (test/support/fault-proxy.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError, RegistryError, VerifyError } from '../../runtime/errors.js';
import { parseManifest } from '../../image/manifest.js';
import { DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST } from '../../image/media-types.js';
import { parsePlatform, selectPlatform } from '../../image/platform.js';
import { parseDockerReference } from '../../image/reference.js';
import { registrySource, type RegistryOptions } from '../../image/registry/index.js';
import { readSmallBlob, type ImageSource } from '../../image/source.js';
import { startFaultProxy, type FaultAction, type FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import { publishFixtures, type PublishedFixtures } from '../support/fixture-images.js';
import { startRegistry, type RegistryOptions as HarnessOptions, type RegistryServer } from '../support/registry-server.js';
import { tempDir } from '../support/temp-dir.js';
import { startTokenRegistry } from '../support/token-registry.js';

const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 };
const HTTP = new Set(['http']);
const USER = { username: 'alice', password: 'wonder:land' };

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function registry(t: ExecutionContext, opts: HarnessOptions = {}): Promise<{ server: RegistryServer; fixtures: PublishedFixtures }> {
  const server = await startRegistry(opts);
  t.teardown(() => server.stop());
  return { server, fixtures: await publishFixtures(server) };
}

async function proxy(t: ExecutionContext, target: string, rule?: FaultRule): Promise<FaultProxy> {
  const p = await startFaultProxy(target, rule);
  t.teardown(() => p.stop());
  return p;
}

function source(t: ExecutionContext, reference: string, options: RegistryOptions): ImageSource {
  const src = registrySource(parseDockerReference(reference), { retry: FAST_RETRY, certsDir: '/nonexistent', dockerConfigPath: '/nonexistent/config.json', ...options });
  t.teardown(() => src.close());
  return src;
}

function dockerConfig(t: ExecutionContext, auths: Record<string, unknown>): string {
  const dir = tempDir(t, 'skiff-docker-config-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths }));
  return dir;
}

const largestLayer = (f: PublishedFixtures) => f.oci.layers[0]!;

test('plain http with --insecure-options=http: manifests by tag (OCI and v2s2) and by digest', async (t) => {
  const { server, fixtures } = await registry(t);
  const oci = await source(t, fixtures.refs.oci, { insecure: HTTP }).resolve();
  t.is(oci.digest, fixtures.oci.manifest.digest);
  t.is(oci.mediaType, OCI_MANIFEST);
  t.deepEqual(oci.bytes, fixtures.oci.manifest.data);
  const v2s2 = await source(t, fixtures.refs.docker, { insecure: HTTP }).resolve();
  t.is(v2s2.mediaType, DOCKER_MANIFEST, 'both Accept families sent: no schema 1 down-conversion');
  t.is(v2s2.digest, fixtures.docker.manifest.digest);
  const byDigest = await source(t, `docker://${server.host}/skiff/probe@${fixtures.oci.manifest.digest}`, { insecure: HTTP }).resolve();
  t.is(byDigest.digest, fixtures.oci.manifest.digest);
});

test('plain http without --insecure-options=http is refused, saying how to allow it', async (t) => {
  const { fixtures } = await registry(t);
  const err = await t.throwsAsync(source(t, fixtures.refs.oci, {}).resolve(), { instanceOf: RegistryError });
  t.regex(err!.message, /answered the TLS handshake in plain HTTP/);
  t.is(err!.hint, 'if this registry serves plain http, allow it with --insecure-options=http');
});

test('TLS: trusted through <certsDir>/<host:port>/ca.crt, refused without it, allowed with --insecure-options=tls', async (t) => {
  const { server, fixtures } = await registry(t, { tls: true });
  const certsDir = tempDir(t, 'skiff-certs-');
  mkdirSync(join(certsDir, server.host));
  writeFileSync(join(certsDir, server.host, 'ca.crt'), server.caCertPem!);
  const trusted = await source(t, fixtures.refs.oci, { certsDir }).resolve();
  t.is(trusted.digest, fixtures.oci.manifest.digest);

  const err = await t.throwsAsync(source(t, fixtures.refs.oci, {}).resolve(), { instanceOf: RegistryError });
  t.regex(err!.message, /TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
  t.regex(err!.hint!, /\/nonexistent\/127\.0\.0\.1:\d+\/ca\.crt, or skip verification with --insecure-options=tls/);

  const skipped = await source(t, fixtures.refs.oci, { insecure: new Set(['tls']) }).resolve();
  t.is(skipped.digest, fixtures.oci.manifest.digest);
  // With http allowed, https is still tried first, and a TLS registry is used over TLS.
  const both = await source(t, fixtures.refs.oci, { certsDir, insecure: HTTP }).resolve();
  t.is(both.digest, fixtures.oci.manifest.digest);
  // ...and an untrusted one is reported as such, not as the 400 its TLS port gives plain http.
  const untrusted = await t.throwsAsync(source(t, fixtures.refs.oci, { insecure: HTTP }).resolve(), { instanceOf: RegistryError });
  t.regex(untrusted!.message, /is not trusted/);
});

test('basic auth: credentials from $DOCKER_CONFIG/config.json (auth or username/password), 401 without', async (t) => {
  const { server, fixtures } = await registry(t, { auth: { username: USER.username, password: USER.password } });
  const auth = Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
  const byAuth = dockerConfig(t, { [`https://${server.host}`]: { auth } });
  const ok = await source(t, fixtures.refs.oci, { insecure: HTTP, dockerConfigPath: undefined, env: { DOCKER_CONFIG: byAuth } }).resolve();
  t.is(ok.digest, fixtures.oci.manifest.digest);

  const home = tempDir(t, 'skiff-home-');
  mkdirSync(join(home, '.docker'));
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [server.host]: USER } }));
  const layer = largestLayer(fixtures);
  const src = source(t, fixtures.refs.oci, { insecure: HTTP, dockerConfigPath: undefined, env: { HOME: home } });
  t.is(sha256(await readAll(await src.openBlob(layer))), layer.digest);

  const anonymous = await t.throwsAsync(source(t, fixtures.refs.oci, { insecure: HTTP }).resolve(), { instanceOf: RegistryError });
  t.is(anonymous!.status, 401);
  t.regex(anonymous!.message, /HTTP 401 \(UNAUTHORIZED: authentication required\)/);
  t.regex(anonymous!.hint!, /needs credentials: add them for 127\.0\.0\.1:\d+ to \/nonexistent\/config\.json/);

  const wrong = dockerConfig(t, { [server.host]: { username: USER.username, password: 'nope' } });
  const denied = await t.throwsAsync(source(t, fixtures.refs.oci, { insecure: HTTP, dockerConfigPath: join(wrong, 'config.json') }).resolve(), {
    instanceOf: RegistryError,
  });
  t.regex(denied!.hint!, /check the credentials for 127\.0\.0\.1:\d+ in .*config\.json/);
});

test('token auth: the challenge is followed to the token server, one token per scope serves every request', async (t) => {
  const server = await startTokenRegistry({ users: { [USER.username]: USER.password } });
  t.teardown(() => server.stop());
  const fixtures = await publishFixtures(server);
  const config = dockerConfig(t, { [server.host]: USER });
  const src = source(t, fixtures.refs.index, { insecure: HTTP, dockerConfigPath: join(config, 'config.json') });
  const index = await src.resolve();
  t.is(index.digest, fixtures.index.blob.digest);
  const child = await src.fetchManifest(fixtures.index.images[0]!.manifest.digest);
  t.is(child.digest, fixtures.index.images[0]!.manifest.digest);
  const config0 = await readSmallBlob(src, fixtures.index.images[0]!.config);
  t.deepEqual(config0, fixtures.index.images[0]!.config.data);
  const granted = server.tokens.requests.filter((r) => r.status === 200);
  t.is(granted.length, 1, 'the token is cached for its scope');
  t.deepEqual(granted[0], { user: 'alice', scopes: ['repository:skiff/probe:pull'], service: server.tokens.service, status: 200 });

  const anonymous = await t.throwsAsync(source(t, fixtures.refs.oci, { insecure: HTTP }).resolve(), { instanceOf: RegistryError });
  t.is(anonymous!.status, 401);
  t.regex(anonymous!.message, /token server request failed with HTTP 401/);
  t.regex(anonymous!.hint!, /add them for 127\.0\.0\.1:\d+/);
});

test('token auth: anonymous pull when the token server allows it', async (t) => {
  const server = await startTokenRegistry({ anonymousPull: true });
  t.teardown(() => server.stop());
  const fixtures = await publishFixtures(server);
  const src = source(t, fixtures.refs.oci, { insecure: HTTP });
  t.is((await src.resolve()).digest, fixtures.oci.manifest.digest);
  const layer = largestLayer(fixtures);
  t.is(sha256(await readAll(await src.openBlob(layer))), layer.digest);
  t.like(server.tokens.requests.at(-1), { user: undefined, status: 200 });
});

test('a manifest whose bytes do not match the digest asked for, or the Docker-Content-Digest, is refused', async (t) => {
  const { server, fixtures } = await registry(t);
  const tamper = (body: Buffer): Buffer => Buffer.concat([body, Buffer.from(' ')]);
  const p = await proxy(t, server.url, (req) => (req.path.includes('/manifests/') ? { kind: 'rewrite', body: tamper } : undefined));
  const digest = fixtures.oci.manifest.digest;
  const byDigest = await t.throwsAsync(source(t, `docker://${p.host}/skiff/probe@${digest}`, { insecure: HTTP }).resolve(), { instanceOf: VerifyError });
  t.is(byDigest!.expected, digest);
  t.is(byDigest!.actual, sha256(tamper(fixtures.oci.manifest.data)));
  t.regex(byDigest!.message, new RegExp(`manifest ${digest} from http://${p.host}/v2/skiff/probe/manifests/${digest} does not match its digest`));
  const byTag = await t.throwsAsync(source(t, `docker://${p.host}/skiff/probe:oci`, { insecure: HTTP }).resolve(), { instanceOf: VerifyError });
  t.regex(byTag!.message, /does not match the Docker-Content-Digest/);
});

test('a schema 1 answer is refused with the fix in the message', async (t) => {
  const { server, fixtures } = await registry(t);
  const p = await proxy(t, server.url, () => ({ kind: 'rewrite', headers: { 'content-type': DOCKER_SCHEMA1_SIGNED } }));
  const ref = fixtures.refs.docker.replace(server.host, p.host);
  const err = await t.throwsAsync(source(t, ref, { insecure: HTTP }).resolve(), { instanceOf: ImageError });
  t.is(err!.message, `${ref} is a Docker schema 1 manifest, which Skiff does not support; push the image again with a current docker or skopeo`);
});

test('platform selection from the index: amd64 by default, arm64 by option, a clear error otherwise', async (t) => {
  const { fixtures } = await registry(t);
  const src = source(t, fixtures.refs.index, { insecure: HTTP });
  const top = await src.resolve();
  const index = parseManifest(top.bytes, top.mediaType, src.name);
  if (index.kind !== 'index') return t.fail('expected an index');
  t.is(index.mediaType, OCI_INDEX);
  const [amd64, arm64] = fixtures.index.images;
  const host = selectPlatform(index, { os: 'linux', architecture: 'amd64' }, src.name);
  t.is(host.digest, amd64!.manifest.digest);
  const arm = selectPlatform(index, parsePlatform('linux/arm64'), src.name);
  t.is(arm.digest, arm64!.manifest.digest);
  const armManifest = await src.fetchManifest(arm.digest);
  t.is(parseManifest(armManifest.bytes, armManifest.mediaType, src.name).kind, 'manifest');
  const err = t.throws(() => selectPlatform(index, parsePlatform('linux/s390x'), src.name), { instanceOf: ImageError });
  t.is(err!.message, `${src.name} has no image for linux/s390x; available: linux/amd64, linux/arm64/v8`);
});

test('a blob streams with its sha256; a missing one is a 404 with a hint', async (t) => {
  const { server, fixtures } = await registry(t);
  const src = source(t, fixtures.refs.oci, { insecure: HTTP });
  for (const blob of fixtures.oci.blobs) {
    const data = await readAll(await src.openBlob(blob));
    t.is(data.length, blob.size);
    t.is(sha256(data), blob.digest);
  }
  const missing = { ...largestLayer(fixtures), digest: sha256(Buffer.from('nothing')) };
  const err = await t.throwsAsync(src.openBlob(missing), { instanceOf: RegistryError });
  t.is(err!.status, 404);
  t.regex(err!.message, /BLOB_UNKNOWN/);
  t.regex(err!.message, new RegExp(`http://${server.host}/v2/skiff/probe/blobs/${missing.digest}`));
});

test('an interrupted blob resumes with Range inside the same stream (206, and 200 from a server ignoring Range)', async (t) => {
  const { server, fixtures } = await registry(t);
  const layer = largestLayer(fixtures);
  const cutAt = Math.floor(layer.size / 3);
  t.true(layer.size > 3 * 65536, `the layer is big enough to cut (${layer.size} bytes)`);
  const isBlob = (path: string): boolean => path.includes('/blobs/');
  for (const stripRange of [false, true]) {
    const p = await proxy(t, server.url, (req, seen) => (isBlob(req.path) ? (seen === 1 ? { kind: 'cut', afterBytes: cutAt } : { kind: 'pass', stripRange }) : undefined));
    const src = source(t, fixtures.refs.oci.replace(server.host, p.host), { insecure: HTTP });
    const data = await readAll(await src.openBlob(layer));
    t.is(sha256(data), layer.digest, stripRange ? 'skipped the bytes it had' : 'continued where it stopped');
    const blobRequests = p.requests.filter((r) => isBlob(r.path));
    t.is(blobRequests.length, 2);
    t.is(blobRequests[0]!.headers.range, undefined);
    t.is(blobRequests[1]!.headers.range, `bytes=${cutAt}-`);
  }
});

test('a blob body that goes silent times out (bodyIdleMs) and resumes with Range where it stopped', async (t) => {
  const { server, fixtures } = await registry(t);
  const layer = largestLayer(fixtures);
  const stallAt = 1000;
  const isBlob = (path: string): boolean => path.includes('/blobs/');
  const p = await proxy(t, server.url, (req, seen) => (isBlob(req.path) && seen === 1 ? { kind: 'stall', afterBytes: stallAt } : undefined));
  const src = source(t, fixtures.refs.oci.replace(server.host, p.host), { insecure: HTTP, timeouts: { bodyIdleMs: 200 } });
  const data = await readAll(await src.openBlob(layer));
  t.is(sha256(data), layer.digest);
  t.deepEqual(
    p.requests.filter((r) => isBlob(r.path)).map((r) => r.headers.range),
    [undefined, `bytes=${stallAt}-`],
    'the silent body was given up and the rest asked for',
  );
});

test('a blob that keeps breaking off without progress fails after the retry budget', async (t) => {
  const { server, fixtures } = await registry(t);
  const layer = largestLayer(fixtures);
  const p = await proxy(t, server.url, (req, seen) =>
    req.path.includes('/blobs/') ? { kind: 'cut', afterBytes: seen === 1 ? 1000 : 0 } : undefined,
  );
  const src = source(t, fixtures.refs.oci.replace(server.host, p.host), { insecure: HTTP });
  const err = await t.throwsAsync(readAll(await src.openBlob(layer)), { instanceOf: RegistryError });
  t.regex(err!.message, /broke off at byte 1000 of \d+, 4 times in a row without progress/);
  t.is(p.requests.filter((r) => r.headers.range === 'bytes=1000-').length, 3, 'three resumes, none got anywhere');
});

test('5xx is retried with backoff; a registry that keeps failing is reported with its status', async (t) => {
  const { server, fixtures } = await registry(t);
  const p = await proxy(t, server.url, (req, seen) => (req.path.includes('/manifests/') && seen === 1 ? { kind: 'status', status: 503 } : undefined));
  const delays: number[] = [];
  const retry = { ...FAST_RETRY, sleep: async (ms: number) => void delays.push(ms) };
  const ok = await source(t, fixtures.refs.oci.replace(server.host, p.host), { insecure: HTTP, retry }).resolve();
  t.is(ok.digest, fixtures.oci.manifest.digest);
  t.is(delays.length, 1);

  p.setRule((req) => (req.path.includes('/manifests/') ? { kind: 'status', status: 502, body: '{"errors":[{"code":"UNAVAILABLE","message":"down"}]}' } : undefined));
  delays.length = 0;
  const err = await t.throwsAsync(source(t, fixtures.refs.oci.replace(server.host, p.host), { insecure: HTTP, retry }).resolve(), { instanceOf: RegistryError });
  t.is(err!.status, 502);
  t.regex(err!.message, /HTTP 502 \(UNAVAILABLE: down\)/);
  t.is(delays.length, 3, 'four tries, three waits');
  t.true(delays[1]! >= delays[0]!, 'backoff grows');
});

test('a blob redirect is followed to another host without the registry credentials', async (t) => {
  const { server, fixtures } = await registry(t);
  const blobHost = await proxy(t, server.url);
  const basic = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;
  const front = await proxy(t, server.url, (req): FaultAction | undefined => {
    if (req.headers.authorization !== basic) {
      return { kind: 'status', status: 401, headers: { 'www-authenticate': 'Basic realm="front"' }, body: '{"errors":[{"code":"UNAUTHORIZED"}]}' };
    }
    if (req.path.includes('/blobs/')) return { kind: 'status', status: 307, headers: { location: `${blobHost.url}${req.path}` } };
    return undefined;
  });
  const config = dockerConfig(t, { [front.host]: USER });
  const src = source(t, fixtures.refs.oci.replace(server.host, front.host), { insecure: HTTP, dockerConfigPath: join(config, 'config.json') });
  const layer = largestLayer(fixtures);
  t.is(sha256(await readAll(await src.openBlob(layer))), layer.digest);
  t.true(front.requests.some((r) => r.path.includes('/blobs/') && r.headers.authorization === basic), 'the registry got the credentials');
  t.is(blobHost.requests.length, 1);
  t.is(blobHost.requests[0]!.headers.authorization, undefined, 'the other host did not');
});

test('errors name the reference and say what to do: unknown tag, refused connection', async (t) => {
  const { fixtures, server } = await registry(t);
  const missing = fixtures.refs.oci.replace(':oci', ':nope');
  const err = await t.throwsAsync(source(t, missing, { insecure: HTTP }).resolve(), { instanceOf: RegistryError });
  t.is(err!.status, 404);
  t.is(err!.input, missing);
  t.regex(err!.message, /MANIFEST_UNKNOWN/);
  t.is(err!.hint, 'check the repository name and the tag or digest');
  await server.stop();
  const refused = await t.throwsAsync(source(t, fixtures.refs.oci, { insecure: HTTP }).resolve(), { instanceOf: RegistryError });
  t.regex(refused!.message, /connection refused/);
});

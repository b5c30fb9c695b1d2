import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '../../runtime/errors.js';
import { parseChallenges } from '../../image/registry/challenge.js';
import { dockerConfigPath, findCredentials } from '../../image/registry/docker-config.js';
import { backoffDelay, isRetryableError, isRetryableStatus, retryAfterMs } from '../../image/registry/retry.js';
import { describeErrorBody } from '../../image/registry/registry-errors.js';

test('Bearer challenges keep quoted commas; several challenges in one header', (t) => {
  t.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
  ]);
  t.deepEqual(parseChallenges(['Basic realm="x"', 'Bearer realm="y", error="insufficient_scope"']), [
    { scheme: 'basic', params: { realm: 'x' } },
    { scheme: 'bearer', params: { realm: 'y', error: 'insufficient_scope' } },
  ]);
  t.deepEqual(parseChallenges('Basic realm="a\\"b", Bearer realm=unquoted'), [
    { scheme: 'basic', params: { realm: 'a"b' } },
    { scheme: 'bearer', params: { realm: 'unquoted' } },
  ]);
  t.deepEqual(parseChallenges(undefined), []);
});

function withConfig(t: import('ava').ExecutionContext, config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-docker-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.json');
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

test('docker config keys match by host, in every form docker wrote them', (t) => {
  const auth = (u: string, p: string) => ({ auth: Buffer.from(`${u}:${p}`).toString('base64') });
  const path = withConfig(t, {
    auths: {
      'https://index.docker.io/v1/': auth('hub', 'pw:with:colons'),
      'http://127.0.0.1:5000/v2/': { username: 'local', password: 'secret' },
      'registry.example': auth('ex', 'x'),
      'token.example': { username: 'tok', identitytoken: 'refresh-me' },
    },
  });
  t.like(findCredentials('registry-1.docker.io', path), { username: 'hub', password: 'pw:with:colons', from: path });
  t.like(findCredentials('docker.io', path), { username: 'hub' });
  t.like(findCredentials('127.0.0.1:5000', path), { username: 'local', password: 'secret' });
  t.like(findCredentials('REGISTRY.example', path), { username: 'ex' });
  t.like(findCredentials('token.example', path), { username: 'tok', identityToken: 'refresh-me' });
  t.is(findCredentials('127.0.0.1:5001', path), undefined);
  t.is(findCredentials('x', '/nonexistent/config.json'), undefined);
});

test('a broken docker config is an error that names the file', (t) => {
  const path = withConfig(t, '{"auths": ');
  t.throws(() => findCredentials('x', path), { instanceOf: RegistryError, message: new RegExp(`${path} is not valid JSON`) });
  const badAuth = withConfig(t, { auths: { x: { auth: Buffer.from('nocolon').toString('base64') } } });
  t.throws(() => findCredentials('x', badAuth), { message: /not base64 of user:password/ });
});

test('the docker config is found through DOCKER_CONFIG, then HOME', (t) => {
  t.is(dockerConfigPath({ DOCKER_CONFIG: '/etc/dc' }), '/etc/dc/config.json');
  t.is(dockerConfigPath({ HOME: '/home/u' }), '/home/u/.docker/config.json');
});

test('retry: which failures, and how long to wait', (t) => {
  t.true(isRetryableStatus(503));
  t.true(isRetryableStatus(429));
  t.false(isRetryableStatus(404));
  t.true(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
  t.true(isRetryableError(new Error('wrapped', { cause: Object.assign(new Error('y'), { code: 'UND_ERR_SOCKET' }) })));
  t.false(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })));
  const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 };
  for (let i = 0; i < 20; i++) {
    const d1 = backoffDelay(1, policy);
    t.true(d1 >= 80 && d1 <= 120);
    t.true(backoffDelay(5, policy) <= 360, 'capped (plus jitter)');
  }
  t.true(backoffDelay(1, policy, 250) >= 250, 'Retry-After is honoured up to the cap');
  t.is(retryAfterMs('2'), 2000);
  t.is(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT'), undefined);
});

test('distribution error bodies become one line', (t) => {
  t.is(
    describeErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'),
    'MANIFEST_UNKNOWN: manifest unknown',
  );
  t.is(describeErrorBody('<html>' + 'x'.repeat(300)), undefined);
  t.is(describeErrorBody('plain words'), 'plain words');
});

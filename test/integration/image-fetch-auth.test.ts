/**
 * `skiff fetch` against registries that need TLS and credentials, configured
 * the way users configure docker: a CA in certs.d/<host:port>/ca.crt, and
 * credentials in $DOCKER_CONFIG/config.json.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publishFixtures } from '../support/fixture-images.js';
import { startRegistry } from '../support/registry-server.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import { startTokenRegistry } from '../support/token-registry.js';

function dockerConfig(dir: string, host: string, user: string, password: string): string {
  const configDir = join(dir, 'docker');
  mkdirSync(configDir, { recursive: true });
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return configDir;
}

test('TLS with a CA from certs.d and basic auth from the docker config', async (t) => {
  const registry = await startRegistry({ tls: true, auth: { username: 'alice', password: 's3cret' } });
  t.teardown(() => registry.stop());
  const published = await publishFixtures(registry);
  const dir = tempDir(t);
  const certs = join(dir, 'certs.d');
  mkdirSync(join(certs, registry.host), { recursive: true });
  writeFileSync(join(certs, registry.host, 'ca.crt'), registry.caCertPem ?? '');

  const noCa = await runSkiff(['--dir', join(dir, 's1'), 'fetch', '--quiet', published.refs.oci], { env: { SKIFF_CERTS_DIR: join(dir, 'empty') } });
  t.is(noCa.code, 254);
  t.regex(noCa.stderr, /certificate|TLS|tls/);

  const noAuth = await runSkiff(['--dir', join(dir, 's2'), 'fetch', '--quiet', published.refs.oci], {
    env: { SKIFF_CERTS_DIR: certs, DOCKER_CONFIG: join(dir, 'nowhere') },
  });
  t.is(noAuth.code, 254);
  t.regex(noAuth.stderr, /401|credentials|unauthorized/i);

  const ok = await runSkiff(['--dir', join(dir, 's3'), 'fetch', '--quiet', published.refs.oci], {
    env: { SKIFF_CERTS_DIR: certs, DOCKER_CONFIG: dockerConfig(dir, registry.host, 'alice', 's3cret') },
  });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.trim(), published.oci.config.digest);

  const insecure = await runSkiff(['--dir', join(dir, 's4'), '--insecure-options=tls', 'fetch', '--quiet', published.refs.docker], {
    env: { SKIFF_CERTS_DIR: join(dir, 'empty'), DOCKER_CONFIG: dockerConfig(dir, registry.host, 'alice', 's3cret') },
  });
  t.is(insecure.code, 0, insecure.stderr);
});

test('bearer-token auth through a token server, with credentials from the docker config', async (t) => {
  const registry = await startTokenRegistry({ users: { bob: 'hunter2' }, anonymousPull: false });
  t.teardown(() => registry.stop());
  const published = await publishFixtures(registry);
  const dir = tempDir(t);
  const denied = await runSkiff(['--dir', join(dir, 's1'), '--insecure-options=http', 'fetch', '--quiet', published.refs.oci], {
    env: { DOCKER_CONFIG: join(dir, 'nowhere') },
  });
  t.is(denied.code, 254);
  const ok = await runSkiff(['--dir', join(dir, 's2'), '--insecure-options=http', 'fetch', '--quiet', published.refs.index], {
    env: { DOCKER_CONFIG: dockerConfig(dir, registry.host, 'bob', 'hunter2') },
  });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.trim(), published.index.images[0]?.config.digest ?? 'missing');
});

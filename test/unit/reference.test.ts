import test from 'ava';
import { UsageError } from '../../runtime/errors.js';
import { formatReference, parseDockerReference, parseReference, type DockerReference } from '../../image/reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

function docker(input: string): DockerReference {
  return parseDockerReference(input);
}

test('a bare one-component name is a Docker Hub library image at latest', (t) => {
  t.like(docker('busybox'), {
    transport: 'docker',
    domain: 'docker.io',
    registry: 'registry-1.docker.io',
    repository: 'library/busybox',
    tag: 'latest',
    digest: undefined,
  });
  t.is(formatReference(parseReference('busybox')), 'docker://docker.io/library/busybox:latest');
});

test('docker.io and index.docker.io mean Docker Hub; two components stay as they are', (t) => {
  t.like(docker('docker://docker.io/busybox:1.36'), { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36' });
  t.like(docker('index.docker.io/library/debian'), { domain: 'docker.io', repository: 'library/debian' });
  t.like(docker('bitnami/redis:7'), { domain: 'docker.io', repository: 'bitnami/redis', tag: '7' });
});

test('host detection: a dot, a colon, localhost, or upper case in the first component', (t) => {
  t.like(docker('docker://127.0.0.1:5000/skiff/probe:oci'), { domain: '127.0.0.1:5000', registry: '127.0.0.1:5000', repository: 'skiff/probe', tag: 'oci' });
  t.like(docker('quay.io/coreos/etcd'), { registry: 'quay.io', repository: 'coreos/etcd', tag: 'latest' });
  t.like(docker('localhost/app'), { registry: 'localhost', repository: 'app' });
  t.like(docker('localhost:5000/app'), { registry: 'localhost:5000', repository: 'app' });
  t.like(docker('Registry/app'), { registry: 'Registry', repository: 'app' });
  t.like(docker('[::1]:5000/app:v1'), { registry: '[::1]:5000', repository: 'app', tag: 'v1' });
  // Without a slash a colon is a tag, as in docker.
  t.like(docker('localhost:5000'), { domain: 'docker.io', repository: 'library/localhost', tag: '5000' });
  // Not a host: a one-component Hub name is not prefixed when it has a host.
  t.like(docker('registry.example/app'), { repository: 'app' });
});

test('digests pin the image; a tag and a digest may both be given', (t) => {
  t.like(docker(`127.0.0.1:5000/app@${D}`), { tag: undefined, digest: D });
  t.like(docker(`127.0.0.1:5000/app:v1@${D}`), { tag: 'v1', digest: D });
  t.is(formatReference(docker(`app:v1@${D}`)), `docker://docker.io/library/app:v1@${D}`);
});

test('non-docker transports', (t) => {
  t.deepEqual(parseReference('oci:/tmp/layout:multi'), { transport: 'oci', path: '/tmp/layout', ref: 'multi' });
  t.deepEqual(parseReference('oci:/tmp/layout'), { transport: 'oci', path: '/tmp/layout', ref: undefined });
  t.deepEqual(parseReference('oci-archive:img.tar:v1.2'), { transport: 'oci-archive', path: 'img.tar', ref: 'v1.2' });
  t.deepEqual(parseReference('docker-archive:/tmp/save.tar:@1'), { transport: 'docker-archive', path: '/tmp/save.tar', ref: { index: 1 } });
  const named = parseReference('docker-archive:save.tar:busybox:latest');
  t.is(named.transport, 'docker-archive');
  t.like(named.transport === 'docker-archive' && named.ref !== undefined && 'name' in named.ref ? named.ref.name : {}, {
    repository: 'library/busybox',
    tag: 'latest',
  });
  for (const s of ['oci:/tmp/layout:multi', 'oci-archive:img.tar', 'docker-archive:/x.tar:@0', 'docker-archive:/x.tar:docker.io/library/busybox:latest']) {
    t.is(formatReference(parseReference(s)), s);
  }
});

const invalid: Array<[string, RegExp]> = [
  ['', /empty name/],
  ['docker:busybox', /docker:\/\//],
  ['Busybox', /must be lowercase/],
  ['127.0.0.1:5000/Skiff/probe', /must be lowercase/],
  ['busybox:-bad', /not a valid tag/],
  ['busybox:' + 'a'.repeat(129), /not a valid tag/],
  ['busybox@sha256:abc', /not a sha256 digest/],
  ['busybox@sha512:' + 'a'.repeat(128), /unsupported digest algorithm "sha512"/],
  ['busybox@' + D.toUpperCase().replace('SHA256', 'sha256'), /not a sha256 digest/],
  ['127.0.0.1:99999/app', /not a valid port/],
  ['-bad.example/app', /not a valid registry host/],
  ['registry.example/a//b', /empty path component/],
  ['registry.example/a_-b', /not a valid repository path component/],
  ['registry.example/' + 'a'.repeat(250), /longer than 255/],
  ['dir:/tmp/x', /unknown transport "dir:"/],
  ['oci:', /needs a path/],
  ['oci:/tmp/x:', /empty ref/],
  ['oci:/tmp/x:bad ref', /not a valid OCI ref name/],
  ['docker-archive:/x.tar:@x', /not an image index/],
  [`docker-archive:/x.tar:busybox@${D}`, /not by digest/],
];

for (const [input, message] of invalid) {
  test(`refused: ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, (t) => {
    const err = t.throws(() => parseReference(input), { instanceOf: UsageError });
    t.regex(err!.message, message);
    t.is(err!.input, input);
    t.true(err!.message.includes(`"${input}"`), 'the message names the reference');
  });
}

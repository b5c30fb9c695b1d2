/**
 * Image references: where an image comes from, parsed once at the edge so the
 * rest of Skiff only ever sees a typed value.
 *
 *   docker://host[:port]/repo[:tag][@sha256:…]   a registry (a bare name means this)
 *   oci:DIR[:ref]                                 an OCI image layout directory
 *   oci-archive:FILE[:ref]                        a tar of an OCI image layout
 *   docker-archive:FILE[:name:tag|:@N]            a `docker save` tarball
 *
 * Docker names follow distribution's reference grammar and docker's
 * normalisation: the first path component is a registry host only if it has a
 * `.` or a `:`, is `localhost`, or has upper-case letters; otherwise the image
 * is on Docker Hub (`docker.io`, served by `registry-1.docker.io`), and a
 * one-component Hub repository lives under `library/`. Without a tag or a
 * digest the tag is `latest`. Only sha256 digests are accepted, as that is the
 * only algorithm Skiff verifies. As in containers/image, the path of the
 * `oci*:` and `docker-archive:` transports ends at its first `:`.
 */
import { UsageError } from '../runtime/errors.js';
import { SHA256_DIGEST } from './digest.js';

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

export interface DockerReference {
  readonly transport: 'docker';
  /** The registry as users name it: 'docker.io', 'quay.io', '127.0.0.1:5000'. */
  readonly domain: string;
  /** host[:port] to connect to: the domain, except registry-1.docker.io for docker.io. */
  readonly registry: string;
  /** The repository path inside the registry: 'library/busybox', 'skiff/probe'. */
  readonly repository: string;
  /** The tag; 'latest' when neither a tag nor a digest was given. */
  readonly tag: string | undefined;
  /** 'sha256:<64 hex>' when the reference pins a digest (it wins over the tag). */
  readonly digest: string | undefined;
}

export interface OciLayoutReference {
  readonly transport: 'oci' | 'oci-archive';
  readonly path: string;
  /** The `org.opencontainers.image.ref.name` to pick; undefined: the only manifest. */
  readonly ref: string | undefined;
}

export interface DockerArchiveReference {
  readonly transport: 'docker-archive';
  readonly path: string;
  /** An image by name (matched against RepoTags) or by position (`@N`) in manifest.json. */
  readonly ref: { readonly name: DockerReference } | { readonly index: number } | undefined;
}

export type ImageReference = DockerReference | OciLayoutReference | DockerArchiveReference;

const MAX_NAME_LENGTH = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const OCI_REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;
const TRANSPORTS = ['docker', 'oci', 'oci-archive', 'docker-archive'] as const;

function invalid(input: string, what: string, hint?: string): UsageError {
  return new UsageError(`invalid image reference "${input}": ${what}`, {
    input,
    hint: hint ?? 'write docker://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:NAME:TAG|:@N]',
  });
}

/** Parses any reference the CLI accepts; a string without a transport is a docker name. */
export function parseReference(input: string): ImageReference {
  const transport = /^([a-z][a-z0-9-]*):/.exec(input)?.[1];
  if (transport === 'docker') {
    if (!input.startsWith('docker://')) throw invalid(input, 'the docker transport is written docker://NAME');
    return parseDockerName(input.slice('docker://'.length), input);
  }
  if (transport === 'oci' || transport === 'oci-archive') {
    const { path, ref } = splitPath(input, transport);
    if (ref !== undefined && !OCI_REF_NAME.test(ref)) {
      throw invalid(input, `"${ref}" is not a valid OCI ref name (letters, digits and - . _ : @ + / separators)`);
    }
    return { transport, path, ref };
  }
  if (transport === 'docker-archive') {
    const { path, ref } = splitPath(input, transport);
    if (ref === undefined) return { transport, path, ref: undefined };
    if (ref.startsWith('@')) {
      if (!/^@(?:0|[1-9][0-9]{0,8})$/.test(ref)) throw invalid(input, `"${ref}" is not an image index (@0, @1, …)`);
      return { transport, path, ref: { index: Number(ref.slice(1)) } };
    }
    const name = parseDockerName(ref, input);
    if (name.digest !== undefined) throw invalid(input, 'a docker-archive image is named by NAME:TAG, not by digest');
    return { transport, path, ref: { name } };
  }
  try {
    return parseDockerName(input, input);
  } catch (err) {
    // 'dir:/x' is a transport we do not know; 'localhost:5000/x' is a host, 'app:-x' a bad tag.
    if (transport !== undefined && /^[a-z][a-z0-9-]*:[^0-9][^/]*\//.test(input)) {
      throw invalid(input, `unknown transport "${transport}:"`, `use one of ${TRANSPORTS.map((t) => (t === 'docker' ? 'docker://' : `${t}:`)).join(', ')}`);
    }
    throw err;
  }
}

/** Parses a reference that must name a registry image (docker:// or a bare name). */
export function parseDockerReference(input: string): DockerReference {
  const ref = parseReference(input);
  if (ref.transport !== 'docker') throw invalid(input, `expected a registry image, not ${ref.transport}:`);
  return ref;
}

function splitPath(input: string, transport: string): { path: string; ref: string | undefined } {
  const rest = input.slice(transport.length + 1);
  const colon = rest.indexOf(':');
  const path = colon < 0 ? rest : rest.slice(0, colon);
  const ref = colon < 0 ? undefined : rest.slice(colon + 1);
  if (path === '') throw invalid(input, `${transport}: needs a path`);
  if (ref === '') throw invalid(input, 'empty ref after the path');
  return { path, ref };
}

/** A docker name without transport: [host[:port]/]path[:tag][@digest]. */
export function parseDockerName(name: string, input: string = name): DockerReference {
  if (name === '') throw invalid(input, 'empty name');
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `"${digest}" is not a digest (sha256:<64 hex digits>)`);
    if (!digest.startsWith('sha256:')) {
      throw invalid(input, `unsupported digest algorithm "${digest.split(':')[0]}"`, 'Skiff verifies sha256 digests only');
    }
    if (!SHA256_DIGEST.test(digest)) throw invalid(input, `"${digest}" is not a sha256 digest (64 lower-case hex digits)`);
  }
  let tag: string | undefined;
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(input, `"${tag}" is not a valid tag (up to 128 letters, digits, _ . -, not starting with . or -)`);
    }
  }
  let domain = DOCKER_HUB_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first || first.startsWith('[')) {
      domain = first;
      path = rest.slice(slash + 1);
      checkDomain(domain, input);
    }
  }
  if (domain === 'index.docker.io') domain = DOCKER_HUB_DOMAIN;
  if (path === '') throw invalid(input, 'empty repository name');
  for (const component of path.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (component.toLowerCase() !== component && PATH_COMPONENT.test(component.toLowerCase())) {
      throw invalid(input, 'repository name must be lowercase');
    }
    throw invalid(
      input,
      component === '' ? 'empty path component in the repository name' : `"${component}" is not a valid repository path component (lower-case letters and digits, separated by . _ __ or -)`,
    );
  }
  if (domain === DOCKER_HUB_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) throw invalid(input, `name longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return {
    transport: 'docker',
    domain,
    registry: domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_REGISTRY : domain,
    repository: path,
    tag,
    digest,
  };
}

function checkDomain(domain: string, input: string): void {
  const portAt = domain.startsWith('[') ? domain.indexOf(']:') + 1 : domain.lastIndexOf(':');
  const host = portAt > 0 ? domain.slice(0, portAt) : domain;
  const port = portAt > 0 ? domain.slice(portAt + 1) : undefined;
  if (!DOMAIN_NAME.test(host) && !IPV6_HOST.test(host)) throw invalid(input, `"${domain}" is not a valid registry host`);
  if (port !== undefined && (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw invalid(input, `"${port}" is not a valid port`);
  }
}

/** The canonical form: `docker://docker.io/library/busybox:latest`, `oci:/dir:ref`. */
export function formatReference(ref: ImageReference): string {
  switch (ref.transport) {
    case 'docker':
      return `docker://${formatDockerName(ref)}`;
    case 'oci':
    case 'oci-archive':
      return `${ref.transport}:${ref.path}${ref.ref === undefined ? '' : `:${ref.ref}`}`;
    case 'docker-archive': {
      const suffix = ref.ref === undefined ? '' : 'index' in ref.ref ? `:@${ref.ref.index}` : `:${formatDockerName(ref.ref.name)}`;
      return `docker-archive:${ref.path}${suffix}`;
    }
  }
}

/** `domain/repository[:tag][@digest]`, without a transport. */
export function formatDockerName(ref: DockerReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${ref.domain}/${ref.repository}${tag}${digest}`;
}

/**
 * The one place a user's image argument is resolved against the store: every
 * verb that takes a stored image (`image rm|cat-manifest|export|extract`, and
 * `run`/`prepare`/`fetch` before they decide to fetch) goes through here, so
 * whatever `fetch` took for an image names it afterwards too.
 *
 * In this order (docker's: a reference first, then an ID):
 * 1. the name exactly as recorded (`127.0.0.1:5000/skiff/probe:oci`,
 *    `oci:/srv/layout:img`);
 * 2. the argument parsed as `fetch` parses it (reference.ts) and turned into
 *    the name `fetch` records for it (record-name.ts): `docker://HOST/REPO:TAG`,
 *    a bare `busybox` (`docker.io/library/busybox:latest`), `oci:DIR[:REF]`,
 *    `oci-archive:`, `docker-archive:`;
 * 3. for `NAME@sha256:…`, also an image of that repository whose manifest has
 *    that digest (fetched by tag, asked for by digest: the same content);
 * 4. the image ID (the config digest), with or without `sha256:`, or a unique
 *    prefix of at least 4 hex digits; a prefix two images share is an error
 *    that says so.
 * An argument that is none of these is "not in the store", naming both what
 * was typed and the name it stands for.
 */
import { NotFoundError, SkiffError, ImageError } from '../../runtime/errors.js';
import { parseReference, type ImageReference } from '../reference.js';
import { recordName } from '../sources/record-name.js';
import { asNamed, type ImageRecord } from './image-index.js';

const ID_PREFIX = /^[a-f0-9]{4,64}$/;

/** `host/repo` of a recorded docker name (`host/repo:tag`, `host/repo@sha256:…`); undefined for other transports. */
function repositoryOf(name: string): string | undefined {
  if (/^(?:oci|oci-archive|docker-archive):/.test(name)) return undefined;
  const at = name.indexOf('@');
  const base = at < 0 ? name : name.slice(0, at);
  const colon = base.indexOf(':', base.lastIndexOf('/') + 1);
  return colon < 0 ? base : base.slice(0, colon);
}

function parsed(query: string): { ref: ImageReference; name: string } | { error: SkiffError } {
  try {
    const ref = parseReference(query);
    return { ref, name: recordName(ref) };
  } catch (err) {
    if (err instanceof SkiffError) return { error: err };
    throw err;
  }
}

function byId(images: ImageRecord[], query: string): ImageRecord | undefined {
  const hex = query.startsWith('sha256:') ? query.slice(7) : query;
  if (!ID_PREFIX.test(hex)) return undefined;
  const matches = images.filter((i) => i.id.slice(7).startsWith(hex));
  if (matches.length > 1) {
    throw new ImageError(`image ID prefix ${query} is ambiguous: it matches ${matches.length} images (${matches.map((i) => i.id.slice(7, 19)).join(', ')})`, {
      input: query,
      hint: 'give more digits of the ID',
    });
  }
  return matches[0];
}

/**
 * The stored image `query` names (first among its names the one it was named
 * by), or undefined when the store has none. Throws for an ambiguous ID
 * prefix, and for an argument that is neither a valid reference nor an ID.
 */
export function lookupImage(images: ImageRecord[], query: string): ImageRecord | undefined {
  const exact = images.find((i) => i.names.includes(query));
  if (exact !== undefined) return asNamed(exact, query);
  const ref = parsed(query);
  if ('name' in ref) {
    const named = images.find((i) => i.names.includes(ref.name));
    if (named !== undefined) return asNamed(named, ref.name);
    const docker = ref.ref.transport === 'docker' ? ref.ref : undefined;
    if (docker?.digest !== undefined) {
      const repository = `${docker.domain}/${docker.repository}`;
      const pinned = images.find((i) => i.manifestDigest === docker.digest && i.names.some((n) => repositoryOf(n) === repository));
      if (pinned !== undefined) return pinned;
    }
  }
  const found = byId(images, query);
  if (found !== undefined) return found;
  // Neither a reference nor an ID: say why it is not a reference.
  if ('error' in ref && !ID_PREFIX.test(query.replace(/^sha256:/, ''))) throw ref.error;
  return undefined;
}

/** lookupImage(), with "not in the store" as an error. */
export function findImage(images: ImageRecord[], query: string): ImageRecord {
  const found = lookupImage(images, query);
  if (found !== undefined) return found;
  const ref = parsed(query);
  const canonical = 'name' in ref && ref.name !== query ? ` (${ref.name})` : '';
  throw new NotFoundError(`no image ${query}${canonical} in the store`, {
    input: query,
    hint: `see 'skiff image list', or fetch it with 'skiff fetch ${query}'`,
  });
}

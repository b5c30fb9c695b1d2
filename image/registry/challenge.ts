/**
 * `WWW-Authenticate` challenges (RFC 7235): a scheme followed by
 * comma-separated `name=value` parameters, values possibly quoted (with
 * backslash escapes, and commas inside, as in `scope="repository:a:pull,push"`).
 * One header may carry several challenges; a new one starts at a bare token.
 * Registries send `Basic realm="…"` or
 * `Bearer realm="…",service="…"[,scope="…"][,error="insufficient_scope"]`.
 */

export interface Challenge {
  /** Lower-cased: 'basic', 'bearer'. */
  scheme: string;
  /** Parameter names lower-cased: realm, service, scope, error. */
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const headers = Array.isArray(header) ? header : [header];
  return headers.flatMap(parseOne);
}

function parseOne(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string): void => {
    while (i < n && chars.includes(header[i]!)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(' \t,');
    const name = token();
    if (name === '') {
      i++; // not a token character: skip it rather than loop
      continue;
    }
    skip(' \t');
    if (header[i] === '=' && current !== undefined) {
      i++;
      skip(' \t');
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      current.params[name.toLowerCase()] = value;
    } else if (header[i] === '=' && current === undefined) {
      // token68 or a parameter without a scheme: ignore up to the next comma.
      while (i < n && header[i] !== ',') i++;
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

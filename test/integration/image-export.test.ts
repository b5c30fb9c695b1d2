/**
 * `skiff image export` when the output cannot be written (security audit,
 * issue 13, item 11): one clean line on stderr and exit 254, never Node's
 * unhandled 'error' event with a stack, and no temp file left behind.
 */
import test from 'ava';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchedStore } from '../support/layout-store.js';
import { buildImage, buildLayer } from '../support/oci-image.js';

const image = buildImage({ layers: [buildLayer([{ path: 'hello', type: 'file', content: 'hi\n' }])] });

/** A failure as the CLI must report it: exit 254, one line, no stack. */
function assertCleanFailure(t: { is(a: unknown, b: unknown, m?: string): void; regex(s: string, r: RegExp, m?: string): void; notRegex(s: string, r: RegExp, m?: string): void }, r: { code: number | null; stderr: string }, what: RegExp): void {
  t.is(r.code, 254, r.stderr);
  t.regex(r.stderr, /^skiff: [^\n]*\n$/, 'exactly one line');
  t.regex(r.stderr, what);
  t.notRegex(r.stderr, /Unhandled|node:events|\n\s+at /, 'no stack');
}

test('export into a dir that does not exist is one line and exit 254', async (t) => {
  const s = await fetchedStore(t, image);
  const r = await s.skiff(['image', 'export', s.id, '/nonexistent/x.tar']);
  assertCleanFailure(t, r, /\/nonexistent\/x\.tar/);
});

test('export under a regular file is one line and exit 254, and leaves nothing', async (t) => {
  const s = await fetchedStore(t, image);
  writeFileSync(join(s.work, 'plain'), 'not a dir');
  const before = readdirSync(s.work).sort();
  const r = await s.skiff(['image', 'export', s.id, join(s.work, 'plain', 'x.tar')]);
  assertCleanFailure(t, r, /plain\/x\.tar/);
  t.deepEqual(readdirSync(s.work).sort(), before);
});

test('export over a directory (--overwrite) fails at the rename: one line, and the written temp file is removed', async (t) => {
  const s = await fetchedStore(t, image);
  const out = join(s.work, 'out');
  mkdirSync(join(out, 'full'), { recursive: true });
  const r = await s.skiff(['image', 'export', '--overwrite', s.id, out]);
  assertCleanFailure(t, r, /out/);
  t.deepEqual(readdirSync(s.work).sort(), ['layout', 'out', 'store'], 'no temp file next to FILE');
});

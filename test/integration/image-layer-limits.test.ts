/**
 * Decompression bombs and full disks (security audit, issue 13, item 6): a
 * layer's unpacked size is capped (SKIFF_MAX_LAYER_SIZE, default 64 GiB;
 * sparse files count by their apparent size), and the store's filesystem
 * must keep a margin free while a layer is unpacked. Either refusal is one
 * line naming the layer, exit 254, and leaves no layer dir, no scratch dir
 * and no image record. The free-space cases run on a small tmpfs mounted for
 * the test.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeSpaceMargin } from '../../image/applier/index.js';
import { layoutStore, type LayoutStore } from '../support/layout-store.js';
import { buildImage, buildLayer, type Layer } from '../support/oci-image.js';
import { tempDir } from '../support/temp-dir.js';

const MiB = 1024 * 1024;

/** A layer of one file of zeros: a few KiB of gzip. */
const zeros = (bytes: number): Layer => buildLayer([{ path: 'zeros', type: 'file', content: Buffer.alloc(bytes) }], { gzipLevel: 9 });

/** Nothing of a refused fetch is left: no layer dir, no scratch dir, no image record. */
async function assertNothingStored(t: ExecutionContext, s: LayoutStore): Promise<void> {
  const dirOf = (sub: string): string[] => (existsSync(join(s.store, sub)) ? readdirSync(join(s.store, sub)) : []);
  t.deepEqual(dirOf('layers/sha256'), [], 'no layer dir');
  t.deepEqual(dirOf('tmp'), [], 'no scratch dir');
  const list = await s.skiff(['--format', 'json', 'image', 'list']);
  t.deepEqual(JSON.parse(list.stdout), [], 'no image record');
}

function assertOneLine(t: ExecutionContext, r: { code: number | null; stderr: string }, layer: Layer, what: RegExp): void {
  t.is(r.code, 254, r.stderr);
  t.regex(r.stderr, /^skiff: [^\n]*\n$/, 'one line');
  t.true(r.stderr.includes(layer.digest), `names the layer: ${r.stderr}`);
  t.regex(r.stderr, what);
}

test('a gzip bomb over SKIFF_MAX_LAYER_SIZE is refused: one line naming the layer, the limit and the setting; nothing stored', async (t) => {
  const layer = zeros(8 * MiB);
  t.true(layer.stored.length < 64 * 1024, 'the bomb is small');
  const s = await layoutStore(t, buildImage({ layers: [layer] }));
  const r = await s.skiff(['fetch', '--quiet', s.ref], { SKIFF_MAX_LAYER_SIZE: '1M' });
  assertOneLine(t, r, layer, /more than 1048576 bytes .*1\.0 MiB.*SKIFF_MAX_LAYER_SIZE/);
  await assertNothingStored(t, s);
  const ok = await s.skiff(['fetch', '--quiet', s.ref], { SKIFF_MAX_LAYER_SIZE: '8M' });
  t.is(ok.code, 0, `exactly at the limit is allowed: ${ok.stderr}`);
});

test('a sparse file counts by its apparent size', async (t) => {
  const src = tempDir(t, 'skiff-sparse-');
  writeFileSync(join(src, 'huge'), '');
  truncateSync(join(src, 'huge'), 64 * MiB);
  const tar = execFileSync('tar', ['-cf', '-', '--sparse', '--numeric-owner', '-C', src, 'huge']);
  t.true(tar.length < MiB, 'the tar itself is small');
  const layer = buildLayer(tar);
  const s = await layoutStore(t, buildImage({ layers: [layer] }));
  const r = await s.skiff(['fetch', '--quiet', s.ref], { SKIFF_MAX_LAYER_SIZE: '16M' });
  assertOneLine(t, r, layer, /"huge".*more than 16777216 bytes/);
  await assertNothingStored(t, s);
});

test('a SKIFF_MAX_LAYER_SIZE that is not a size is a usage error', async (t) => {
  const s = await layoutStore(t, buildImage({ layers: [zeros(1024)] }));
  for (const bad of ['lots', '0', '-1', '1.5.G', '64X']) {
    const r = await s.skiff(['fetch', '--quiet', s.ref], { SKIFF_MAX_LAYER_SIZE: bad });
    t.is(r.code, 2, `${JSON.stringify(bad)}: ${r.stderr}`);
    t.regex(r.stderr, /^skiff: SKIFF_MAX_LAYER_SIZE [^\n]*\n$/);
  }
  const ok = await s.skiff(['fetch', '--quiet', s.ref], { SKIFF_MAX_LAYER_SIZE: '64Gi' });
  t.is(ok.code, 0, ok.stderr);
});

/** Moves the store onto a fresh 16 MiB tmpfs (unmounted at teardown), filled until `aboveMargin` bytes above the margin are free. */
function tinyStore(t: ExecutionContext, s: LayoutStore, aboveMargin: number): void {
  const fs = join(s.work, 'fs');
  mkdirSync(fs);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'skiff-test', fs]);
  t.teardown(() => execFileSync('umount', [fs]));
  const st = statfsSync(fs);
  const margin = freeSpaceMargin(st.blocks * st.bsize);
  writeFileSync(join(fs, 'filler'), Buffer.alloc(st.bavail * st.bsize - margin - aboveMargin));
  s.store = join(fs, 'store');
}

test('a layer that would take the store filesystem below its free-space margin is refused; nothing stored', async (t) => {
  const layer = zeros(2 * MiB);
  const s = await layoutStore(t, buildImage({ layers: [layer] }));
  tinyStore(t, s, MiB + MiB / 2);
  const r = await s.skiff(['fetch', '--quiet', s.ref]);
  assertOneLine(t, r, layer, /free/);
  await assertNothingStored(t, s);
});

test('a store filesystem already below its margin refuses even a tiny layer', async (t) => {
  const layer = zeros(1024);
  const s = await layoutStore(t, buildImage({ layers: [layer] }));
  tinyStore(t, s, -64 * 1024);
  const r = await s.skiff(['fetch', '--quiet', s.ref]);
  assertOneLine(t, r, layer, /free/);
  await assertNothingStored(t, s);
});

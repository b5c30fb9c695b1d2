/**
 * kill -9 at any moment of a fetch leaves a store where every visible blob
 * and layer is whole, and the next fetch completes (DESIGN.md, "Image store").
 * The fetch is killed at a spread of delays across its run.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { largeImage } from '../support/large-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { runSkiff, skiffBin } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';

function walk(dir: string, out: string[] = [], root = dir): string[] {
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, name.name);
    out.push(relative(root, path));
    if (name.isDirectory()) walk(path, out, root);
  }
  return out;
}

test('kill -9 during fetch leaves only whole blobs and layers, and the next fetch completes', async (t) => {
  const dir = tempDir(t);
  const image = largeImage(24 * 1024 * 1024);
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [{ ref: 'big', image }]);
  const layer = image.layers[0];
  if (layer === undefined) return t.fail();
  const expected = execFileSync('tar', ['-tf', '-'], { input: gunzipSync(layer.data), maxBuffer: 64 << 20, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((p) => p.replace(/\/$/, ''))
    .sort();
  const ref = `oci:${layout}:big`;

  // Time one clean fetch to spread the kills over its length.
  const probeStore = join(dir, 'timing');
  const started = Date.now();
  t.is((await runSkiff(['--dir', probeStore, 'fetch', '--quiet', ref])).code, 0);
  const duration = Date.now() - started;

  const store = join(dir, 'store');
  const kills = [0.1, 0.3, 0.5, 0.7, 0.85, 0.95].map((f) => Math.round(f * duration));
  for (const delay of kills) {
    const child = spawn(process.execPath, [skiffBin(), '--dir', store, 'fetch', '--quiet', ref], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await sleep(delay);
    child.kill('SIGKILL');
    await exited;

    const blobs = join(store, 'blobs', 'sha256');
    for (const hex of existsSync(blobs) ? readdirSync(blobs) : []) {
      t.is(createHash('sha256').update(readFileSync(join(blobs, hex))).digest('hex'), hex, `after a kill at ${delay} ms blob ${hex} is whole`);
    }
    const layers = join(store, 'layers', 'sha256');
    for (const hex of existsSync(layers) ? readdirSync(layers) : []) {
      t.deepEqual(walk(join(layers, hex)).sort(), expected, `after a kill at ${delay} ms layer ${hex} is complete`);
    }
    const scratch = existsSync(join(store, 'tmp')) ? readdirSync(join(store, 'tmp')).length : 0;
    t.log(`kill at ${delay} ms: ${existsSync(blobs) ? readdirSync(blobs).length : 0} blobs, ${existsSync(layers) ? readdirSync(layers).length : 0} layers, ${scratch} scratch dirs left`);
    if (existsSync(join(store, 'images', 'index.json'))) {
      t.notThrows(() => JSON.parse(readFileSync(join(store, 'images', 'index.json'), 'utf8')));
    }
  }

  const final = await runSkiff(['--dir', store, 'fetch', '--quiet', ref]);
  t.is(final.code, 0, final.stderr);
  t.is(final.stdout.trim(), image.config.digest);
  t.deepEqual(readdirSync(join(store, 'tmp')), [], 'scratch of the killed fetches was swept');
  const [diffId] = (JSON.parse(image.config.data.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  t.deepEqual(walk(join(store, 'layers', 'sha256', (diffId ?? '').slice(7))).sort(), expected);
});

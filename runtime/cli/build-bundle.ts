/**
 * Build step (`npm run build`, `npm ci`'s prepare), never run by Skiff itself:
 * bundles the CLI that tsc compiled (dist/runtime/cli/main.js) into dist/cli/
 * with esbuild, which is what the `skiff` launcher runs.
 *
 * Why: Node's ES module loader resolves, reads, compiles and links each of the
 * ~80 modules of a `skiff run` on its own; that was half of a first run's
 * stage0 CPU time (bench/cli.ts measures both). Code splitting keeps every
 * dynamic import() a separate chunk, so a command still loads only what it
 * uses (`version` no undici, netlink or image code). The npm packages stay
 * outside, loaded by Node from node_modules by the chunks that import them:
 * koffi and netlink hold native addons found relative to their own files, and
 * commander and undici are CommonJS that esbuild's ESM output could only
 * `require` through a shim.
 *
 * dist/runtime/cli/main.js stays the unbundled entry for tests and debugging
 * (stack traces name the source modules); the launcher falls back to it when
 * dist/cli/ is missing.
 */
import { build } from 'esbuild';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../install-paths.js';

const root = packageRoot();
const out = join(root, 'dist', 'cli');
// Built aside and renamed into place: chunk names carry content hashes, so a rebuild must not
// leave an old entry pointing at chunks of a newer build, or the reverse.
const staging = `${out}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'dist', 'runtime', 'cli', 'main.js')],
  outdir: staging,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi', 'netlink', 'commander', 'undici'],
  logLevel: 'warning',
  legalComments: 'none',
});
rmSync(out, { recursive: true, force: true });
renameSync(staging, out);

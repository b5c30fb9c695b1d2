/**
 * Build step (`npm run build`, `npm ci`'s prepare), never run by Skiff itself:
 * bundles the CLI that tsc compiled (dist/runtime/cli/main.js) with esbuild
 * into one CommonJS file, dist/cli/skiff.cjs, which is what the `skiff`
 * launcher runs.
 *
 * Why (bench/cli.ts measures it): Node's ES module loader resolves, reads,
 * compiles and links each of the ~80 modules of a `skiff run` on its own, and
 * loads a share of Node's own internals to do it (fs/promises, URL
 * resolution); a CommonJS entry skips that loader altogether. In one file the
 * CLI's dynamic import()s become init functions run on first use, so a command
 * still evaluates only what it uses (`version` no undici, netlink or image
 * code). The npm packages stay outside, required from node_modules when a
 * module that imports them first runs: koffi and netlink hold native addons
 * found relative to their own files, commander and undici are CommonJS already.
 * `import.meta.url` (install-paths.ts and the lazy requires) becomes the
 * bundle's own file URL.
 *
 * dist/runtime/cli/main.js stays the unbundled entry for tests and debugging
 * (stack traces name the source modules); the launcher falls back to it when
 * the bundle is missing.
 */
import { build } from 'esbuild';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../install-paths.js';

const root = packageRoot();
const out = join(root, 'dist', 'cli', 'skiff.cjs');
// Written aside and renamed into place: a skiff started during a rebuild runs the old bundle or the new.
const staging = `${out}.tmp-${process.pid}`;
mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
try {
  await build({
    entryPoints: [join(root, 'dist', 'runtime', 'cli', 'main.js')],
    outfile: staging,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['koffi', 'netlink', 'commander', 'undici'],
    define: { 'import.meta.url': '__skiffBundleUrl' },
    banner: { js: "const __skiffBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
    legalComments: 'none',
  });
  renameSync(staging, out);
} finally {
  rmSync(staging, { force: true });
}

/**
 * Build step (`npm run build`, `npm ci`'s prepare), never run by Skiff itself:
 * bundles the CLI that tsc compiled (dist/runtime/cli/main.js) with esbuild
 * into one CommonJS file, dist/cli/skiff-main.cjs, makes V8's code cache for
 * it (skiff-main.cjs.v8cache), and bundles its entry, dist/cli/skiff.cjs
 * (code-cache-loader.ts), which is what the `skiff` launcher runs.
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
import { build, type BuildOptions } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { packageRoot } from '../install-paths.js';
import { wrapBundle } from './bundle-wrapper.js';

const root = packageRoot();
const outDir = join(root, 'dist', 'cli');
const main = join(outDir, 'skiff-main.cjs');
const entry = join(outDir, 'skiff.cjs');
const cache = `${main}.v8cache`;
mkdirSync(outDir, { recursive: true });

const common: BuildOptions = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['koffi', 'netlink', 'commander', 'undici'],
  define: { 'import.meta.url': '__skiffBundleUrl' },
  banner: { js: "const __skiffBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  legalComments: 'none',
};

/** Each file written aside and renamed into place: a skiff started during a rebuild reads whole files. */
function place(path: string, write: (staging: string) => void | Promise<void>): Promise<void> {
  const staging = `${path}.tmp-${process.pid}`;
  return Promise.resolve(write(staging))
    .then(() => renameSync(staging, path))
    .finally(() => rmSync(staging, { force: true }));
}

// The cache first goes: a bundle newer than its cache would make V8 reject it, harmlessly, on every run.
rmSync(cache, { force: true });
await place(main, (staging) => build({ ...common, entryPoints: [join(root, 'dist', 'runtime', 'cli', 'main.js')], outfile: staging }).then(() => undefined));
await place(cache, (staging) => {
  const script = new Script(wrapBundle(readFileSync(main, 'utf8')), { filename: main });
  writeFileSync(staging, script.createCachedData());
});
await place(entry, (staging) => build({ ...common, entryPoints: [join(root, 'dist', 'runtime', 'cli', 'code-cache-loader.js')], outfile: staging }).then(() => undefined));

/**
 * The bundled CLI's entry, dist/cli/skiff.cjs (runtime/cli/build-bundle.ts
 * makes it from this file): runs the bundle, dist/cli/skiff-main.cjs, from the
 * V8 code cache the build made next to it, as Node runs any CommonJS file
 * otherwise. Compiling the ~600 kB bundle was the largest single cost of
 * `skiff version` (bench/cli.ts); with the cache V8 skips parsing it and
 * compiles a function when it first runs.
 *
 * A cache V8 does not accept (another Node or V8 flags; a bundle rebuilt
 * without it) is ignored and the source compiled as usual: never wrong, only
 * slower. The build makes the cache with the same source string as here.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { wrapBundle } from './bundle-wrapper.js';
import { keepYoungHeapSmall } from './young-heap.js';

type ModuleFunction = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, 'skiff-main.cjs');
let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(`${main}.v8cache`);
} catch {
  cachedData = undefined;
}
const script = new Script(wrapBundle(readFileSync(main, 'utf8')), { filename: main, cachedData });
// After the cache is taken (a V8 flag set before would make V8 refuse it), before the CLI runs:
// keep V8's young generation at its start size (young-heap.ts).
keepYoungHeapSmall();
const run = script.runInThisContext() as ModuleFunction;
const module = { exports: {} };
run.call(module.exports, module.exports, createRequire(main), module, main, here);

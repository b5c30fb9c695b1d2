/**
 * Where Skiff's own files are: the package root (for package.json) and the
 * native stage1 built by `npm ci`. Resolved from this module's location, so a
 * clone, a global npm install and a symlinked bin all work.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The directory holding package.json (dist/runtime/.. /..). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}

/**
 * The CLI's entry for Node: the bundle dist/cli/skiff.cjs (runtime/cli/build-bundle.ts) when
 * built, else tsc's dist/runtime/cli/main.js; the launcher (launch-main.c) picks the same way.
 */
export function cliEntry(): string {
  const bundled = join(packageRoot(), 'dist', 'cli', 'skiff.cjs');
  return existsSync(bundled) ? bundled : join(packageRoot(), 'dist', 'runtime', 'cli', 'main.js');
}

/** The stage1 binary; `SKIFF_STAGE1` overrides it (for tests and packagers). */
export function stage1Path(env: NodeJS.ProcessEnv = process.env): string {
  return env['SKIFF_STAGE1'] ?? join(packageRoot(), 'native', 'build', 'skiff-stage1');
}

/**
 * The environment stage1 is exec'd with (`run`, `enter`): a fixed PATH, nothing
 * of the caller's. The launcher's replay.c and enter.c pass the same.
 */
export const STAGE1_PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

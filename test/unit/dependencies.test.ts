/**
 * Dependency hygiene: every dependency in package.json has its row in the README's
 * "Dependencies" table with the same line (and no row names one that is gone), every runtime
 * dependency is imported somewhere, and no installed package has an install script that
 * package.json's allowScripts did not review (npm 12 blocks those; we want to know first).
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/install-paths.js';

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
const all = { ...pkg.dependencies, ...pkg.devDependencies };

/** Rows of the README's Dependencies table: package → line. */
function readmeRows(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = /^## Dependencies\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const rows = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([^`]+)` \| (\S+) \|/gm)) rows.set(m[1]!, m[2]!);
  return rows;
}

test('every dependency has a README row with its pinned line, and every row is a dependency', (t) => {
  const rows = readmeRows();
  t.true(rows.size > 0, 'the README has a Dependencies table');
  for (const [name, line] of Object.entries(all)) t.is(rows.get(name), line, name);
  t.deepEqual([...rows.keys()].filter((name) => !(name in all)), []);
});

/** Every .ts file under the dirs the product is built from. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

test('every runtime dependency is used by the product', (t) => {
  const text = ['runtime', 'image', 'network', 'native'].filter((d) => existsSync(join(root, d)))
    .flatMap((d) => sources(join(root, d))).map((f) => readFileSync(f, 'utf8')).join('\n');
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    t.true(new RegExp(`from '${name}(/[^']*)?'|import\\('${name}'\\)`).test(text), `${name} is imported somewhere`);
  }
});

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

/** Installed packages (nested ones too) with the install scripts they declare. */
function installedWithScripts(dir: string, found: Array<{ name: string; version: string }> = []): typeof found {
  if (!existsSync(dir)) return found;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    if (e.name.startsWith('@')) {
      installedWithScripts(join(dir, e.name), found);
      continue;
    }
    const manifest = join(dir, e.name, 'package.json');
    if (existsSync(manifest)) {
      const p = JSON.parse(readFileSync(manifest, 'utf8')) as PackageJson;
      // A binding.gyp without scripts means an implicit `node-gyp rebuild` install script.
      const implicit = existsSync(join(dir, e.name, 'binding.gyp')) && p.scripts?.['install'] === undefined;
      if (implicit || INSTALL_SCRIPTS.some((s) => p.scripts?.[s] !== undefined)) found.push({ name: p.name ?? e.name, version: p.version ?? '' });
    }
    installedWithScripts(join(dir, e.name, 'node_modules'), found);
  }
  return found;
}

test('no installed package has an install script that allowScripts did not review', (t) => {
  const reviewed = pkg.allowScripts ?? {};
  const unreviewed = installedWithScripts(join(root, 'node_modules'))
    .filter((p) => !(p.name in reviewed) && !(`${p.name}@${p.version}` in reviewed))
    .map((p) => `${p.name}@${p.version}`);
  t.deepEqual(unreviewed, [], 'review each with `npm install-scripts approve|deny` and say why in the README');
});

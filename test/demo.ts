/**
 * The README's first command: build a busybox image locally (Debian's
 * busybox-static plus Skiff's probe, no network), import it, and run it as a
 * pod, printing each skiff command as it goes.
 *
 *   sudo npm run demo [-- DIR]     (default DIR: /var/tmp/skiff-demo)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFixtureLayout } from './support/fixture-images.js';
import { skiffLauncher } from './support/skiff-cli.js';

const root = process.argv[2] ?? '/var/tmp/skiff-demo';
const layout = join(root, 'busybox-layout');
const store = join(root, 'store');

function skiff(args: string[]): number {
  console.log(`\n$ skiff ${args.join(' ')}`);
  const r = spawnSync(skiffLauncher(), args, { stdio: 'inherit' });
  return r.status ?? 254;
}

mkdirSync(root, { recursive: true });
rmSync(layout, { recursive: true, force: true });
console.log(`building a busybox image as an OCI layout in ${layout} (busybox-static + probe)`);
await writeFixtureLayout(layout);
const image = `oci:${layout}:oci`;
let status = skiff(['--dir', store, 'fetch', image]);
if (status === 0) status = skiff(['--dir', store, 'run', image, '--user', 'skiff', '--memory', '64M', '--exec', '/bin/sh', '--', '-c', 'echo "hello from $(hostname) as $(id -un), pid $$"; ls /']);
if (status === 0) status = skiff(['--dir', store, 'list']);
if (status === 0) skiff(['--dir', store, 'gc', '--grace-period=0s']);
process.exitCode = status;

/**
 * The README's first command: build a busybox image locally (Debian's
 * busybox-static plus Skiff's probe, no network), import it, run it as a pod,
 * then two pods on the default network, one serving and one fetching from it,
 * printing each skiff command as it goes.
 *
 * The networked pods run in a network namespace of the demo's own
 * ("skiff-demo", with its own net.d: 198.18.200.0/24), as `skiff` would on a
 * test "host": the bridge and NAT rules land there, not on the machine's own
 * network, and go with it at the end.
 *
 *   sudo npm run demo [-- DIR]     (default DIR: /var/tmp/skiff-demo)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { writeFixtureLayout } from './support/fixture-images.js';
import { skiffLauncher } from './support/skiff-cli.js';

const root = process.argv[2] ?? '/var/tmp/skiff-demo';
const layout = join(root, 'busybox-layout');
const store = join(root, 'store');
const localConfig = join(root, 'etc-skiff');
const NETNS = 'skiff-demo';
const netnsPath = `/run/netns/${NETNS}`;

function show(args: string[], inNetns: boolean): void {
  console.log(`\n$ ${inNetns ? `nsenter --net=${netnsPath} ` : ''}skiff ${args.join(' ')}`);
}

function skiff(args: string[], inNetns = false): number {
  show(args, inNetns);
  const [cmd, argv] = inNetns ? ['nsenter', [`--net=${netnsPath}`, '--', skiffLauncher(), ...args]] : [skiffLauncher(), args];
  const r = spawnSync(cmd, argv, { stdio: 'inherit', env: { ...process.env, SKIFF_LOCAL_CONFIG: localConfig } });
  return r.status ?? 254;
}

mkdirSync(root, { recursive: true });
rmSync(layout, { recursive: true, force: true });
console.log(`building a busybox image as an OCI layout in ${layout} (busybox-static + probe)`);
await writeFixtureLayout(layout);
const image = `oci:${layout}:oci`;
let status = skiff(['--dir', store, 'fetch', image]);
if (status === 0) status = skiff(['--dir', store, 'run', '--net=none', image, '--user', 'skiff', '--memory', '64M', '--exec', '/bin/sh', '--', '-c', 'echo "hello from $(hostname) as $(id -un), pid $$"; ls /']);

if (status === 0) {
  console.log(`\nnetwork namespace ${NETNS} (a test "host"), with net.d/default.conf: bridge skiff0, 198.18.200.0/24, NAT`);
  mkdirSync(join(localConfig, 'net.d'), { recursive: true });
  writeFileSync(join(localConfig, 'net.d', '10-default.conf'), `${JSON.stringify({
    cniVersion: '1.0.0', name: 'default', type: 'bridge', bridge: 'skiff0', isGateway: true, ipMasq: true,
    ipam: { type: 'host-local', subnet: '198.18.200.0/24', routes: [{ dst: '0.0.0.0/0' }], dataDir: join(root, 'ipam') },
  }, null, 2)}\n`);
  spawnSync('ip', ['netns', 'delete', NETNS], { stdio: 'ignore' });
  execFileSync('ip', ['netns', 'add', NETNS]);
  try {
    const serve = ['--dir', store, 'run', image, '--exec', '/probe', '--', 'serve', '8080', 'hello from the other pod', '--once'];
    show(serve, true);
    const server = spawn('nsenter', [`--net=${netnsPath}`, '--', skiffLauncher(), ...serve], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SKIFF_LOCAL_CONFIG: localConfig },
    });
    const exited = new Promise<number>((resolve) => server.on('exit', (code) => resolve(code ?? 254)));
    server.stdout.pipe(process.stdout);
    // The first pod on the network takes its first address, .2; it says when it listens.
    await once(createInterface({ input: server.stdout }), 'line');
    status = skiff(['--dir', store, 'run', image, '--exec', '/probe', '--', 'fetch', '198.18.200.2', '8080', '5000'], true);
    const served = await exited;
    if (status === 0) status = served;
    if (status === 0) status = skiff(['--dir', store, 'list']);
  } finally {
    execFileSync('ip', ['netns', 'delete', NETNS]);
  }
}
if (status === 0) skiff(['--dir', store, 'gc', '--grace-period=0s']);
process.exitCode = status;

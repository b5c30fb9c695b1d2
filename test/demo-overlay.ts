/**
 * The overlay, shown on one machine: two network namespaces stand in for two hosts on an
 * underlay (198.19.200.0/24); each runs `skiff net daemon` on the embedded store (one --dir,
 * no etcd), which leases it a subnet of 198.18.0.0/16 and programs the VXLAN data path to the
 * other; then a pod on host B serves and a pod on host A fetches from it, across the overlay,
 * both with `--net=overlay` (net.d of type flannel, subnet.env per host). Everything is made in
 * the demo's own namespaces and dirs and removed at the end.
 *
 *   sudo npm run demo:overlay [-- DIR]     (default DIR: /var/tmp/skiff-demo-overlay)
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { writeFixtureLayout } from './support/fixture-images.js';
import { skiffBin, skiffLauncher } from './support/skiff-cli.js';

const root = process.argv[2] ?? '/var/tmp/skiff-demo-overlay';
const layout = join(root, 'busybox-layout');
const store = join(root, 'store');
const HOSTS = [{ name: 'a', ns: 'skiff-demo-ovl-a', ip: '198.19.200.1' }, { name: 'b', ns: 'skiff-demo-ovl-b', ip: '198.19.200.2' }];
const nsPath = (ns: string) => `/run/netns/${ns}`;
const hostDir = (name: string) => join(root, `host-${name}`);

function show(args: string[], ns?: string): void {
  console.log(`\n$ ${ns === undefined ? '' : `nsenter --net=${nsPath(ns)} `}skiff ${args.join(' ')}`);
}

function skiff(args: string[], ns?: string, input?: string): number {
  show(args, ns);
  const [cmd, argv] = ns === undefined ? [skiffLauncher(), args] : ['nsenter', [`--net=${nsPath(ns)}`, '--', skiffLauncher(), ...args]];
  const host = HOSTS.find((h) => h.ns === ns);
  const env = { ...process.env, ...(host === undefined ? {} : { SKIFF_LOCAL_CONFIG: join(hostDir(host.name), 'etc-skiff') }) };
  const r = spawnSync(cmd, argv, { stdio: [input === undefined ? 'inherit' : 'pipe', 'inherit', 'inherit'], input, env });
  return r.status ?? 254;
}

/** A daemon's stderr lines, echoed (indented) as they come and kept, so a wait sees lines that came before it. */
function follow(child: ChildProcess): { lines: string[]; waitFor: (re: RegExp, what: string) => Promise<void> } {
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    console.log(`    ${l}`);
    lines.push(l);
    for (const w of [...waiters]) w();
  });
  const waitFor = (re: RegExp, what: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 60 s`)), 60_000);
    const check = () => {
      if (!lines.some((l) => re.test(l))) return;
      clearTimeout(timer);
      waiters.splice(waiters.indexOf(check), 1);
      resolve();
    };
    waiters.push(check);
    check();
  });
  return { lines, waitFor };
}

const daemons: ChildProcess[] = [];
const followed: Array<ReturnType<typeof follow>> = [];
let status = 0;
mkdirSync(root, { recursive: true });
rmSync(layout, { recursive: true, force: true });
for (const h of HOSTS) spawnSync('ip', ['netns', 'delete', h.ns], { stdio: 'ignore' });
try {
  console.log(`building a busybox image as an OCI layout in ${layout} (busybox-static + probe)`);
  await writeFixtureLayout(layout);
  const image = `oci:${layout}:oci`;
  status = skiff(['--dir', store, 'fetch', '--quiet', image]);

  console.log('\ntwo "hosts": network namespaces on an underlay veth, 198.19.200.1 and .2');
  for (const h of HOSTS) execFileSync('ip', ['netns', 'add', h.ns]);
  execFileSync('ip', ['-n', HOSTS[0]!.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', HOSTS[1]!.ns]);
  for (const h of HOSTS) {
    for (const args of [['addr', 'add', `${h.ip}/24`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['link', 'set', 'lo', 'up'], ['route', 'add', 'default', 'via', '198.19.200.254', 'dev', 'eth0', 'onlink']]) {
      execFileSync('ip', ['-n', h.ns, ...args]);
    }
    // The pods' network on this host: the overlay, from the subnet.env its daemon writes.
    mkdirSync(join(hostDir(h.name), 'etc-skiff', 'net.d'), { recursive: true });
    writeFileSync(join(hostDir(h.name), 'etc-skiff', 'net.d', '10-overlay.conf'), `${JSON.stringify({
      name: 'overlay', type: 'flannel', subnetFile: join(hostDir(h.name), 'subnet.env'), ipam: { dataDir: join(hostDir(h.name), 'ipam') },
    })}\n`);
  }

  const config = '{"Network": "198.18.0.0/16", "SubnetMin": "198.18.210.0", "SubnetMax": "198.18.219.0", "Backend": {"Type": "vxlan"}}';
  console.log(`\nthe overlay's config, in the embedded store under ${store}/kv: ${config}`);
  if (status === 0) status = skiff(['--dir', store, 'net', 'config', 'set', '-'], undefined, config);

  if (status === 0) {
    for (const h of HOSTS) {
      const args = ['--dir', store, 'net', 'daemon', '--subnet-file', join(hostDir(h.name), 'subnet.env')];
      show(args, h.ns);
      const d = spawn('nsenter', [`--net=${nsPath(h.ns)}`, '--', process.execPath, skiffBin(), ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
      daemons.push(d);
      followed.push(follow(d));
      await followed.at(-1)!.waitFor(/event=ready /, `a ready line from host ${h.name}'s daemon`);
    }
    // Host a was ready first: it learns of b from b's lease.
    await followed[0]!.waitFor(/event=peer-added /, 'peer-added on host a');
    status = skiff(['--dir', store, 'net', 'leases']);
  }

  if (status === 0) {
    const subnetB = /^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\//m.exec(readFileSync(join(hostDir('b'), 'subnet.env'), 'utf8'))?.[1];
    const podB = `${subnetB}.2`;
    const serve = ['--dir', store, 'run', '--net=overlay', image, '--exec', '/probe', '--', 'serve', '8080', 'hello across the overlay', '--once'];
    show(serve, HOSTS[1]!.ns);
    const server = spawn('nsenter', [`--net=${nsPath(HOSTS[1]!.ns)}`, '--', skiffLauncher(), ...serve], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SKIFF_LOCAL_CONFIG: join(hostDir('b'), 'etc-skiff') },
    });
    const exited = new Promise<number>((resolve) => server.on('exit', (code) => resolve(code ?? 254)));
    server.stdout!.pipe(process.stdout);
    await once(createInterface({ input: server.stdout! }), 'line');
    console.log(`\nhost b's first overlay pod is ${podB}; a pod on host a fetches from it:`);
    status = skiff(['--dir', store, 'run', '--net=overlay', image, '--exec', '/probe', '--', 'fetch', podB, '8080', '5000'], HOSTS[0]!.ns);
    const served = await exited;
    if (status === 0) status = served;
  }
} finally {
  for (const d of daemons) if (d.pid !== undefined && d.exitCode === null) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => (d.exitCode === null ? once(d, 'exit') : undefined)));
  for (const h of HOSTS) spawnSync('ip', ['netns', 'delete', h.ns], { stdio: 'ignore' });
}
if (status === 0) skiff(['--dir', store, 'gc', '--grace-period=0s']);
process.exitCode = status;

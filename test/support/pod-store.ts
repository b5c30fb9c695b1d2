/**
 * A store with the probe image in it, for pod tests through the CLI: the
 * fixture written as an OCI layout and fetched, so no registry is needed.
 * Pods get their cgroups under a test parent (SKIFF_CGROUP_PARENT), removed
 * at teardown with everything else the test left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupMounts, removeCgroupTree } from './cgroup-cleanup.js';
import { writeFixtureLayout } from './fixture-images.js';
import { runSkiff, skiffCommand, skiffEnv, type SkiffResult } from './skiff-cli.js';
import { testNetns, type Netns } from './netns.js';
import { tempDir, type Teardown } from './temp-dir.js';

export interface PodStore {
  dir: string;
  image: string;
  env: NodeJS.ProcessEnv;
  cgroupParent: string;
  /** With `network`: the throwaway netns every skiff of this store runs in, and its networks' settings. */
  host?: TestHost;
  skiff(args: string[], input?: string): Promise<SkiffResult>;
  /**
   * Starts a long-running skiff command; killed (SIGKILL, by PID) at teardown. `exited`: its exit
   * status once it is gone and all its output read.
   */
  start(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; exited: Promise<number | null> };
}

let counter = 0;

export interface TestHost {
  netns: Netns;
  /** --local-config: net.d/default.conf (bridge skiff0) and net.d/back.conf (skiff2), IPAM under the store's temp dir. */
  localConfig: string;
  /** The default network's 198.18.N.0/24: its third octet, gateway .1. */
  subnet: number;
  backSubnet: number;
  restrictedSubnet: number;
}

let subnetCounter = 0;

/**
 * A "host" for network tests: a netns of its own (skiff runs inside it with nsenter --net, so
 * bridges, NAT rules and sysctls land there) and network definitions on 198.18.0.0/16 only.
 */
async function testHost(t: Teardown, root: string): Promise<TestHost> {
  const netns = await testNetns(t, 'skh');
  // Three /24s per host, spread by pid so parallel test processes rarely share one (each host is its own netns anyway).
  const base = (process.pid * 7 + subnetCounter++ * 3) % 150;
  const subnet = 100 + base;
  const backSubnet = subnet + 1;
  const restrictedSubnet = subnet + 2;
  const localConfig = join(root, 'etc-skiff');
  mkdirSync(join(localConfig, 'net.d'), { recursive: true });
  const conf = (name: string, bridge: string, third: number, ipMasq: boolean, routes: object[]) => JSON.stringify({
    cniVersion: '1.0.0', name, type: 'bridge', bridge, isGateway: true, ipMasq,
    ipam: { type: 'host-local', subnet: `198.18.${third}.0/24`, routes, dataDir: join(root, 'ipam', name) },
  });
  writeFileSync(join(localConfig, 'net.d', '10-default.conf'), conf('default', 'skiff0', subnet, true, [{ dst: '0.0.0.0/0' }]));
  writeFileSync(join(localConfig, 'net.d', '20-back.conf'), conf('back', 'skiff2', backSubnet, false, []));
  // The built-in default-restricted lies outside 198.18.0.0/16, the only range tests use: overridden too.
  writeFileSync(join(localConfig, 'net.d', '30-default-restricted.conf'), conf('default-restricted', 'skiff1', restrictedSubnet, false, []));
  return { netns, localConfig, subnet, backSubnet, restrictedSubnet };
}

export async function podStore(t: Teardown, options: { network?: boolean } = {}): Promise<PodStore> {
  const root = tempDir(t, 'skiff-pods-');
  const layout = join(root, 'layout');
  await writeFixtureLayout(layout);
  const dir = join(root, 'store');
  const cgroupParent = `/skiff-test-${process.pid}-${counter++}`;
  const host = options.network === true ? await testHost(t, root) : undefined;
  // Without a test host of its own, a store's pods get no network however skiff is started (s.env spread into any spawn).
  const env: NodeJS.ProcessEnv = {
    SKIFF_CGROUP_PARENT: cgroupParent, SKIFF_TEST_INHERITED: 'inherited', ...(host === undefined ? { SKIFF_NET: 'none' } : { SKIFF_LOCAL_CONFIG: host.localConfig }),
  };
  const netns = host?.netns.path;
  const image = `oci:${layout}:oci`;
  const fetched = await runSkiff(['--dir', dir, 'fetch', '--quiet', image], { env });
  if (fetched.code !== 0) throw new Error(`fetch of the probe image failed: ${fetched.stderr}`);
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
        await once(child, 'exit');
      }
    }
    // Give PDEATHSIG'd pods a moment to die, then collect what is left.
    await sleep(100);
    await runSkiff(['--dir', dir, 'gc', '--grace-period=0', '--expire-prepared=0'], { env, ...(netns === undefined ? {} : { netns }) });
    for (const mount of cgroupMounts()) removeCgroupTree(join(mount, cgroupParent));
  });
  return {
    dir,
    image,
    env,
    cgroupParent,
    ...(host === undefined ? {} : { host }),
    skiff: (args, input) => runSkiff(['--dir', dir, ...args], { env, ...(input === undefined ? {} : { input }), ...(netns === undefined ? {} : { netns }) }),
    start(args) {
      const [command, argv] = skiffCommand(['--dir', dir, ...args], netns);
      const child = spawn(command, argv, {
        env: skiffEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      // Like a shell: a signal death is 128 + the signal's number. On 'close', not 'exit': 'exit' may
      // come before the last of stdout is read, and a test that reads output() then missed it
      // (CI: the app's {"signal":"SIGTERM"} line after a 0 exit).
      const exited = new Promise<number | null>((resolve) =>
        child.on('close', (code, signal) => resolve(code ?? (signal === null ? null : 128 + constants.signals[signal]))),
      );
      return { child, output: () => ({ stdout, stderr }), exited };
    },
  };
}

/** Waits until `skiff status` shows the pod running with a pid; returns its UUID. The deadline only bounds a failure: a loaded host (CI shares its cores) may take long to start a pod. */
export async function waitRunning(store: PodStore, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await store.skiff(['--format', 'json', 'list']);
    const pods = JSON.parse(list.stdout || '[]') as Array<{ uuid: string; state: string; pid?: number }>;
    const running = pods.find((p) => p.state === 'running' && p.pid !== undefined);
    if (running !== undefined) return running.uuid;
    if (Date.now() > deadline) throw new Error(`no running pod after ${timeoutMs} ms: ${list.stdout} ${list.stderr}`);
    await sleep(50);
  }
}

/**
 * bench/network: what a pod network costs (issue 8, "Benchmark"), all inside one throwaway
 * network namespace (the bench's "host": bridges, NAT rules and podman's network land there, on
 * 198.18.0.0/16, and go with it), in the same run, interleaved:
 *
 *  - start latency of a no-op pod: `skiff run --net=none` and `--net=default` replayed by the
 *    launcher, `--net=default` through the Node CLI (a first run), `podman run --network bridge`;
 *  - pod-to-pod TCP throughput over the default network's bridge (iperf3 from Debian, bound into
 *    the pods read-only from the host) against the same path built by hand: two netns on a
 *    veth+bridge, no Skiff.
 *
 * Run as root after `npm run build` and `bench/install-peers`: `node dist/bench/network.js [runs]`.
 * Prints a markdown report and writes bench/results/network-<date>.md. Everything it creates is
 * removed at the end, also on failure.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeFixtureLayout } from '../test/support/fixture-images.js';
import { skiffBin, skiffLauncher } from '../test/support/skiff-cli.js';
import { packageRoot } from '../runtime/install-paths.js';
import { benchCommand, cgroupMounts, has, markdownTable, median, podmanEnv, removeCgroupTree, waitQuiet, type CommandStats } from './bench-util.js';

const runs = Number(process.argv[2] ?? 20);
const tag = `skiff-bench-net-${process.pid}`;
const NETNS = `sknb${process.pid}`;
const netnsPath = `/run/netns/${NETNS}`;
const root = join(process.env['SKIFF_BENCH_DIR'] ?? tmpdir(), tag);
const layout = join(root, 'layout');
const store = join(root, 'store');
const localConfig = join(root, 'etc-skiff');
const image = `oci:${layout}:oci`;
const SUBNET = 40; // 198.18.40.0/24 for Skiff, .41 for podman, .42 for the hand-built path
const env: NodeJS.ProcessEnv = { ...process.env, SKIFF_CGROUP_PARENT: `/${tag}`, SKIFF_LOCAL_CONFIG: localConfig };
const inNetns = (argv: string[]): string[] => ['nsenter', `--net=${netnsPath}`, '--', ...argv];
const sh = (args: string[]): void => {
  execFileSync(args[0] as string, args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
};
const log = (msg: string): void => {
  process.stderr.write(`bench/network: ${msg}\n`);
};

function setupHost(): void {
  mkdirSync(join(localConfig, 'net.d'), { recursive: true });
  writeFileSync(join(localConfig, 'net.d', '10-default.conf'), JSON.stringify({
    name: 'default', type: 'bridge', bridge: 'skiff0', ipMasq: true,
    ipam: { type: 'host-local', subnet: `198.18.${SUBNET}.0/24`, routes: [{ dst: '0.0.0.0/0' }], dataDir: join(root, 'ipam') },
  }));
  sh(['ip', 'netns', 'add', NETNS]);
  sh(['ip', '-n', NETNS, 'link', 'set', 'lo', 'up']);
}

// ---------------------------------------------------------------- start latency

interface Row {
  name: string;
  stats?: CommandStats;
  error?: string;
}

function startRows(podman: NodeJS.ProcessEnv | undefined): Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv }> {
  const run = (net: string) => ['--dir', store, 'run', `--net=${net}`, image, '--exec', '/probe', '--', 'exit', '0'];
  const rows = [
    { name: 'skiff run --net=none (launcher, plan replayed)', argv: inNetns([skiffLauncher(), ...run('none')]), env },
    { name: 'skiff run --net=default (launcher, plan replayed)', argv: inNetns([skiffLauncher(), ...run('default')]), env },
    { name: 'skiff run --net=default, Node CLI (a first run)', argv: inNetns([process.execPath, skiffBin(), ...run('default')]), env },
  ];
  if (podman !== undefined) {
    rows.push({ name: 'podman run --network bridge (runc)', argv: inNetns(['podman', 'run', '--rm', '--runtime', 'runc', '--network', 'bridge', image, '/probe', 'exit', '0']), env: podman });
  }
  return rows;
}

function podmanSetup(): NodeJS.ProcessEnv | undefined {
  if (!has('podman')) return undefined;
  const dir = join(root, 'podman');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const penv = podmanEnv(dir);
  // Its bridge network on the bench's range, in the bench's netns (podman makes podman0 where it runs).
  const conf = penv['CONTAINERS_CONF'] as string;
  writeFileSync(conf, execFileSync('cat', [conf], { encoding: 'utf8' }).replace('[network]\n', `[network]\ndefault_subnet = "198.18.${SUBNET + 1}.0/24"\n`));
  const pulled = spawnSync('podman', ['pull', '-q', image], { env: penv, encoding: 'utf8' });
  if (pulled.status !== 0) {
    log(`podman pull failed: ${pulled.stderr.trim()}`);
    return undefined;
  }
  return penv;
}

// ---------------------------------------------------------------- throughput

/** iperf3's result in Gbit/s, from its JSON. */
function gbits(json: string): number {
  const r = JSON.parse(json) as { end: { sum_received: { bits_per_second: number } } };
  return r.end.sum_received.bits_per_second / 1e9;
}

/** iperf3 client output (JSON) from `client` against a server started by `server` that prints when it listens. */
async function iperfPair(server: string[], client: (ip: string) => string[], ip: string): Promise<number> {
  const s = spawn(server[0] as string, server.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(s, 'exit');
  // iperf3 -s prints "Server listening on 5201" once it listens (with --forceflush: on a pipe it buffers); keep reading after it (a closed pipe would end the server).
  const lines = createInterface({ input: s.stdout! });
  await new Promise<void>((resolve) => lines.on('line', (line) => { if (/listening/i.test(line)) resolve(); }));
  const c = spawnSync(client(ip)[0] as string, client(ip).slice(1), { env, encoding: 'utf8', timeout: 60_000 });
  if (c.status !== 0) throw new Error(`iperf3 client: ${c.stderr || c.stdout}`);
  await exited;
  return gbits(c.stdout);
}

const IPERF_VOLUMES = [
  '--volume', 'libs,kind=host,source=/usr/lib/x86_64-linux-gnu,readOnly=true',
  '--volume', 'ld,kind=host,source=/usr/lib64,readOnly=true',
  '--volume', 'iperf,kind=host,source=/usr/bin/iperf3,readOnly=true',
];
const IPERF_MOUNTS = ['--mount', 'volume=libs,target=/lib/x86_64-linux-gnu', '--mount', 'volume=ld,target=/lib64', '--mount', 'volume=iperf,target=/usr/bin/iperf3'];

function skiffIperf(args: string[]): string[] {
  return inNetns([skiffLauncher(), '--dir', store, 'run', '--net=default', ...IPERF_VOLUMES, image, ...IPERF_MOUNTS, '--exec', '/usr/bin/iperf3', '--', ...args]);
}

/** The hand-built path: netns A and B on a bridge hb0 in the bench netns, 198.18.42.0/24. */
function handBuilt(): { server: string[]; client: (ip: string) => string[]; ip: string; cleanup(): void } {
  const a = `${NETNS}a`;
  const b = `${NETNS}b`;
  sh(['ip', '-n', NETNS, 'link', 'add', 'hb0', 'type', 'bridge']);
  sh(['ip', '-n', NETNS, 'link', 'set', 'hb0', 'up']);
  for (const [ns, n] of [[a, 2], [b, 3]] as const) {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', NETNS, 'link', 'add', `hv${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh(['ip', '-n', NETNS, 'link', 'set', `hv${n}`, 'master', 'hb0', 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `198.18.${SUBNET + 2}.${n}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  return {
    server: ['nsenter', `--net=/run/netns/${a}`, '--', 'iperf3', '-s', '-1', '--forceflush'],
    client: (ip) => ['nsenter', `--net=/run/netns/${b}`, '--', 'iperf3', '-c', ip, '-t', '5', '-J'],
    ip: `198.18.${SUBNET + 2}.2`,
    cleanup: () => {
      for (const ns of [a, b]) spawnSync('ip', ['netns', 'delete', ns]);
    },
  };
}

// ---------------------------------------------------------------- main

function cleanup(): void {
  spawnSync(process.execPath, [skiffBin(), '--dir', store, 'gc', '--grace-period=0s'], { env, stdio: 'ignore' });
  spawnSync('ip', ['netns', 'delete', NETNS], { stdio: 'ignore' });
  for (const m of cgroupMounts()) removeCgroupTree(join(m, tag));
  rmSync(root, { recursive: true, force: true });
}

async function main(): Promise<void> {
  mkdirSync(root, { recursive: true });
  const lines: string[] = [];
  try {
    setupHost();
    await writeFixtureLayout(layout);
    execFileSync(skiffLauncher(), ['--dir', store, 'fetch', '--quiet', image], { env, stdio: 'ignore' });
    const podman = podmanSetup();
    const rows: Row[] = startRows(podman).map((r) => ({ name: r.name }));
    const defs = startRows(podman);
    await waitQuiet();
    // Interleaved rounds: each row runs `runs / 5` times per round, so the machine's mood is shared.
    const perRound = Math.max(1, Math.floor(runs / 5));
    const times = defs.map(() => [] as number[]);
    for (let round = 0; round < 5; round++) {
      defs.forEach((d, i) => {
        if (rows[i]!.error !== undefined) return;
        try {
          const s = benchCommand(d.argv, perRound, d.env, join(root, `r${i}.json`), round === 0 ? 3 : 1);
          times[i]!.push(...s.times);
        } catch (err) {
          rows[i]!.error = (err as Error).message;
          log(`${d.name}: ${rows[i]!.error}`);
        }
      });
    }
    const base = median(times[0]!);
    const tableRows = rows.map((r, i) => {
      const t = times[i]!;
      if (r.error !== undefined || t.length === 0) return [r.name, 'failed', '', r.error ?? ''];
      return [r.name, median(t).toFixed(1), Math.min(...t).toFixed(1), `${(median(t) / base).toFixed(2)}× --net=none`];
    });
    lines.push(`## Start of a no-op pod (${runs} runs each, interleaved, in one netns)`, '', markdownTable(['runtime', 'median ms', 'min ms', 'ratio'], tableRows), '');
    const replayedDefault = median(times[1]!);
    const podmanMedian = podman !== undefined && times[3]!.length > 0 ? median(times[3]!) : undefined;
    lines.push(`Replayed --net=default costs ${(replayedDefault - base).toFixed(1)} ms more than --net=none (goal ≤ 10 ms)` +
      (podmanMedian === undefined ? '; podman not measured.' : `, and is ${(replayedDefault / podmanMedian).toFixed(3)}× podman's bridge (goal ≤ 0.1×).`), '');

    if (has('iperf3')) {
      const hand = handBuilt();
      try {
        const skiffRates: number[] = [];
        const handRates: number[] = [];
        for (let i = 0; i < 3; i++) {
          // The server pod is the network's first address; the client pod the second.
          skiffRates.push(await iperfPair(skiffIperf(['-s', '-1', '--forceflush']), () => skiffIperf(['-c', `198.18.${SUBNET}.2`, '-t', '5', '-J']), ''));
          handRates.push(await iperfPair(hand.server, hand.client, hand.ip));
        }
        const s = median(skiffRates);
        const h = median(handRates);
        lines.push('## Pod-to-pod TCP throughput over the bridge (iperf3, 5 s, median of 3, alternating)', '',
          markdownTable(['path', 'Gbit/s', 'runs'], [
            ['skiff --net=default (two pods)', s.toFixed(2), skiffRates.map((x) => x.toFixed(2)).join(' ')],
            ['hand-built veth + bridge', h.toFixed(2), handRates.map((x) => x.toFixed(2)).join(' ')],
          ]), '', `Skiff ÷ hand-built: ${(s / h).toFixed(3)} (goal ≥ 0.95).`, '');
      } finally {
        hand.cleanup();
      }
    } else {
      lines.push('iperf3 is not installed: throughput not measured (apt-get install iperf3).', '');
    }
  } finally {
    cleanup();
  }
  const head = [`# bench/network, ${new Date().toISOString().slice(0, 10)}`, '', `Linux ${release()}, Node ${process.version}, ${runs} runs per row.`, ''];
  const report = [...head, ...lines].join('\n');
  process.stdout.write(`${report}\n`);
  const out = join(packageRoot(), 'bench', 'results', `network-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(out, `${report}\n`);
  log(`report written to ${out}`);
}

await main();

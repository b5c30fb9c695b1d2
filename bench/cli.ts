/**
 * bench/cli: what Skiff's own commands cost to start, against Node's floor and
 * systemd-nspawn, in the same run on the same machine (issue 11 §4). Goals:
 * `skiff version` ≤ 1.3× `node -e 0`; `list` and `status` ≤ 1.5× `node -e 0`;
 * a first `skiff run` of a command line (the Node path: the launcher has no
 * plan for it yet) ≤ 1.5× `systemd-nspawn` running the same no-op.
 *
 *  - every Skiff row through the `skiff` launcher, as users run it: it answers
 *    `version`, `list` and `status UUID` itself (native/launcher/query-main.c) and
 *    execs Node on the CLI bundle for the rest (dist/cli/skiff.cjs,
 *    runtime/cli/build-bundle.ts); the same three queries through Node (node on
 *    the bundle, what the launcher falls back to) for comparison; the
 *    Node-path run goes to Node directly (the launcher would replay it after
 *    the first time) on the bundle and, for comparison, on tsc's unbundled
 *    modules (dist/runtime/cli/main.js);
 *  - `list` and `status` on a store holding 10 exited pods (each is a lock
 *    check and a few small reads), `image list` on one image.
 *
 * Environment as bench/start gives it: NODE_EXTRA_CA_CERTS and NODE_OPTIONS
 * are dropped for every row (each would add to every Node start).
 *
 * Run as root after `npm run build`: `node dist/bench/cli.js [runs]`. Prints
 * a markdown report and writes it to bench/results/cli-<date>.md. Everything it
 * creates (temp dir, pods, their cgroups) is removed at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeRootfs, writeFixtureLayout } from '../test/support/fixture-images.js';
import { skiffBin, skiffLauncher } from '../test/support/skiff-cli.js';
import { tarArchive } from '../test/support/tar-writer.js';
import { cliEntry, packageRoot } from '../runtime/install-paths.js';
import { benchCommand, cgroupMounts, has, markdownTable, removeCgroupTree, shellJoin, waitQuiet, type CommandStats } from './bench-util.js';

const runs = Number(process.argv[2] ?? 30);
const PODS = 10;
const tag = `skiff-bench-cli-${process.pid}`;
const root = join(process.env['SKIFF_BENCH_DIR'] ?? tmpdir(), tag);
const layout = join(root, 'layout');
const store = join(root, 'store');
const nspawnRoot = join(root, 'nspawn-rootfs');
const image = `oci:${layout}:oci`;
const node = process.execPath;
const bundled = cliEntry();
const env: NodeJS.ProcessEnv = { ...process.env, SKIFF_NET: 'none', SKIFF_CGROUP_PARENT: `/${tag}` };
delete env['NODE_EXTRA_CA_CERTS'];
delete env['NODE_OPTIONS'];

function log(msg: string): void {
  process.stderr.write(`[cli] ${msg}\n`);
}

function skiff(...args: string[]): string {
  const r = spawnSync(skiffLauncher(), ['--dir', store, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skiff ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

interface Row {
  name: string;
  argv: string[];
  stats?: CommandStats;
  skipped?: string;
}

function cleanup(): void {
  try {
    spawnSync(skiffLauncher(), ['--dir', store, 'gc', '--grace-period=0', '--expire-prepared=0'], { env });
  } catch {
    // the store may not exist yet
  }
  for (const mount of cgroupMounts()) removeCgroupTree(join(mount, tag));
  rmSync(root, { recursive: true, force: true });
}

async function main(): Promise<void> {
  mkdirSync(root, { recursive: true, mode: 0o755 });
  await writeFixtureLayout(layout);
  skiff('fetch', '--quiet', image);
  mkdirSync(nspawnRoot);
  execFileSync('tar', ['-xpf', '-', '-C', nspawnRoot], { input: tarArchive(await probeRootfs()) });
  for (let i = 0; i < PODS; i++) skiff('run', image, '--exec', '/probe', '--', 'exit', '0');
  const uuid = (JSON.parse(skiff('--format', 'json', 'list')) as Array<{ uuid: string }>)[0]?.uuid;
  if (uuid === undefined) throw new Error('no pod to ask the status of');
  const runArgs = ['--dir', store, 'run', '--net=none', image, '--exec', '/probe', '--', 'exit', '0'];
  const rows: Row[] = [
    { name: 'node -e 0 (floor)', argv: [node, '-e', '0'] },
    { name: 'skiff version', argv: [skiffLauncher(), '--dir', store, 'version'] },
    { name: `skiff list (${PODS} exited pods)`, argv: [skiffLauncher(), '--dir', store, 'list'] },
    { name: 'skiff status UUID', argv: [skiffLauncher(), '--dir', store, 'status', uuid] },
    { name: 'skiff image list (1 image)', argv: [skiffLauncher(), '--dir', store, 'image', 'list'] },
    { name: 'version, Node path (bundle)', argv: [node, bundled, '--dir', store, 'version'] },
    { name: `list (${PODS} exited pods), Node path (bundle)`, argv: [node, bundled, '--dir', store, 'list'] },
    { name: 'status UUID, Node path (bundle)', argv: [node, bundled, '--dir', store, 'status', uuid] },
    { name: 'skiff run, Node path (bundle)', argv: [node, bundled, ...runArgs] },
    { name: 'skiff run, Node path (tsc modules, unbundled)', argv: [node, skiffBin(), ...runArgs] },
    { name: 'systemd-nspawn', argv: ['systemd-nspawn', '--register=no', '--keep-unit', '-D', nspawnRoot, '--quiet', '/probe', 'exit', '0'] },
  ];
  const jsonDir = join(root, 'json');
  mkdirSync(jsonDir);
  for (const [i, row] of rows.entries()) {
    if (row.name === 'systemd-nspawn' && !has('systemd-nspawn')) {
      row.skipped = 'systemd-nspawn is not installed';
      continue;
    }
    const quiet = await waitQuiet(Number(process.env["SKIFF_BENCH_QUIET_MS"] ?? 30_000));
    log(`${row.name} (${quiet.quiet ? 'idle' : `busy: ${(quiet.idle * 100).toFixed(0)}% idle`})`);
    row.stats = benchCommand(row.argv, runs, env, join(jsonDir, `${i}.json`));
    // The Node-path runs leave an exited pod each: clear them so list/status rows stay at PODS.
    if (row.name.startsWith('skiff run')) skiff('gc', '--grace-period=0');
  }
  const floor = rows[0]?.stats?.median ?? NaN;
  const nspawn = rows.find((r) => r.name === 'systemd-nspawn')?.stats?.median;
  const table = markdownTable(
    ['command', 'median ms', 'min ms', '÷ node -e 0', '÷ systemd-nspawn'],
    rows.map((r) => [
      `${r.name}: \`${shellJoin(r.argv).replaceAll(root, '$T').replace(packageRoot(), '.')}\``,
      r.stats === undefined ? (r.skipped ?? '') : r.stats.median.toFixed(1),
      r.stats === undefined ? '' : r.stats.min.toFixed(1),
      r.stats === undefined ? '' : `${(r.stats.median / floor).toFixed(2)}×`,
      r.stats === undefined || nspawn === undefined ? '' : `${(r.stats.median / nspawn).toFixed(2)}×`,
    ]),
  );
  const ratio = (name: string, of: number | undefined): string => {
    const s = rows.find((r) => r.name.startsWith(name))?.stats;
    return s === undefined || of === undefined ? 'n/a' : `${(s.median / of).toFixed(2)}×`;
  };
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const report = [
    `# CLI start-up: Skiff's commands against Node's floor and systemd-nspawn (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Host: ${release()}, ${cpus().length} cores, node ${process.version}; ${runs} runs each after 3 warm-ups (${rows[0]?.stats?.tool ?? 'n/a'}), load average at the end ${load}.`,
    'Every `skiff` row goes through the launcher, which answers version, list and status UUID itself and execs Node on the CLI bundle for the rest; the Node-path rows run node on the bundle directly; NODE_EXTRA_CA_CERTS and NODE_OPTIONS unset for every row.',
    '',
    table,
    '',
    `Goals (issue 11 §4): version ${ratio('skiff version', floor)} of node -e 0 (goal ≤ 1.3×); list ${ratio('skiff list', floor)}, status ${ratio('skiff status', floor)} (goal ≤ 1.5×); ` +
      `the Node-path run ${ratio('skiff run, Node path (bundle)', nspawn)} of systemd-nspawn (goal ≤ 1.5×; unbundled ${ratio('skiff run, Node path (tsc', nspawn)}).`,
    '',
  ].join('\n');
  process.stdout.write(report);
  const out = join(packageRoot(), 'bench', 'results', `cli-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(out, report);
  log(`written to ${out}`);
}

try {
  await main();
} finally {
  cleanup();
}

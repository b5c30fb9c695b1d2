/**
 * The command tree. Each command's action imports its module on use, so a
 * command pays the start-up cost of what it needs only (`version` never loads
 * undici, netlink or the image code).
 */
import { Option } from 'commander';
import { parseDuration } from './duration.js';
import { globalOptionList } from './global-option-list.js';
import { globalOptionsOf } from './global-options.js';
import { APP_FLAGS, describeFlags, POD_FLAGS, RUN_PREPARED_FLAGS } from './pod-args.js';
import { SkiffCommand } from './skiff-command.js';

/** How the image verbs take an image (image/store/find-image.ts). */
const STORED_IMAGE = 'a stored image, named as it was fetched (docker://HOST/REPO:TAG, a bare name, oci:DIR[:REF], …), by ID or by ID prefix';

type Opts = Record<string, unknown>;

export function buildProgram(): SkiffCommand {
  const program = new SkiffCommand('skiff');
  program
    .description('A daemonless pod runtime: fetch OCI and Docker images, run them as pods, join them to a VXLAN overlay.')
    .usage('[global options] <command> [options]')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 2 usage error, 254 skiff failure; `run` passes the app\'s status through.',
    );
  for (const option of globalOptionList()) program.addOption(option);

  program
    .command('version')
    .description('print the versions of skiff, node and stage1, and the host features skiff found')
    .allowExcessArguments(false)
    .action(async (_opts: unknown, cmd: SkiffCommand) => {
      const { default: run } = await import('./commands/version.js');
      run(globalOptionsOf(cmd.optsWithGlobals()));
    });

  program
    .command('fetch')
    .description('fetch images into the store and print their IDs')
    .argument('<image...>', 'docker://HOST/REPO[:TAG|@DIGEST], a bare name, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG]')
    .option('--platform <os/arch[/variant]>', "the platform to pick from a multi-platform image (default: this host's)")
    .option('--quiet', 'no progress output', false)
    .option('--discard-blobs', 'drop each layer\'s compressed blob once it is unpacked (env SKIFF_DISCARD_BLOBS=1 for every fetch); export and --no-overlay then need a fetch without it', false)
    .addOption(new Option('--pull-policy <policy>', 'new: only if not stored; update: always check; never: store only').choices(['new', 'update', 'never']).default('update'))
    .action(async (images: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { default: run } = await import('./commands/fetch.js');
      const o = cmd.opts();
      await run(globalOptionsOf(cmd.optsWithGlobals()), images, {
        ...(typeof o['platform'] === 'string' ? { platform: o['platform'] } : {}),
        quiet: o['quiet'] === true,
        pullPolicy: o['pullPolicy'] as 'new' | 'update' | 'never',
        discardBlobs: o['discardBlobs'] === true,
      });
    });

  const image = program.command('image').description('manage the image store');
  image
    .command('list')
    .description('list the images in the store')
    .option('--full', 'show full image IDs', false)
    .option('--no-legend', 'leave out the header line')
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { list } = await import('./commands/image-list.js');
      const o = cmd.opts();
      list(globalOptionsOf(cmd.optsWithGlobals()), { full: o['full'] === true, noLegend: o['legend'] === false });
    });
  image
    .command('rm')
    .description('remove images (by name, ID or unique ID prefix); images a pod uses are refused')
    .argument('<image...>', STORED_IMAGE)
    .action(async (images: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { rm } = await import('./commands/image.js');
      await rm(globalOptionsOf(cmd.optsWithGlobals()), images);
    });
  image
    .command('gc')
    .description('remove images not used for longer than the grace period, and unreferenced blobs and layers')
    .option('--grace-period <duration>', 'how long an unused image is kept', parseDuration, 24 * 3_600_000)
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { gc } = await import('./commands/image.js');
      await gc(globalOptionsOf(cmd.optsWithGlobals()), { gracePeriod: cmd.opts()['gracePeriod'] as number });
    });
  image
    .command('cat-manifest')
    .description("print an image's manifest")
    .argument('<image>', STORED_IMAGE)
    .action(async (img: string, _opts: Opts, cmd: SkiffCommand) => {
      const { catManifest } = await import('./commands/image.js');
      catManifest(globalOptionsOf(cmd.optsWithGlobals()), img);
    });
  image
    .command('export')
    .description('write an image from the store to FILE as an OCI archive (readable with oci-archive:)')
    .argument('<image>', STORED_IMAGE)
    .argument('<file>')
    .option('--overwrite', 'replace FILE if it exists', false)
    .action(async (img: string, file: string, _opts: Opts, cmd: SkiffCommand) => {
      const { exportCmd } = await import('./commands/image.js');
      await exportCmd(globalOptionsOf(cmd.optsWithGlobals()), img, file, { overwrite: cmd.opts()['overwrite'] === true });
    });
  image
    .command('extract')
    .description("render an image's layers into DIR/rootfs, with DIR/manifest.json and DIR/config.json")
    .argument('<image>', STORED_IMAGE)
    .argument('<dir>')
    .option('--rootfs-only', 'put the rootfs straight into DIR, without manifest and config', false)
    .option('--overwrite', 'replace DIR if it exists and is not empty', false)
    .option('--allow-devices', "create the layers' device nodes (skipped with a warning without it)", false)
    .action(async (img: string, dir: string, _opts: Opts, cmd: SkiffCommand) => {
      const { extract } = await import('./commands/image.js');
      const o = cmd.opts();
      await extract(globalOptionsOf(cmd.optsWithGlobals()), img, dir, {
        rootfsOnly: o['rootfsOnly'] === true,
        overwrite: o['overwrite'] === true,
        allowDevices: o['allowDevices'] === true,
      });
    });

  // rkt's pod command line is parsed by pod-args.ts, not commander; --help is looked for by hand.
  const podPassThrough = (name: string, description: string, usage: string) =>
    program
      .command(name)
      .description(description)
      .usage(usage)
      .allowUnknownOption()
      .allowExcessArguments()
      .helpOption(false)
      .argument('[args...]')
      .addHelpText(
        'after',
        name === 'run-prepared'
          ? `\nFlags:\n${describeFlags(RUN_PREPARED_FLAGS)}`
          : `\nPod flags (before the first image):\n${describeFlags(POD_FLAGS)}\n\nApp flags (after the image they apply to):\n${describeFlags(APP_FLAGS)}`,
      )
      .hook('preAction', (cmd) => {
        const args = cmd.args;
        const end = args.indexOf('--');
        if ((end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')) cmd.help();
      });

  podPassThrough('run', 'fetch images as needed, prepare a pod and run it; exits with the app\'s status',
    '[pod flags] IMAGE [app flags] [-- ARGS] [--- IMAGE [app flags] [-- ARGS]]...')
    .action(async (args: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { run } = await import('./commands/run.js');
      await run(globalOptionsOf(cmd.optsWithGlobals()), args);
    });
  podPassThrough('prepare', 'prepare a pod without running it and print its UUID',
    '[pod flags] IMAGE [app flags] [-- ARGS] [--- IMAGE ...]')
    .action(async (args: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { prepare } = await import('./commands/run.js');
      await prepare(globalOptionsOf(cmd.optsWithGlobals()), args);
    });
  podPassThrough('run-prepared', 'run a prepared pod', '[--net=NETS] [--hostname H] [--dns IP|host|none] [--dns-search D] [--dns-opt O] [--dns-domain D] [--hosts-entry IP=HOST] [--interactive] UUID')
    .action(async (args: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { runPrepared } = await import('./commands/run.js');
      await runPrepared(globalOptionsOf(cmd.optsWithGlobals()), args);
    });

  program
    .command('list')
    .description('list pods')
    .option('--full', 'show full UUIDs', false)
    .option('--no-legend', 'leave out the header line')
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { list } = await import('./commands/pod-queries.js');
      const o = cmd.opts();
      list(globalOptionsOf(cmd.optsWithGlobals()), { full: o['full'] === true, noLegend: o['legend'] === false });
    });
  program
    .command('status')
    .description("print a pod's state, pid and app exit statuses")
    .argument('[uuid]')
    .option('--wait [duration]', 'wait until the pod has exited (optionally at most this long)')
    .option('--uuid-file <file>', 'read the UUID from a file')
    .action(async (uuid: string | undefined, _opts: Opts, cmd: SkiffCommand) => {
      const { status, uuidsFrom } = await import('./commands/pod-queries.js');
      const o = cmd.opts();
      const [q] = uuidsFrom(uuid === undefined ? [] : [uuid], o['uuidFile'] as string | undefined);
      if (q === undefined) cmd.error('missing pod UUID');
      const wait = o['wait'];
      await status(globalOptionsOf(cmd.optsWithGlobals()), q, {
        waitMs: wait === undefined ? undefined : wait === true ? Number.MAX_SAFE_INTEGER : parseDuration(String(wait)),
      });
    });
  program
    .command('enter')
    .description('run a command (default /bin/sh) inside a running pod')
    .option('--app <name>', "use this app's environment")
    .argument('<uuid>')
    .argument('[command...]', 'the command and its arguments; put them after -- if they start with -')
    .allowUnknownOption()
    .action(async (uuid: string, command: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { default: enter } = await import('./commands/enter.js');
      enter(globalOptionsOf(cmd.optsWithGlobals()), uuid, command, { app: cmd.opts()['app'] as string | undefined });
    });
  program
    .command('stop')
    .description('stop running pods: SIGTERM to the apps, SIGKILL after the timeout')
    .argument('[uuid...]')
    .option('--force', 'SIGKILL at once', false)
    .option('--timeout <duration>', 'how long to wait before SIGKILL', parseDuration, 15_000)
    .option('--uuid-file <file>', 'read the UUID from a file')
    .action(async (uuids: string[], _opts: Opts, cmd: SkiffCommand) => {
      const [{ stop }, { uuidsFrom }] = await Promise.all([import('./commands/pods.js'), import('./commands/pod-queries.js')]);
      const o = cmd.opts();
      const all = uuidsFrom(uuids, o['uuidFile'] as string | undefined);
      if (all.length === 0) cmd.error('missing pod UUID');
      await stop(globalOptionsOf(cmd.optsWithGlobals()), all, { force: o['force'] === true, timeoutMs: o['timeout'] as number });
    });
  program
    .command('rm')
    .description('remove pods that are not running, at once')
    .argument('[uuid...]')
    .option('--uuid-file <file>', 'read the UUID from a file')
    .action(async (uuids: string[], _opts: Opts, cmd: SkiffCommand) => {
      const [{ rm }, { uuidsFrom }] = await Promise.all([import('./commands/pods.js'), import('./commands/pod-queries.js')]);
      const all = uuidsFrom(uuids, cmd.opts()['uuidFile'] as string | undefined);
      if (all.length === 0) cmd.error('missing pod UUID');
      await rm(globalOptionsOf(cmd.optsWithGlobals()), all);
    });
  program
    .command('gc')
    .description('mark exited pods, remove them after the grace period, expire prepared pods')
    .option('--grace-period <duration>', 'how long exited pods are kept', parseDuration, 30 * 60_000)
    .option('--expire-prepared <duration>', 'how long prepared pods are kept', parseDuration, 24 * 3_600_000)
    .option('--mark-only', 'only mark, remove nothing', false)
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { gc } = await import('./commands/pods.js');
      const o = cmd.opts();
      await gc(globalOptionsOf(cmd.optsWithGlobals()), {
        gracePeriodMs: o['gracePeriod'] as number,
        expirePreparedMs: o['expirePrepared'] as number,
        markOnly: o['markOnly'] === true,
      });
    });
  program
    .command('cat-manifest')
    .description("print a pod's manifest")
    .argument('<uuid>')
    .action(async (uuid: string, _opts: Opts, cmd: SkiffCommand) => {
      const { catManifest } = await import('./commands/pods.js');
      catManifest(globalOptionsOf(cmd.optsWithGlobals()), uuid);
    });

  addNetCommands(program);
  return program;
}

/** flannel's flags, also from SKIFF_NET_* variables (flannel: FLANNELD_*). */
function storeOptions(cmd: SkiffCommand): SkiffCommand {
  const env = (name: string) => `SKIFF_NET_${name.toUpperCase().replace(/-/g, '_')}`;
  const opt = (flags: string, help: string, name: string, dflt?: string) => {
    const o = new Option(flags, help).env(env(name));
    cmd.addOption(dflt === undefined ? o : o.default(dflt));
  };
  opt('--etcd-endpoints <urls>', 'comma-separated etcd URLs; none: the embedded store under --dir', 'etcd-endpoints');
  opt('--etcd-prefix <key>', 'where the config and leases live', 'etcd-prefix', '/coreos.com/network');
  opt('--etcd-cafile <file>', 'CA certificate: etcd over TLS (alone too, unlike flannel)', 'etcd-cafile');
  opt('--etcd-certfile <file>', 'client certificate for etcd', 'etcd-certfile');
  opt('--etcd-keyfile <file>', 'its key', 'etcd-keyfile');
  opt('--etcd-username <name>', 'etcd user', 'etcd-username');
  opt('--etcd-password <password>', 'etcd password', 'etcd-password');
  return cmd;
}

/** Minutes as flannel takes them (a bare number), or a duration with a unit; in seconds. */
function minutesOrDuration(value: string): number {
  return /^\d+$/.test(value) ? Number(value) * 60 : Math.round(parseDuration(value) / 1000);
}

function addNetCommands(program: SkiffCommand): void {
  const net = program.command('net').description('the VXLAN overlay: its daemon, config and leases');
  storeOptions(net.command('daemon'))
    .description('join this host to the overlay: lease a subnet, program the vxlan data path, write subnet.env (foreground)')
    .addOption(new Option('--iface <name|ip>', 'the underlay link (default: the default route\'s)').env('SKIFF_NET_IFACE'))
    .addOption(new Option('--public-ip <ip>', 'the address published to other hosts (default: the underlay link\'s)').env('SKIFF_NET_PUBLIC_IP'))
    .addOption(new Option('--subnet-file <file>', 'where subnet.env is written').env('SKIFF_NET_SUBNET_FILE').default('/run/skiff/subnet.env'))
    .addOption(new Option('--subnet-lease-renew-margin <minutes|duration>', 'renew the lease this long before it expires').env('SKIFF_NET_SUBNET_LEASE_RENEW_MARGIN').argParser(minutesOrDuration).default(3600, '60'))
    .addOption(new Option('--subnet-lease-ttl <duration>', 'the lease\'s TTL (flannel: 24h, fixed)').env('SKIFF_NET_SUBNET_LEASE_TTL').argParser((v: string) => Math.round(parseDuration(v) / 1000)).default(86_400, '24h'))
    .addOption(new Option('--ip-masq', 'masquerade what leaves the overlay network').env('SKIFF_NET_IP_MASQ').default(false))
    .addOption(new Option('--healthz-ip <ip>', 'address of /healthz and /readyz').env('SKIFF_NET_HEALTHZ_IP').default('127.0.0.1'))
    .addOption(new Option('--healthz-port <port>', 'port of /healthz and /readyz (0: none)').env('SKIFF_NET_HEALTHZ_PORT').argParser(Number).default(0))
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { netDaemon } = await import('./commands/net-overlay.js');
      await netDaemon(globalOptionsOf(cmd.optsWithGlobals()), cmd.opts() as unknown as import('./commands/net-overlay.js').DaemonFlags);
    });
  const config = net.command('config').description("the overlay's config (flannel's JSON at PREFIX/config)");
  storeOptions(config.command('set'))
    .description('check and store the config')
    .argument('<file>', 'a JSON file, or - for stdin')
    .action(async (file: string, _opts: Opts, cmd: SkiffCommand) => {
      const { netConfigSet } = await import('./commands/net-overlay.js');
      await netConfigSet(globalOptionsOf(cmd.optsWithGlobals()), cmd.opts() as unknown as import('./commands/net-overlay.js').StoreFlags, file);
    });
  storeOptions(config.command('get'))
    .description('print the stored config')
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { netConfigGet } = await import('./commands/net-overlay.js');
      await netConfigGet(globalOptionsOf(cmd.optsWithGlobals()), cmd.opts() as unknown as import('./commands/net-overlay.js').StoreFlags);
    });
  storeOptions(net.command('leases'))
    .description('list the hosts\' subnet leases (subnet, public IP, VTEP MAC, expiry)')
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { netLeases } = await import('./commands/net-overlay.js');
      await netLeases(globalOptionsOf(cmd.optsWithGlobals()), cmd.opts() as unknown as import('./commands/net-overlay.js').StoreFlags);
    });
  // stage1's host hooks for CNI networks (network/cni/cni-pod-networks.ts): internal, so hidden.
  const cni = net.command('cni', { hidden: true }).description('CNI attachments of a pod (run by stage1 host hooks)');
  for (const op of ['add', 'del', 'check'] as const) {
    cni
      .command(op)
      .description(`CNI ${op.toUpperCase()} of one network of a pod`)
      .requiredOption('--pod-dir <dir>', 'the pod dir')
      .requiredOption('--uuid <uuid>', 'the pod UUID (CNI_CONTAINERID)')
      .requiredOption('--netns <path>', 'the pod\'s netns (CNI_NETNS; may be empty for del)')
      .requiredOption('--ifname <name>', 'the interface in the pod (CNI_IFNAME)')
      .requiredOption('--cni-path <dirs>', 'colon list of plugin dirs (CNI_PATH)')
      .requiredOption('--network <json>', 'the network configuration list')
      .option('--ip <address>', 'the address asked for (CNI_ARGS IP=)')
      .action(async (_opts: Opts, cmd: SkiffCommand) => {
        const commands = await import('./commands/net-cni.js');
        const flags = cmd.opts() as unknown as import('./commands/net-cni.js').CniHookFlags;
        await (op === 'add' ? commands.cniAdd(flags) : op === 'del' ? commands.cniDel(flags) : commands.cniCheck(flags));
      });
  }
}

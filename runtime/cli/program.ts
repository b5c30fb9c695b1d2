/**
 * The command tree. Each command's action imports its module on use, so a
 * command pays the start-up cost of what it needs only (`version` never loads
 * undici, netlink or the image code).
 */
import { Option } from 'commander';
import { parseDuration } from './duration.js';
import { globalOptionList, globalOptionsOf } from './global-options.js';
import { SkiffCommand } from './skiff-command.js';

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
    .addOption(new Option('--pull-policy <policy>', 'new: only if not stored; update: always check; never: store only').choices(['new', 'update', 'never']).default('update'))
    .action(async (images: string[], _opts: Opts, cmd: SkiffCommand) => {
      const { default: run } = await import('./commands/fetch.js');
      const o = cmd.opts();
      await run(globalOptionsOf(cmd.optsWithGlobals()), images, {
        ...(typeof o['platform'] === 'string' ? { platform: o['platform'] } : {}),
        quiet: o['quiet'] === true,
        pullPolicy: o['pullPolicy'] as 'new' | 'update' | 'never',
      });
    });

  const image = program.command('image').description('manage the image store');
  image
    .command('list')
    .description('list the images in the store')
    .option('--full', 'show full image IDs', false)
    .option('--no-legend', 'leave out the header line')
    .action(async (_opts: Opts, cmd: SkiffCommand) => {
      const { list } = await import('./commands/image.js');
      const o = cmd.opts();
      list(globalOptionsOf(cmd.optsWithGlobals()), { full: o['full'] === true, noLegend: o['legend'] === false });
    });
  image
    .command('rm')
    .description('remove images (by name, ID or unique ID prefix); images a pod uses are refused')
    .argument('<image...>')
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
    .argument('<image>')
    .action(async (img: string, _opts: Opts, cmd: SkiffCommand) => {
      const { catManifest } = await import('./commands/image.js');
      catManifest(globalOptionsOf(cmd.optsWithGlobals()), img);
    });
  image
    .command('export')
    .description('write an image from the store to FILE as an OCI archive (readable with oci-archive:)')
    .argument('<image>')
    .argument('<file>')
    .option('--overwrite', 'replace FILE if it exists', false)
    .action(async (img: string, file: string, _opts: Opts, cmd: SkiffCommand) => {
      const { exportCmd } = await import('./commands/image.js');
      await exportCmd(globalOptionsOf(cmd.optsWithGlobals()), img, file, { overwrite: cmd.opts()['overwrite'] === true });
    });

  return program;
}

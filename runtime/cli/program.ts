/**
 * The command tree. Each command's action imports its module on use, so a
 * command pays the start-up cost of what it needs only (`version` never loads
 * undici, netlink or the image code).
 */
import { globalOptionList, globalOptionsOf } from './global-options.js';
import { SkiffCommand } from './skiff-command.js';

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

  return program;
}

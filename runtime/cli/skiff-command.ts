/**
 * commander's Command, adjusted to Skiff's error contract: a usage problem
 * becomes a UsageError (exit 2) that names the command and says where to read
 * its usage, instead of commander printing its own text and exiting 1.
 */
import { Command, type CommanderError } from 'commander';
import { UsageError } from '../errors.js';
import { HelpShown } from './help-shown.js';


export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export class SkiffCommand extends Command {
  constructor(name?: string) {
    super(name);
    this.exitOverride((err: CommanderError) => {
      // Only help and --version displays reach here; errors go through error().
      // Help shown because something was missing (no subcommand) is a usage error.
      throw new HelpShown(err.exitCode === 0 ? 0 : 2);
    });
    this.showSuggestionAfterError(true);
  }

  override createCommand(name?: string): SkiffCommand {
    return new SkiffCommand(name);
  }

  override error(message: string): never {
    const path = commandPath(this);
    const sub = path.split(' ').slice(1).join(' ');
    throw new UsageError(message.replace(/^error:\s*/, ''), {
      hint: `run 'skiff help${sub === '' ? '' : ` ${sub}`}' for usage`,
    });
  }
}

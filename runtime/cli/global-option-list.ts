/** The global flags as commander options, for the full command tree (program.ts). */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LOCAL_CONFIG, LOCAL_CONFIG_ENV } from '../local-config.js';
import { DEFAULT_DIR, INSECURE_OPTIONS, parseInsecureOptions, type InsecureOption } from './global-options.js';

export function globalOptionList(): Option[] {
  return [
    new Option('--dir <path>', 'where images and pods are kept').default(DEFAULT_DIR).env('SKIFF_DIR'),
    new Option('--local-config <path>', 'the host\'s own settings: net.d/*.conf network definitions').default(DEFAULT_LOCAL_CONFIG).env(LOCAL_CONFIG_ENV),
    new Option('--debug', 'print debug output and full stacks on errors').default(false),
    new Option('--insecure-options <list>', `relax security checks: ${INSECURE_OPTIONS.join(',')}`)
      .argParser((value: string) => {
        try {
          return parseInsecureOptions(value);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      })
      .default(new Set<InsecureOption>(), 'none'),
    new Option('--format <format>', 'output format of commands that print data')
      .choices(['text', 'json'])
      .default('text'),
  ];
}


/**
 * `version`, `list`, `image list` and `status UUID` without commander, as
 * fast-path.ts does for `run`: these are what scripts and monitoring call in
 * loops, and loading and building the command tree (~50 ms here) cost more
 * than the commands themselves (issue 11 §4, bench/cli.ts).
 *
 * Only the plain shapes: global flags before the command, then the command's
 * own boolean flags (the same names program.ts gives it; test/unit/
 * query-fast-path.test.ts holds the two together) and its one positional
 * argument. Anything else (--help, a value flag such as `status --wait`, a
 * typo) goes through the full command tree, which gives the usual answer or
 * usage error.
 *
 * The `skiff` launcher answers `version`, `list` and `status UUID` before
 * Node starts (native/launcher/query-main.c) and comes here when it cannot
 * be sure of giving the same bytes: a change to what these commands print
 * goes into both, held together by test/integration/launcher-queries.test.ts.
 */
import { leadingGlobals, namesGlobalOrHelp } from './fast-path.js';
import type { GlobalOptions } from './global-options.js';

interface QueryShape {
  /** The command words: `['image', 'list']`. */
  words: readonly string[];
  /** Its boolean flags, as program.ts defines them. */
  booleans: readonly string[];
  /** How many positional arguments it takes here (status: the UUID). */
  positionals: 0 | 1;
}

export const QUERY_SHAPES = [
  { words: ['version'], booleans: [], positionals: 0 },
  { words: ['list'], booleans: ['--full', '--no-legend'], positionals: 0 },
  { words: ['image', 'list'], booleans: ['--full', '--no-legend'], positionals: 0 },
  { words: ['status'], booleans: [], positionals: 1 },
] as const satisfies readonly QueryShape[];

export interface QueryPath {
  words: string;
  global: GlobalOptions;
  /** The boolean flags given, by name (`--full`). */
  flags: ReadonlySet<string>;
  positional: string | undefined;
}

export function matchQueryPath(argv: string[], env: NodeJS.ProcessEnv = process.env): QueryPath | undefined {
  const lead = leadingGlobals(argv, env);
  if (lead === undefined) return undefined;
  const shape = QUERY_SHAPES.find((s: QueryShape) => s.words.every((w, i) => lead.rest[i] === w));
  if (shape === undefined) return undefined;
  const args = lead.rest.slice(shape.words.length);
  if (namesGlobalOrHelp(args)) return undefined;
  const booleans: readonly string[] = shape.booleans;
  const flags = new Set(args.filter((a) => a.startsWith('-')));
  const positional = args.filter((a) => !a.startsWith('-'));
  if ([...flags].some((f) => !booleans.includes(f)) || positional.length !== shape.positionals) return undefined;
  return { words: shape.words.join(' '), global: lead.global, flags, positional: positional[0] };
}

/** Runs a matched query with the same calls as its action in program.ts. */
export async function runQuery(query: QueryPath): Promise<void> {
  const { global, flags } = query;
  const listing = { full: flags.has('--full'), noLegend: flags.has('--no-legend') };
  switch (query.words) {
    case 'version': {
      const { default: run } = await import('./commands/version.js');
      run(global);
      return;
    }
    case 'list': {
      const { list } = await import('./commands/pod-queries.js');
      list(global, listing);
      return;
    }
    case 'image list': {
      const { list } = await import('./commands/image-list.js');
      list(global, listing);
      return;
    }
    case 'status': {
      const { status } = await import('./commands/pod-queries.js');
      await status(global, query.positional as string, { waitMs: undefined });
      return;
    }
    default:
      throw new Error(`no query command ${query.words}`);
  }
}

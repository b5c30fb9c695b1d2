#!/usr/bin/env node
/**
 * The CLI entry: the only place that prints errors and chooses exit codes
 * (exit-codes.ts). Everything below it throws SkiffErrors.
 */
import { asSkiffError, formatErrorLine } from '../errors.js';
import { EXIT_OK, exitCodeFor } from '../exit-codes.js';
import { matchFastPath } from './fast-path.js';
import { matchQueryPath, runQuery } from './query-fast-path.js';
import { HelpShown } from './help-shown.js';
import { takeRunPlanRequest } from './run-plan-request.js';

function describeCauses(err: unknown): string {
  const lines: string[] = [];
  for (let e: unknown = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    lines.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    if (!(e instanceof Error)) break;
  }
  return lines.join('\ncaused by: ');
}

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const planRequest = takeRunPlanRequest();
  try {
    const fast = matchFastPath(argv.slice(2));
    if (fast !== undefined) {
      const commands = await import('./commands/run.js');
      if (fast.command === 'run') await commands.run(fast.global, fast.args, planRequest);
      else if (fast.command === 'prepare') await commands.prepare(fast.global, fast.args, planRequest);
      else await commands.runPrepared(fast.global, fast.args);
      return EXIT_OK;
    }
    const query = matchQueryPath(argv.slice(2));
    if (query !== undefined) {
      await runQuery(query);
      return EXIT_OK;
    }
    const { buildProgram } = await import('./program.js');
    const program = buildProgram();
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT_OK : Number(process.exitCode);
  } catch (err) {
    if (err instanceof HelpShown) return err.exitCode;
    const skiffErr = asSkiffError(err);
    process.stderr.write(`${formatErrorLine(skiffErr)}\n`);
    if (debug) process.stderr.write(`${describeCauses(skiffErr)}\n`);
    return exitCodeFor(skiffErr);
  }
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});

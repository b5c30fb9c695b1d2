/**
 * Builds the test probe (test/fixtures/probe.c) with the host's gcc into
 * test/fixtures/.build/probe, a static binary that runs in any image.
 *
 * Builds happen only when the binary is missing or older than the source.
 * Test files run in parallel processes, so each compiles into its own temp
 * name and renames it into place: rename is atomic, so a reader never sees a
 * half-written binary and a concurrent build just replaces it with an equal
 * one.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Static so the probe needs nothing from the image; stripped to stay under 1 MB. */
const GCC_FLAGS = ['-static', '-O2', '-s', '-std=gnu11', '-Wall', '-Wextra', '-Werror'];

let building: Promise<string> | undefined;

/** Path of the built probe, compiled first if missing or stale. */
export function probeBinary(): Promise<string> {
  building ??= buildIfStale().catch((err: unknown) => {
    // A failed build is not cached: the next caller (after a fix) tries again.
    building = undefined;
    throw err;
  });
  return building;
}

/** The directory holding package.json, found from this module (it runs from dist/test/support/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`probeBinary: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function buildIfStale(): Promise<string> {
  const root = repoRoot();
  const source = join(root, 'test', 'fixtures', 'probe.c');
  const output = join(root, 'test', 'fixtures', '.build', 'probe');
  const sourceTime = await mtimeMs(source);
  if (sourceTime === undefined) throw new Error(`probeBinary: source ${source} is missing`);
  const outputTime = await mtimeMs(output);
  if (outputTime !== undefined && outputTime >= sourceTime) return output;

  await mkdir(dirname(output), { recursive: true });
  const temp = `${output}.${process.pid}.${Date.now()}.tmp`;
  try {
    try {
      await execFileAsync('gcc', [...GCC_FLAGS, '-o', temp, source]);
    } catch (err) {
      throw buildError(source, err);
    }
    await rename(temp, output);
  } finally {
    await rm(temp, { force: true });
  }
  return output;
}

function buildError(source: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
  if (e.code === 'ENOENT' && e.path === 'gcc') {
    return new Error('probeBinary: gcc not found; the probe needs gcc and static glibc (libc6-dev)', { cause: err });
  }
  const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim();
  return new Error(
    `probeBinary: gcc ${GCC_FLAGS.join(' ')} failed for ${source}:\n${output || (e.message ?? String(err))}`,
    { cause: err },
  );
}

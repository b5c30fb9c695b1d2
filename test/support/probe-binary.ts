/**
 * Builds the test probe (the C files in test/fixtures/probe/) with the host's
 * gcc into test/fixtures/.build/probe, a static binary that runs in any image.
 *
 * Builds happen only when the binary is missing or older than any file in the
 * source directory (a .c, a header, or the directory itself, whose mtime moves
 * when a file is added, removed or renamed).
 * Test files run in parallel processes, so each compiles into its own temp
 * name and renames it into place: rename is atomic, so a reader never sees a
 * half-written binary and a concurrent build just replaces it with an equal
 * one.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
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

interface ProbeSources {
  /** The .c files, sorted so the gcc command line is the same on every run. */
  cFiles: string[];
  /** The newest mtime among the directory, its .c files and its headers. */
  newestMs: number;
}

async function probeSources(sourceDir: string): Promise<ProbeSources> {
  let names: string[];
  try {
    names = await readdir(sourceDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`probeBinary: source directory ${sourceDir} is missing`, { cause: err });
    }
    throw err;
  }
  const tracked = names.filter((name) => name.endsWith('.c') || name.endsWith('.h')).sort();
  const cFiles = tracked.filter((name) => name.endsWith('.c')).map((name) => join(sourceDir, name));
  if (cFiles.length === 0) throw new Error(`probeBinary: no .c files in ${sourceDir}`);
  let newestMs = (await stat(sourceDir)).mtimeMs;
  for (const name of tracked) {
    // A file removed since readdir is no longer a source; the directory's mtime has moved anyway.
    const time = await mtimeMs(join(sourceDir, name));
    if (time !== undefined && time > newestMs) newestMs = time;
  }
  return { cFiles, newestMs };
}

async function buildIfStale(): Promise<string> {
  const root = repoRoot();
  const sourceDir = join(root, 'test', 'fixtures', 'probe');
  const output = join(root, 'test', 'fixtures', '.build', 'probe');
  const sources = await probeSources(sourceDir);
  const outputTime = await mtimeMs(output);
  if (outputTime !== undefined && outputTime >= sources.newestMs) return output;

  await mkdir(dirname(output), { recursive: true });
  const temp = `${output}.${process.pid}.${Date.now()}.tmp`;
  try {
    try {
      await execFileAsync('gcc', [...GCC_FLAGS, '-o', temp, ...sources.cFiles]);
    } catch (err) {
      throw buildError(sourceDir, err);
    }
    await rename(temp, output);
  } finally {
    await rm(temp, { force: true });
  }
  return output;
}

function buildError(sourceDir: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
  if (e.code === 'ENOENT' && e.path === 'gcc') {
    return new Error('probeBinary: gcc not found; the probe needs gcc and static glibc (libc6-dev)', { cause: err });
  }
  const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim();
  return new Error(
    `probeBinary: gcc ${GCC_FLAGS.join(' ')} failed for ${sourceDir}/*.c:\n${output || (e.message ?? String(err))}`,
    { cause: err },
  );
}

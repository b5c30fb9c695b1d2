/**
 * `--private-users` (native/stage1/userns.c): the apps run in a user namespace of their own, read
 * from inside the pod (/proc/self/uid_map, stat) and checked on the host (the overlay's upper dir,
 * the claims dir), through the CLI and its replay, with `enter`, `gc` and an attack or two.
 */
import test from 'ava';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testWhen } from '../support/host-condition.js';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir } from '../support/temp-dir.js';

const rootTest = testWhen('root');

/** A claims dir of the test's own: its pods' auto ranges are claimed there, and only there. */
function usernsStore(s: PodStore, dir: string): PodStore {
  const env = { ...s.env, SKIFF_USERNS_DIR: dir };
  return { ...s, env, skiff: (args, input) => runSkiff(['--dir', s.dir, ...args], { env, ...(input === undefined ? {} : { input }) }) };
}

async function store(t: Parameters<typeof podStore>[0]): Promise<{ s: PodStore; claims: string }> {
  const claims = join(tempDir(t, 'skiff-userns-'), 'claims');
  return { s: usernsStore(await podStore(t), claims), claims };
}

/** "0 SHIFT COUNT" of a uid_map line. */
function mapOf(line: string | undefined): number[] {
  return (line ?? '').trim().split(/\s+/).map(Number);
}

const runDirs = (s: PodStore) => readdirSync(join(s.dir, 'pods', 'run')).sort();
const upper = (s: PodStore, uuid: string) => join(s.dir, 'pods', 'run', uuid, 'overlay', 'upper');

rootTest('pod root is host id SHIFT: the maps, image files owned by 0 inside, writes land shifted in the upper dir (CLI and replay)', async (t) => {
  const { s, claims } = await store(t);
  const script = 'cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /bin/busybox /etc/passwd /; echo hi > /written; mkdir /made; stat -c %u:%g /written';
  for (const path of ['node', 'replay']) {
    const r = await s.skiff(['run', '--private-users', s.image, '--exec', '/bin/sh', '--', '-c', script], undefined);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const [zero, shift = -1, count] = mapOf(lines[0]);
    t.is(zero, 0, path);
    t.true(shift >= 2 ** 19 && shift % 65536 === 0, `an auto range: ${lines[0]}`);
    t.is(count, 65536);
    t.deepEqual(mapOf(lines[1]), [0, shift, count], 'gid_map as uid_map');
    t.deepEqual(lines.slice(2), ['0', '0:0', '0:0', '0:0', '0:0'], `${path}: pod root, and the image's files are its own`);
    const uuid = runDirs(s).at(-1) as string;
    const written = statSync(join(upper(s, uuid), 'written'));
    t.deepEqual([written.uid, written.gid], [shift, shift], 'the file pod root wrote is host id SHIFT\'s');
    t.is(statSync(join(upper(s, uuid), 'made')).uid, shift);
    t.deepEqual(readdirSync(claims).filter((n) => !n.startsWith('.')), [], 'the range is released when the pod exits');
  }
});

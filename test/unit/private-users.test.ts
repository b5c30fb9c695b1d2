/**
 * `--private-users[=SHIFT:COUNT]` → PodSpec → stage1's `private-users` value, with no store and
 * no pod; bad values are UsageErrors (exit 2) naming the flag; `gc`'s release of auto claims.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePodArgs } from '../../runtime/cli/pod-args.js';
import { podCommandLine } from '../../runtime/cli/pod-spec-args.js';
import { UsageError } from '../../runtime/errors.js';
import { checkIdsInRange, privateUsersValue, releaseUsernsClaims } from '../../runtime/pods/private-users.js';
import { runIsReplayable } from '../../runtime/pods/run-plan.js';

const specOf = (argv: string[]) => podCommandLine(parsePodArgs(argv)).spec;

test('bare --private-users (or =true) asks for an auto range; =false and no flag for none; the run stays replayable', (t) => {
  t.deepEqual(specOf(['--private-users', 'img']).privateUsers, { auto: true });
  t.deepEqual(specOf(['--private-users=true', 'img']).privateUsers, { auto: true });
  t.false('privateUsers' in specOf(['--private-users=false', 'img']));
  t.false('privateUsers' in specOf(['img']));
  t.true(runIsReplayable(specOf(['--private-users', 'img'])));
});

test('--private-users=SHIFT:COUNT is taken as given', (t) => {
  t.deepEqual(specOf(['--private-users=131072:65536', 'img']).privateUsers, { shift: 131072, count: 65536 });
  t.deepEqual(specOf(['--private-users=65536:1', 'img']).privateUsers, { shift: 65536, count: 1 });
});

test('bad values are usage errors naming the flag: not SHIFT:COUNT, the host\'s own ids, an empty or too large range, given twice', (t) => {
  for (const [value, message] of [
    ['abc', /is not SHIFT:COUNT/], ['131072', /is not SHIFT:COUNT/], ['-1:5', /is not SHIFT:COUNT/], ['131072:65536:1', /is not SHIFT:COUNT/],
    ['0:65536', /overlaps the host's own ids 0\.\.65535/], ['65535:10', /overlaps/],
    ['131072:0', /COUNT must be 1 or more/], ['4294901760:65536', /SHIFT \+ COUNT - 1 <= 4294967294/],
  ] as const) {
    const err = t.throws(() => specOf([`--private-users=${value}`, 'img']), { instanceOf: UsageError }, value);
    t.regex(err?.message ?? '', message, value);
    t.regex(err?.message ?? '', /--private-users/);
  }
  t.throws(() => specOf(['--private-users', '--private-users=131072:1', 'img']), { instanceOf: UsageError, message: /given twice/ });
});

test('stage1\'s value: auto with the claims dir (SKIFF_USERNS_DIR moves it), or SHIFT\\tCOUNT', (t) => {
  t.is(privateUsersValue({ auto: true }, {}), 'auto\t/run/skiff/userns');
  t.is(privateUsersValue({ auto: true }, { SKIFF_USERNS_DIR: '/tmp/claims' }), 'auto\t/tmp/claims');
  t.is(privateUsersValue({ shift: 131072, count: 65536 }, {}), '131072\t65536');
});

test('app ids must fit the range', (t) => {
  t.notThrows(() => checkIdsInRange({ auto: true }, 'a', [0, 65535]));
  t.notThrows(() => checkIdsInRange(undefined, 'a', [1 << 30]));
  t.throws(() => checkIdsInRange({ auto: true }, 'a', [65536]), { instanceOf: UsageError, message: /app a runs as id 65536/ });
  t.throws(() => checkIdsInRange({ shift: 131072, count: 1000 }, 'a', [0, 1000]), { instanceOf: UsageError });
});

test('gc releases the auto claims naming the pod (symlinks, and an older stage1\'s files and temp file), never another pod\'s; again is a no-op', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-userns-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const claims = join(dir, 'claims');
  mkdirSync(claims);
  symlinkSync('pod-a', join(claims, '524288'));
  symlinkSync('pod-b', join(claims, '589824'));
  writeFileSync(join(claims, '655360'), 'pod-a\n');
  writeFileSync(join(claims, '720896'), 'pod-b\n');
  writeFileSync(join(claims, '.claim-pod-a'), 'pod-a\n');
  // A claim's target is a name, never followed: even one that resolves to a file naming the pod is read as itself.
  writeFileSync(join(claims, 'pod-c'), 'pod-a\n');
  symlinkSync('pod-c', join(claims, '786432'));
  releaseUsernsClaims('pod-a', [`auto\t${claims}`]);
  t.deepEqual(readdirSync(claims).sort(), ['589824', '720896', '786432', 'pod-c']);
  releaseUsernsClaims('pod-a', [`auto\t${claims}`, '131072\t65536', `auto\t${join(dir, 'missing')}`]);
  t.deepEqual(readdirSync(claims).sort(), ['589824', '720896', '786432', 'pod-c']);
});

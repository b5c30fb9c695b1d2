import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const youngHeap = fileURLToPath(new URL('../../runtime/cli/young-heap.js', import.meta.url));

/** new_space's committed size after a workload whose objects survive many scavenges (a fetch's queued chunks, in small). */
function newSpaceAfterSurvivors(keepSmall: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { keepYoungHeapSmall } from ${JSON.stringify(youngHeap)};
    if (${keepSmall}) keepYoungHeapSmall();
    const keep = [];
    for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i });
    console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size, keep.length);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.split(' ')[0]);
}

test('keepYoungHeapSmall keeps the young generation at its start size where V8 would grow it', (t) => {
  const MB = 1024 * 1024;
  const grown = newSpaceAfterSurvivors(false);
  t.true(grown > 8 * MB, `without it the workload grows new space (${grown} bytes), or this test proves nothing`);
  const kept = newSpaceAfterSurvivors(true);
  t.true(kept <= 4 * MB, `with it new space stays small: ${kept} bytes`);
});

/**
 * `--insecure-options=paths` (rkt's): no masked and no read-only /proc and /sys paths. By default
 * /proc/timer_list reads empty (/dev/null over it) and /proc/sys opens read-only (EROFS); with the
 * option the kernel's file is there and /proc/sys opens for writing. Both paths: the CLI records a
 * plan, the identical second run is replayed (SKIFF_LAUNCH_TRACE says which ran).
 */
import test from 'ava';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';

async function probeOf(s: PodStore, global: string[]): Promise<Array<{ path: string; timerList: string; procSys: string }>> {
  const args = ['--dir', s.dir, ...global, 'run', s.image, '--exec', '/bin/sh', '--', '-c',
    '/probe cat /proc/timer_list; /probe open w /proc/sys/kernel/hostname'];
  const out = [];
  for (let i = 0; i < 2; i++) {
    const r = await runSkiff(args, { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
    if (r.code !== 0) throw new Error(`skiff run failed: ${r.stderr}`);
    const [cat, open] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { content?: string; results?: Record<string, string> });
    out.push({
      path: /^skiff launch: (\w+)/m.exec(r.stderr)?.[1] ?? 'unknown',
      timerList: (cat?.content ?? '').slice(0, 18),
      procSys: open?.results?.['/proc/sys/kernel/hostname'] ?? 'none',
    });
  }
  return out;
}

test('masked and read-only /proc paths by default, neither with --insecure-options=paths; both paths', async (t) => {
  const s = await podStore(t);
  t.deepEqual(await probeOf(s, []), [
    { path: 'node', timerList: '', procSys: 'EROFS' },
    { path: 'replay', timerList: '', procSys: 'EROFS' },
  ]);
  for (const option of ['paths', 'all-run']) {
    t.deepEqual(await probeOf(s, [`--insecure-options=${option}`]), [
      { path: 'node', timerList: 'Timer List Version', procSys: 'ok' },
      { path: 'replay', timerList: 'Timer List Version', procSys: 'ok' },
    ], option);
  }
});

test('run-prepared --insecure-options=paths relaxes a pod prepared without it', async (t) => {
  const s = await podStore(t);
  const prepared = await s.skiff(['prepare', s.image, '--exec', '/probe', '--', 'cat', '/proc/timer_list']);
  t.is(prepared.code, 0, prepared.stderr);
  const run = await s.skiff(['--insecure-options=paths', 'run-prepared', prepared.stdout.trim()]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /Timer List Version/);
});

/**
 * Pods through `skiff run` on a real cgroup v2 kernel (the VM tier): the
 * limits given with --memory, --cpu and --pids-limit are what the app finds
 * in its own cgroup2 dir, on the CLI path and on the launcher's replay; the
 * kernel enforces them (the pod's own memory.events, pids limit, cpu.stat);
 * and stage1's BPF device program refuses what the allow-list does not
 * name. Skipped, visibly, on hosts that are not pure v2 (test/vm/vm-host.ts).
 *
 * One store for the whole file: every `skiff` that is not replayed is a Node
 * start, ~2 s in the emulated guest.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podStore, type PodStore } from '../support/pod-store.js';
import { probeBinary } from '../support/probe-binary.js';
import { runSkiff } from '../support/skiff-cli.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';
import { cgroup2Mount, pureV2 } from './vm-host.js';

const v2Test = pureV2 ? test.serial : test.skip;

// The store's teardowns, run once after the last test.
const teardowns: (() => void | Promise<void>)[] = [];
const shared: Teardown = { teardown: (fn) => void teardowns.unshift(fn) };
let store: Promise<PodStore> | undefined;
const getStore = () => (store ??= podStore(shared));
test.after.always(async () => {
  for (const fn of teardowns) await fn();
});

interface Limits { memory: number | string | null; pids: number | string | null; cpu_quota: number | string | null; cpu_period: number | string | null }
const probeInfo = (stdout: string) => JSON.parse(stdout.trim().split('\n')[0] ?? '{}') as { cgroup: { layout: string; limits: Limits } };
const counters = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));

v2Test('--memory, --cpu and --pids-limit are the limits in the pod\'s cgroup2 dir, on the CLI path and replayed', async (t) => {
  const s = await getStore();
  const args = ['--dir', s.dir, 'run', s.image, '--memory', '64Mi', '--cpu', '500m', '--pids-limit', '50', '--exec', '/probe', '--', 'info'];
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(args, { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'), 'the first run goes through the CLI, the second is replayed');
    const { cgroup } = probeInfo(r.stdout);
    t.is(cgroup.layout, 'v2', `${path}: the pod sees one cgroup2 mount`);
    t.like(cgroup.limits, { memory: 64 << 20, pids: 50, cpu_quota: 50_000, cpu_period: 100_000 }, path);
  }
});

v2Test('the kernel enforces them: the memory limit OOM-kills (memory.events), the pids limit refuses forks, the CPU quota throttles (cpu.stat)', async (t) => {
  const s = await getStore();
  const memory = await s.skiff(['run', s.image, '--memory', '32M', '--exec', '/bin/sh', '--', '-c',
    '/probe alloc 64; echo "status $?"; cat /sys/fs/cgroup/memory.events']);
  t.is(memory.code, 0, memory.stderr);
  const [status, ...events] = memory.stdout.trim().split('\n');
  t.is(status, 'status 137', 'SIGKILLed past 32M');
  t.true(counters(events.join('\n'))['oom_kill']! > 0, events.join(', '));

  const forks = await s.skiff(['run', s.image, '--pids-limit', '8', '--exec', '/probe', '--', 'fork', '20']);
  t.is(forks.code, 1, forks.stderr);
  t.is((JSON.parse(forks.stdout) as { error: string }).error, 'EAGAIN');

  const spin = await s.skiff(['run', s.image, '--cpu', '100m', '--exec', '/bin/sh', '--', '-c', '/probe throttle 120 /sys/fs/cgroup/cpu.stat > /dev/null && cat /sys/fs/cgroup/cpu.stat']);
  t.is(spin.code, 0, spin.stderr);
  const stat = counters(spin.stdout);
  t.true(stat['nr_throttled']! > 0, spin.stdout);
});

v2Test('the BPF device program is enforced: a host process put into the pod\'s cgroup2 dir opens allowed devices only; teardown removes the dir', async (t) => {
  const s = await getStore();
  const nodes = tempDir(t, 'skiff-test-nodes-');
  for (const [name, spec] of Object.entries({ full: 'c 1 7', kmsg: 'c 1 11', fuse: 'c 10 229', loop: 'b 7 0' })) {
    execFileSync('mknod', ['-m', '0666', join(nodes, name), ...spec.split(' ')]);
  }
  const uuidFile = join(tempDir(t, 'skiff-test-uuid-'), 'uuid');
  const pod = s.start(['run', '--uuid-file-save', uuidFile, s.image, '--exec', '/bin/sh', '--', '-c', 'echo ready; exec /probe sleep 60']);
  await once(pod.child.stdout!, 'data');
  const dir = join(cgroup2Mount, s.cgroupParent, readFileSync(uuidFile, 'utf8').trim());
  t.true(existsSync(dir), dir);
  const probe = await probeBinary();
  const open = (...paths: string[]) => {
    const out = execFileSync('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, probe, 'open', 'r', ...paths], { encoding: 'utf8' });
    return (JSON.parse(out) as { results: Record<string, string> }).results;
  };
  const paths = ['full', 'kmsg', 'fuse', 'loop'].map((n) => join(nodes, n));
  t.deepEqual(Object.values(open(...paths)), ['ok', 'EPERM', 'EPERM', 'EPERM'], 'only c 1:7 is on the allow-list');
  t.deepEqual(Object.values(JSON.parse(execFileSync(probe, ['open', 'r', ...paths], { encoding: 'utf8' })).results), ['ok', 'ok', 'ok', 'ok'],
    'outside the pod\'s cgroup the same nodes open: the refusals were the program\'s');
  process.kill(pod.child.pid!, 'SIGTERM');
  await pod.exited;
  t.false(existsSync(dir), 'stage1 removed the pod\'s cgroup (and with it the program)');
});

/**
 * `--cgroup-parent PATH`: the pod's cgroup is PATH/<uuid> in every hierarchy (here the hybrid host's
 * v1 ones), over SKIFF_CGROUP_PARENT (which the test store sets); recorded in the manifest, so the
 * replayed run (SKIFF_LAUNCH_TRACE) and a run-prepared land there too. The pod's PID 1 is seen from
 * the host in /proc/PID/cgroup (inside, its cgroup namespace shows `/`).
 */
import test from 'ava';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { podStore, waitRunning, type PodStore } from '../support/pod-store.js';

async function placement(s: PodStore, args: string[]): Promise<{ path: string; memory: string | undefined; uuid: string }> {
  const pod = s.start(args);
  const uuid = await waitRunning(s);
  const status = JSON.parse((await s.skiff(['--format', 'json', 'status', uuid])).stdout) as { pid: number };
  const memory = readFileSync(`/proc/${status.pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l))?.replace(/^\d+:memory:/, '');
  pod.child.kill('SIGTERM');
  await once(pod.child, 'exit');
  await s.skiff(['gc', '--grace-period=0s']);
  return { path: /^skiff launch: (\w+)/m.exec(pod.output().stderr)?.[1] ?? 'unknown', memory, uuid };
}

test('--cgroup-parent places the pod under PATH/<uuid>, over SKIFF_CGROUP_PARENT; both paths and run-prepared', async (t) => {
  const s = await podStore(t);
  s.env['SKIFF_LAUNCH_TRACE'] = '1';
  // Under the store's own parent, so its teardown removes it.
  const parent = `${s.cgroupParent}/by-flag`;
  for (const expected of ['node', 'replay']) {
    const got = await placement(s, ['run', `--cgroup-parent=${parent.slice(1)}//`, s.image, '--memory=64Mi', '--exec', '/probe', '--', 'sleep', '60']);
    t.deepEqual(got, { path: expected, memory: `${parent}/${got.uuid}`, uuid: got.uuid });
  }
  const prepared = await s.skiff(['prepare', `--cgroup-parent=${parent}`, s.image, '--exec', '/probe', '--', 'sleep', '60']);
  t.is(prepared.code, 0, prepared.stderr);
  const uuid = prepared.stdout.trim();
  const got = await placement(s, ['run-prepared', uuid]);
  t.deepEqual(got, { path: got.path, memory: `${parent}/${uuid}`, uuid });
});

test('--cgroup-parent with .. or naming the root is a usage error: exit 2, no pod', async (t) => {
  const s = await podStore(t);
  for (const bad of ['/a/../..', '/']) {
    const r = await s.skiff(['run', `--cgroup-parent=${bad}`, s.image, '--exec', '/probe', '--', 'exit', '0']);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /--cgroup-parent/);
  }
  t.is((await s.skiff(['--format', 'json', 'list'])).stdout.trim(), '[]');
});

/**
 * The apps' seccomp filter, seen from inside the pod with `probe syscall`:
 * Docker's default profile (keyring, namespaces, mounts refused with EPERM;
 * capability-gated calls open with their capability), foreign ABIs killed,
 * the filter off (`none`) or replaced by a retain- or remove-set, the same
 * filter for `enter`, and the audit's keyring case (issue 13, item 5): the
 * host's key in root's user keyring is out of the pod's reach, and the pod
 * cannot add one the host then sees.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { STAGE1, createPod, firstJson, probe, runPod, sharedProbeRootfs, startPod, type AppSpec } from '../support/stage1-harness.js';

test.before(async () => {
  await sharedProbeRootfs();
});

type Answer = { call: string; ok: boolean; errno?: string; ret?: number; content?: string };

/** Runs `probe syscall CALLS...` as the pod's app; the answers by call name. */
async function tryCalls(t: ExecutionContext, calls: string[], app: Partial<AppSpec> = {}): Promise<Map<string, Answer>> {
  const r = await runPod(t, { apps: [probe(['syscall', ...calls], app)] });
  t.is(r.code, 0, `${r.stderr}${r.state.stage1Error ?? ''}`);
  // `{"trying":CALL}` lines (before a try that may kill the probe) carry no answer.
  const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Answer).filter((a) => a.call !== undefined);
  return new Map(answers.map((a) => [a.call, a]));
}

function refused(t: ExecutionContext, answers: Map<string, Answer>, call: string, errno = 'EPERM'): void {
  t.like(answers.get(call), { ok: false, errno }, call);
}

function allowed(t: ExecutionContext, answers: Map<string, Answer>, call: string): void {
  t.like(answers.get(call), { ok: true }, `${call}: ${JSON.stringify(answers.get(call))}`);
}

test('default filter: mode 2 for the app, one filter', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'])] });
  t.is(r.code, 0, r.stderr);
  t.like(firstJson(r), { seccomp: 2, seccomp_filters: 1, no_new_privs: true });
});

test('default filter: keyring, user namespaces, mounts, clone namespace flags, vsock and odd personalities refused with EPERM; ordinary calls work', async (t) => {
  // Should the filter fail, the key the pod adds lands in root's keyring on the host: removed again.
  const key = `skiff-test-default-${process.pid}`;
  t.teardown(() => {
    const leaked = hostKeyctl(['search', '@u', 'user', key]);
    if (leaked.status === 0) hostKeyctl(['unlink', leaked.stdout, '@u']);
  });
  const a = await tryCalls(t, [
    'keyctl', `key-add=${key}`, `request-key=${key}`, 'clone-newuser', 'unshare-user',
    'userns-mount', 'mount', 'personality-no-randomize', 'socket-vsock', 'clone3',
    'clone', 'getpid', 'socket-unix', 'personality-query',
  ]);
  for (const call of ['keyctl', 'key-add', 'request-key', 'clone-newuser', 'unshare-user', 'userns-mount', 'mount',
    'personality-no-randomize', 'socket-vsock']) {
    refused(t, a, call);
  }
  // clone3's flags are behind a pointer: ENOSYS, so libcs fall back to clone (checked above).
  refused(t, a, 'clone3', 'ENOSYS');
  for (const call of ['clone', 'getpid', 'socket-unix', 'personality-query']) allowed(t, a, call);
});

test('default filter: the calls gated by a capability are open when the app has it (sys_admin: mount, unshare, clone flags)', async (t) => {
  const a = await tryCalls(t, ['mount', 'unshare-user', 'clone-newuser', 'clone3', 'keyctl'], { caps: 'sys_admin' });
  allowed(t, a, 'mount');
  allowed(t, a, 'unshare-user');
  // clone3 reaches the kernel, which refuses a NULL struct itself.
  t.not(a.get('clone3')?.errno, 'ENOSYS');
  // Not gated by any capability: the keyring stays closed.
  refused(t, a, 'keyctl');
});

for (const call of ['x32-getpid', 'i386-getpid']) {
  test(`default filter: ${call} (a foreign syscall ABI) kills the app with SIGSYS`, async (t) => {
    const r = await runPod(t, { apps: [probe(['syscall', 'getpid', call])] });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    t.like(lines[0], { call: 'getpid', ok: true });
    t.deepEqual(lines.slice(1), [{ trying: call }], 'nothing printed after the try');
    t.like(r.state.apps['probe']?.exit, { signal: 'SIGSYS', code: 128 + 31 });
  });
}

test('seccomp none: no filter, the calls are the kernel\'s to refuse', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'], { seccomp: 'none' })] });
  t.like(firstJson(r), { seccomp: 0 });
  // userns-mount is unshare(CLONE_NEWUSER | CLONE_NEWNS), then a tmpfs mount as root of that namespace.
  const a = await tryCalls(t, ['keyctl', 'i386-getpid', 'userns-mount'], { seccomp: 'none' });
  for (const call of ['keyctl', 'i386-getpid', 'userns-mount']) allowed(t, a, call);
});

test('remove-set: every call but the listed ones, refused with the given errno', async (t) => {
  const a = await tryCalls(t, ['unshare-user', 'keyctl', 'socket-unix', 'getpid'], { seccomp: 'remove\t95\tkeyctl,socket' });
  allowed(t, a, 'unshare-user');
  allowed(t, a, 'getpid');
  refused(t, a, 'keyctl', 'EOPNOTSUPP');
  refused(t, a, 'socket-unix', 'EOPNOTSUPP');
});

test('remove-set with @docker/default-blacklist: the default filter, less the listed calls', async (t) => {
  const a = await tryCalls(t, ['unshare-user', 'keyctl', 'socket-unix', 'getpid'], { seccomp: 'remove\t1\t@docker/default-blacklist,socket' });
  refused(t, a, 'unshare-user');
  refused(t, a, 'keyctl');
  refused(t, a, 'socket-unix');
  allowed(t, a, 'getpid');
});

test('retain-set with @docker/default-whitelist: the default filter plus the listed calls, refused ones with the given errno', async (t) => {
  const a = await tryCalls(t, ['unshare-user', 'keyctl', 'getpid'], { seccomp: 'retain\t38\t@docker/default-whitelist,unshare' });
  allowed(t, a, 'unshare-user');
  allowed(t, a, 'getpid');
  refused(t, a, 'keyctl', 'ENOSYS');
});

test('retain-set without an errno: a call outside the set kills the app with SIGSYS (rkt\'s isolators)', async (t) => {
  const r = await runPod(t, { apps: [probe(['syscall', 'getpid', 'keyctl'], { seccomp: 'retain\t\t@docker/default-whitelist' })] });
  t.like(JSON.parse(r.stdout.split('\n')[0] as string), { call: 'getpid', ok: true });
  t.like(r.state.apps['probe']?.exit, { signal: 'SIGSYS' });
});

test('without no_new_privs (and not root), the filter is loaded before the capabilities go', async (t) => {
  const r = await runPod(t, { apps: [probe(['info'], { noNewPrivs: false, uid: 1000, gid: 1000, caps: 'chown' })] });
  t.is(r.code, 0, `${r.stderr}${r.state.stage1Error ?? ''}`);
  t.like(firstJson(r), { seccomp: 2, no_new_privs: false, uid: 1000 });
  const a = await tryCalls(t, ['keyctl', 'unshare-user', 'getpid'], { noNewPrivs: false, uid: 1000, gid: 1000, caps: 'chown' });
  refused(t, a, 'keyctl');
  refused(t, a, 'unshare-user');
  allowed(t, a, 'getpid');
});

test('a bad seccomp value is a config error (exit 2) naming the app', async (t) => {
  for (const [value, message] of [
    ['retain\tEPERM\tread', /app probe: seccomp: errno 'EPERM'/],
    ['remove\t1\tread,no_such_call', /app probe: seccomp: unknown syscall 'no_such_call'/],
    ['keep\t1\tread', /mode 'keep' is not retain or remove/],
    ['remove\t1\t@docker/default-whitelist', /is for mode retain/],
  ] as const) {
    const r = await runPod(t, { apps: [probe(['info'], { seccomp: value })] });
    t.is(r.code, 2, value);
    t.regex(r.stderr, message);
  }
});

test('enter: the command gets the filter too, the --app\'s own (or the default without --app)', async (t) => {
  const pod = await createPod(t, { apps: [probe(['sleep', '30']), probe(['sleep', '30'], { name: 'open', seccomp: 'none' })] });
  const pid1 = await startPod(t, pod).waitForPid1();
  const enter = (args: string[]) => {
    const r = spawnSync(STAGE1, ['enter', pod.dir, String(pid1), ...args], { encoding: 'utf8', timeout: 10_000 });
    t.is(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  };
  t.like(enter(['--', '/probe', 'info'])[0], { seccomp: 2, seccomp_filters: 1 });
  t.like(enter(['--app', 'probe', '--', '/probe', 'info'])[0], { seccomp: 2 });
  t.like(enter(['--app', 'open', '--', '/probe', 'info'])[0], { seccomp: 0 });
  t.like(enter(['--', '/probe', 'syscall', 'keyctl', 'unshare-user']), [
    { call: 'keyctl', ok: false, errno: 'EPERM' }, { call: 'unshare-user', ok: false, errno: 'EPERM' },
  ]);
});

/** The host's side of the keyring case: `keyctl` from Debian's keyutils, as root on the host. */
function hostKeyctl(args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync('keyctl', args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim() };
}

test('the audit\'s keyring case: a key the host added to root\'s user keyring is out of reach, and the pod adds none the host sees', async (t) => {
  const hostKey = `skiff-test-host-${process.pid}`;
  const podKey = `skiff-test-pod-${process.pid}`;
  const id = execFileSync('keyctl', ['add', 'user', hostKey, 'host-secret', '@u'], { encoding: 'utf8' }).trim();
  t.teardown(() => {
    hostKeyctl(['unlink', id, '@u']);
    const leaked = hostKeyctl(['search', '@u', 'user', podKey]);
    if (leaked.status === 0) hostKeyctl(['unlink', leaked.stdout, '@u']);
  });
  const calls = [`key-find=${hostKey}`, `key-add=${podKey}`];

  // Without the filter the pod shares root's keyring with the host (what the audit found): the test can see the leak.
  const open = await tryCalls(t, calls, { seccomp: 'none' });
  t.like(open.get('key-find'), { ok: true, content: 'host-secret' });
  allowed(t, open, 'key-add');
  t.is(hostKeyctl(['search', '@u', 'user', podKey]).status, 0, 'the host sees the key the pod added');
  const added = hostKeyctl(['search', '@u', 'user', podKey]).stdout;
  hostKeyctl(['unlink', added, '@u']);

  // With the default filter: neither.
  const closed = await tryCalls(t, calls);
  refused(t, closed, 'key-find');
  refused(t, closed, 'key-add');
  t.not(hostKeyctl(['search', '@u', 'user', podKey]).status, 0, 'no key from the pod on the host');
});

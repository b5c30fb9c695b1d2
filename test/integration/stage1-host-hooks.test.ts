/**
 * stage1's host hooks (`host-up`, `host-down`; native/host-hooks.c): commands the supervisor
 * runs on the host side after the networks are attached and at teardown. Each test runs stage1
 * inside a throwaway "host" netns (nsenter --net) with a bridge on 198.18.0.0/16; the hooks are
 * /bin/sh scripts that record what they saw (argv, namespaces, fds, env, stdin) into a host dir,
 * which the pod also mounts as a volume, so the app can show that the up ran before it.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { teardownPodLeftovers } from '../../runtime/pods/pod-teardown.js';
import { createPod, sharedProbeRootfs, startPod, type AppSpec } from '../support/stage1-harness.js';
import { testNetns, type Netns } from '../support/netns.js';
import { tempDir } from '../support/temp-dir.js';

test.before(async () => {
  await sharedProbeRootfs();
});

const HOOK_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/*
 * `record DIR TAG ARGS...`: DIR/TAG.args (the args), .net .mnt .pid (its namespaces), .podnet
 * (the netns its first arg names), .env, .stdin; its open fds on stdout; appends TAG to DIR/log.
 */
const RECORD = [
  'dir=$1; tag=$2; shift 2',
  // To stdout (stage1's stderr), with no redirect: dash redirects in the shell itself, keeping a copy of fd 1.
  'echo "fds of $tag:"; ls -m /proc/$$/fd',
  'echo "$*" > "$dir/$tag.args"',
  'readlink /proc/$$/ns/net > "$dir/$tag.net"',
  'readlink /proc/$$/ns/mnt > "$dir/$tag.mnt"',
  'readlink /proc/$$/ns/pid > "$dir/$tag.pid"',
  'readlink "$1" > "$dir/$tag.podnet" || true',
  'tr "\\0" "\\n" < /proc/$$/environ > "$dir/$tag.env"',
  'readlink /proc/$$/fd/0 > "$dir/$tag.stdin"',
  'echo "stdout of $tag"',
  'echo "$tag" >> "$dir/log"',
].join('\n');

const hook = (dir: string, tag: string, ...args: string[]): string => ['/bin/sh', '-c', RECORD, 'record', dir, tag, ...args].join('\t');

interface Host {
  ns: Netns;
  third: number;
  net: string;
}

let subnetCounter = 0;

async function host(t: ExecutionContext): Promise<Host> {
  const ns = await testNetns(t, 'skh');
  const third = 60 + (subnetCounter++ % 100);
  for (const args of [['link', 'add', 'skb0', 'type', 'bridge'], ['addr', 'add', `198.18.${third}.1/24`, 'dev', 'skb0'], ['link', 'set', 'skb0', 'up']]) {
    const r = await ns.run('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
  const ipam = join(tempDir(t, 'skiff-ipam-'), 'default');
  const net = ['default', 'eth0', 'skb0', '1500', ipam, `198.18.${third}.0/24`, `198.18.${third}.2-198.18.${third}.254`, `198.18.${third}.1`, 'default', ''].join('\t');
  return { ns, third, net };
}

async function start(t: ExecutionContext, h: Host | undefined, pairs: Array<[string, string]>, apps: AppSpec[], hooksDir: string) {
  const pod = await createPod(t, {
    netns: 'new',
    apps,
    volumes: [{ name: 'hooks', kind: 'host', source: hooksDir, ro: true }],
    extra: [...(h === undefined ? [] : [['net', h.net] as [string, string]]), ...pairs],
  });
  const running = startPod(t, pod, h === undefined ? {} : { prefix: ['nsenter', `--net=${h.ns.path}`] });
  return { pod, running };
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8').replace(/\n$/, '');
const nsInode = (link: string): number => Number(/\[(\d+)\]/.exec(link)?.[1]);

const shApp = (script: string): AppSpec => ({ name: 'sh', exec: '/bin/sh', args: ['-c', script], mounts: [{ volume: 'hooks', target: '/hooks' }] });

test('host-up runs on the host side before any app, placeholders replaced, nothing of stage1 leaked; host-downs at exit, last first', async (t) => {
  const h = await host(t);
  const dir = tempDir(t, 'skiff-hooks-');
  const { pod, running } = await start(t, h, [
    ['host-up', hook(dir, 'up', '{netns}', '{ip:default}', '{uuid}', '{pod-dir}', 'x{literal}y{ip:default}')],
    ['host-down', hook(dir, 'down1', '{netns}')],
    ['host-down', hook(dir, 'down2', '{netns}', '{ip:default}')],
  ], [shApp('cat /hooks/up.args; readlink /proc/self/ns/net')], dir);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  const ip = `198.18.${h.third}.2`;
  const netnsPath = `/proc/${running.pid}/ns/net`;
  const [seenByApp = '', appNet = ''] = r.stdout.trim().split('\n');
  t.is(read(dir, 'up.args'), `${netnsPath} ${ip} ${pod.uuid} ${pod.dir} x{literal}y${ip}`);
  t.is(seenByApp, read(dir, 'up.args'), 'the up ran before the app started');
  t.is(read(dir, 'up.podnet'), appNet, '{netns} is the pod\'s netns');
  t.is(nsInode(read(dir, 'up.net')), statSync(h.ns.path).ino, 'the hook ran in the host\'s netns (where stage1 started)');
  t.not(read(dir, 'up.net'), appNet, 'not in the pod\'s');
  t.is(read(dir, 'up.mnt'), readlinkSync('/proc/self/ns/mnt'), 'in the host\'s mount namespace');
  t.is(read(dir, 'up.pid'), readlinkSync('/proc/self/ns/pid'), 'in the host\'s pid namespace');
  t.is(/fds of up:\n(.*)\n/.exec(r.stderr)?.[1], '0, 1, 2', 'no fd of stage1 (lock, config, sockets) reached the hook');
  t.is(read(dir, 'up.env'), HOOK_PATH, 'a fixed PATH and nothing else');
  t.is(read(dir, 'up.stdin'), '/dev/null');
  t.regex(r.stderr, /stdout of up/, 'the hook\'s stdout goes to stage1\'s stderr');
  t.notRegex(r.stdout, /stdout of/);
  t.is(read(dir, 'log'), 'up\ndown2\ndown1', 'every down at teardown, last first');
  t.is(read(dir, 'down2.args'), `${netnsPath} ${ip}`);
  t.is(read(dir, 'down2.podnet'), appNet, 'the pod\'s netns still exists while the downs run');
  t.is(nsInode(read(dir, 'down1.net')), statSync(h.ns.path).ino);
  t.is(read(dir, 'down1.pid'), readlinkSync('/proc/self/ns/pid'), 'the pod\'s pid namespace is dead by then: the downs still run in the host\'s');
});

test('a failing host-up stops the pod before any app with one error line; every host-down still runs', async (t) => {
  const h = await host(t);
  const dir = tempDir(t, 'skiff-hooks-');
  const { running } = await start(t, h, [
    ['host-up', hook(dir, 'up1')],
    ['host-up', '/bin/sh\t-c\techo refused >&2; exit 3'],
    ['host-up', hook(dir, 'up3')],
    ['host-down', hook(dir, 'down1')],
    ['host-down', '/bin/false'],
    ['host-down', hook(dir, 'down3')],
  ], [shApp('echo app ran')], dir);
  const r = await running.result;
  t.is(r.code, 254);
  t.is(r.state.stage1Error, 'host-up /bin/sh: exit 3\n');
  t.regex(r.stderr, /refused/);
  t.notRegex(r.stdout, /app ran/);
  t.is(r.state.apps['sh']?.started, undefined, 'no app started');
  t.is(read(dir, 'log'), 'up1\ndown3\ndown1', 'the later up never ran; every down did, a failing one included');
  t.regex(r.stderr, /teardown: host-down \/bin\/false: exit 1/);
});

test('a start that fails before any host-up (a taken port claim) runs no host-down: nothing of the hooks can exist', async (t) => {
  const dir = tempDir(t, 'skiff-hooks-');
  const ports = tempDir(t, 'skiff-ports-');
  writeFileSync(join(ports, 'tcp-8080'), 'another-pod\n');
  const { running } = await start(t, undefined, [
    ['port-claim', `${ports}\ttcp\t8080`], ['port-claim', `${ports}\tudp\t53`],
    ['host-up', hook(dir, 'up')], ['host-down', hook(dir, 'down')],
  ], [shApp('echo app ran')], dir);
  const r = await running.result;
  t.is(r.code, 254);
  t.is(r.state.stage1Error, `ports: host port 8080/tcp is taken by pod another-pod (claim ${ports}/tcp-8080; if that pod is gone, 'skiff gc' releases it)\n`);
  t.false(existsSync(join(dir, 'log')), 'neither an up nor a down ran');
  t.deepEqual(readdirSync(ports).sort(), ['tcp-8080'], 'the other pod\'s claim is left alone, and nothing else was claimed');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('port claims: taken whole while the pod runs, released at exit', async (t) => {
  const dir = tempDir(t, 'skiff-hooks-');
  const ports = join(tempDir(t, 'skiff-ports-'), 'made-by-stage1');
  const { pod, running } = await start(t, undefined, [['port-claim', `${ports}\ttcp\t8080`], ['port-claim', `${ports}\tudp\t8080`]],
    [shApp('sleep 0.2')], dir);
  await running.waitForPid1();
  t.deepEqual(readdirSync(ports).sort(), ['tcp-8080', 'udp-8080']);
  t.is(readFileSync(join(ports, 'tcp-8080'), 'utf8'), `${pod.uuid}\n`);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(ports), []);
});

test('a host-up that cannot be executed: host-up ARGV0: execve: ENOENT', async (t) => {
  const dir = tempDir(t, 'skiff-hooks-');
  const { running } = await start(t, undefined, [['host-up', '/nonexistent/hook\targ'], ['host-down', hook(dir, 'down', '{netns}')]], [shApp('echo app ran')], dir);
  const r = await running.result;
  t.is(r.code, 254);
  t.is(r.state.stage1Error, 'host-up /nonexistent/hook: execve: ENOENT\n');
  t.is(read(dir, 'log'), 'down');
});

test('hooks without networks: the supervisor makes the pod\'s netns, and {netns} names it', async (t) => {
  const dir = tempDir(t, 'skiff-hooks-');
  const { running } = await start(t, undefined, [['host-up', hook(dir, 'up', '{netns}')]], [shApp('readlink /proc/self/ns/net')], dir);
  const r = await running.result;
  t.is(r.code, 0, r.stderr);
  t.is(read(dir, 'up.podnet'), r.stdout.trim());
  t.is(read(dir, 'up.net'), readlinkSync('/proc/self/ns/net'), 'the hook ran in the netns stage1 started in');
  t.not(read(dir, 'up.net'), r.stdout.trim());
});

test('bad hooks are config errors (exit 2) before anything runs', async (t) => {
  const dir = tempDir(t, 'skiff-hooks-');
  for (const [pair, message] of [
    [['host-up', 'bin/true'], /config: host-up: 'bin\/true' is not an absolute path/],
    [['host-down', '/bin/true\t{ip:nosuch}'], /config: host-down \/bin\/true: '\{ip:nosuch\}' names no network/],
  ] as const) {
    const { running } = await start(t, undefined, [[...pair]], [shApp('echo app ran')], dir);
    const r = await running.result;
    t.is(r.code, 2, pair.join(' '));
    t.regex(r.stderr, message);
  }
});

test('after a kill -9 of stage1, gc\'s teardown runs the recorded host-downs ({netns} empty, {ip:NAME} from net-info.json)', async (t) => {
  const h = await host(t);
  const dir = tempDir(t, 'skiff-hooks-');
  const { pod, running } = await start(t, h, [
    ['host-up', hook(dir, 'up')],
    ['host-down', hook(dir, 'down', '{netns}', '{ip:default}', '{uuid}', '{pod-dir}')],
  ], [shApp('sleep 60')], dir);
  await running.waitForPid1();
  process.kill(running.pid, 'SIGKILL');
  await running.result;
  t.is(read(dir, 'log'), 'up', 'stage1 died before its teardown');
  await teardownPodLeftovers(pod.dir);
  t.is(read(dir, 'log'), 'up\ndown');
  t.is(read(dir, 'down.args'), ` 198.18.${h.third}.2 ${pod.uuid} ${pod.dir}`);
  t.is(read(dir, 'down.env'), HOOK_PATH);
  t.is(read(dir, 'down.stdin'), '/dev/null');
});

/**
 * The command line → PodSpec, with no store and no pod: every pod and app
 * flag lands where the pods library reads it, in both `--flag=value` and
 * `--flag value` forms, repeats accumulate, booleans take bare, =true and
 * =false; and every bad value is a UsageError naming the flag and the value.
 */
import test from 'ava';
import { parseFlagsAndOperands, parsePodArgs, RUN_PREPARED_FLAGS } from '../../runtime/cli/pod-args.js';
import { podCommandLine, runtimeFromFlags } from '../../runtime/cli/pod-spec-args.js';
import { UsageError } from '../../runtime/errors.js';
import { parseInsecureOptions } from '../../runtime/cli/global-options.js';
import { DEFAULT_CAPS } from '../../runtime/pods/capabilities.js';
import { runIsReplayable } from '../../runtime/pods/run-plan.js';

const specOf = (argv: string[]) => podCommandLine(parsePodArgs(argv));

function usageError(t: import('ava').ExecutionContext, argv: string[], message: RegExp): void {
  const err = t.throws(() => specOf(argv), { instanceOf: UsageError }, argv.join(' '));
  t.regex(err?.message ?? '', message);
}

test('a bare image: the defaults of every setting', (t) => {
  const { spec, quiet, uuidFileSave } = specOf(['img']);
  t.deepEqual(spec, {
    apps: [{
      image: 'img', name: undefined, exec: undefined, args: undefined, user: undefined, group: undefined,
      supplementaryGids: [], workingDir: undefined, environment: [], mounts: [], readonlyRootfs: false, limits: {},
      capsRetain: undefined, capsRemove: undefined, seccomp: undefined,
    }],
    volumes: [],
    runtime: { net: 'default', hostname: undefined, dns: [], dnsSearch: [], dnsOpts: [], dnsDomain: undefined, hostsEntries: [], interactive: false },
    env: { files: [], set: [], inherit: false },
    noOverlay: false,
    pull: { policy: 'new' },
  });
  t.false(quiet);
  t.is(uuidFileSave, undefined);
  t.true(runIsReplayable(spec));
});

test('every pod flag, in = and space forms, with repeats', (t) => {
  const { spec, quiet, uuidFileSave } = specOf([
    '--net=host', '--hostname', 'web-1', '--dns=198.18.0.1,198.18.0.2', '--dns', 'fd00::53',
    '--dns-search=a.example', '--dns-search', 'b.example.', '--dns-opt=ndots:2', '--dns-opt', 'rotate', '--dns-domain=a.example',
    '--hosts-entry=198.18.0.5=db', '--hosts-entry', 'fd00::5=db6.example',
    '--volume', 'data,kind=host,source=/srv/data,readOnly=true', '--volume=scratch,kind=empty',
    '--interactive', '--set-env', 'A=1', '--set-env=B=2', '--set-env-file', '/e1', '--set-env-file=/e2',
    '--inherit-env=true', '--pull-policy', 'never', '--no-overlay=false', '--platform=linux/arm64/v8',
    '--quiet', '--uuid-file-save', '/tmp/uuid', 'img',
  ]);
  t.deepEqual(spec.runtime, {
    net: 'host', hostname: 'web-1', dns: ['198.18.0.1', '198.18.0.2', 'fd00::53'],
    dnsSearch: ['a.example', 'b.example.'], dnsOpts: ['ndots:2', 'rotate'], dnsDomain: 'a.example',
    hostsEntries: ['198.18.0.5 db', 'fd00::5 db6.example'], interactive: true,
  });
  t.deepEqual(spec.volumes, [
    { name: 'data', kind: 'host', source: '/srv/data', readOnly: true },
    { name: 'scratch', kind: 'empty', source: '', readOnly: false },
  ]);
  t.deepEqual(spec.env, { files: ['/e1', '/e2'], set: ['A=1', 'B=2'], inherit: true });
  t.false(spec.noOverlay);
  t.deepEqual(spec.pull, { policy: 'never', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  t.true(quiet);
  t.is(uuidFileSave, '/tmp/uuid');
  t.false(runIsReplayable(spec), '--inherit-env and --set-env-file read more than the plan checks');
});

test('every app flag, in = and space forms, with repeats, per app', (t) => {
  const { spec } = specOf([
    '--volume=v,kind=empty', 'one',
    '--exec', '/bin/sh', '--name=first', '--user', 'skiff:wheel', '--supplementary-gids=10,20',
    '--working-dir', '/srv/./app/', '--environment', 'A=1', '--environment=B=2',
    '--mount', 'volume=v,target=/data', '--mount=volume=v,target=/other/../logs/',
    '--readonly-rootfs', '--memory=64Mi', '--cpu', '1.5', '--cpu-shares=512', '--pids-limit', '50',
    '--caps-retain', 'CAP_KILL,net_bind_service', '--seccomp', 'mode=retain,errno=EPERM,read,write', '--', '-c', 'echo hi',
    '---', 'two', '--group', 'wheel', '--user=1000', '--caps-remove=mknod', '--readonly-rootfs=false', '--memory', '1G', '--cpu=500m',
  ]);
  t.deepEqual(spec.apps[0], {
    image: 'one', name: 'first', exec: '/bin/sh', args: ['-c', 'echo hi'], user: 'skiff:wheel', group: undefined,
    supplementaryGids: [10, 20], workingDir: '/srv/app', environment: ['A=1', 'B=2'],
    mounts: [{ volume: 'v', target: '/data' }, { volume: 'v', target: '/logs' }],
    readonlyRootfs: true, limits: { memoryBytes: 64 * 1024 ** 2, cpuMillis: 1500, cpuShares: 512, pidsMax: 50 },
    capsRetain: ['kill', 'net_bind_service'], capsRemove: undefined, seccomp: 'retain\t1\tread,write',
  });
  t.deepEqual(spec.apps[1], {
    image: 'two', name: undefined, exec: undefined, args: undefined, user: '1000', group: 'wheel',
    supplementaryGids: [], workingDir: undefined, environment: [], mounts: [], readonlyRootfs: false,
    limits: { memoryBytes: 1e9, cpuMillis: 500 }, capsRetain: undefined, capsRemove: ['mknod'], seccomp: undefined,
  });
  t.deepEqual(Object.keys(spec.apps[0]?.limits ?? {}), ['memoryBytes', 'cpuMillis', 'cpuShares', 'pidsMax'], 'the manifest\'s key order');
});

test('--insecure-options=seccomp turns every app\'s filter off, and a bad --seccomp is still refused', (t) => {
  const { spec } = podCommandLine(parsePodArgs(['a', '--seccomp=mode=remove,mount', '---', 'b']), { insecureSeccomp: true });
  t.deepEqual(spec.apps.map((a) => a.seccomp), ['none', 'none']);
  t.throws(() => podCommandLine(parsePodArgs(['a', '--seccomp=mode=sometimes,read']), { insecureSeccomp: true }), { instanceOf: UsageError, message: /--seccomp mode "sometimes"/ });
});

test('boolean flags: bare, =true and =false; anything else refused', (t) => {
  t.true(specOf(['--no-overlay', 'img']).spec.noOverlay);
  t.true(specOf(['--no-overlay=true', 'img']).spec.noOverlay);
  t.false(specOf(['--no-overlay=false', 'img']).spec.noOverlay);
  t.false(specOf(['img', '--readonly-rootfs=false']).spec.apps[0]?.readonlyRootfs);
  usageError(t, ['--inherit-env=yes', 'img'], /--inherit-env' is true or false, not "yes"/);
});

test('run-prepared flags: only the given ones override the manifest', (t) => {
  const { flags } = parseFlagsAndOperands(['--hostname=db', 'UUID', '--dns', '1.1.1.1'], RUN_PREPARED_FLAGS);
  // The --dns* flags replace the pod's whole resolver setting: the ones not given are emptied.
  t.deepEqual(runtimeFromFlags(flags), { hostname: 'db', dns: ['1.1.1.1'], dnsSearch: [], dnsOpts: [], dnsDomain: undefined });
  t.deepEqual(runtimeFromFlags(parseFlagsAndOperands(['--dns-search=x.example', 'UUID'], RUN_PREPARED_FLAGS).flags), { dns: [], dnsSearch: ['x.example'], dnsOpts: [], dnsDomain: undefined });
  t.deepEqual(runtimeFromFlags(parseFlagsAndOperands(['UUID'], RUN_PREPARED_FLAGS).flags), {});
  t.deepEqual(runtimeFromFlags(parseFlagsAndOperands(['--interactive=false', '--net=host'], RUN_PREPARED_FLAGS).flags), { net: 'host', interactive: false });
  t.throws(() => runtimeFromFlags(parseFlagsAndOperands(['--hostname=a b'], RUN_PREPARED_FLAGS).flags), { instanceOf: UsageError });
});

test('caps: retain and remove normalised; both at once refused', (t) => {
  t.deepEqual(specOf(['img', '--caps-remove', 'CAP_MKNOD,']).spec.apps[0]?.capsRemove, ['mknod']);
  t.is(DEFAULT_CAPS.length, 14);
  usageError(t, ['img', '--caps-retain=kill', '--caps-remove=mknod'], /exclude each other/);
  usageError(t, ['img', '--caps-retain=cap_bogus'], /unknown capability "cap_bogus"/);
});

// Audit item 13: bounds and units at parse time, naming the flag and the value.
const badLimits: Array<[string[], RegExp]> = [
  [['--memory', '4096'], /^--memory 4096 is below 4Mi: .*killed at start/],
  [['--memory', '1Mi'], /^--memory 1Mi is below 4Mi/],
  [['--memory', '99999999T'], /^--memory 99999999T is more than the largest memory limit/],
  [['--memory', '64X'], /^--memory "64X" is not a memory size/],
  [['--cpu', '5m'], /^--cpu 5m is below 10m: the kernel's smallest CPU quota is 1 ms per 100 ms period/],
  [['--cpu', '0.001'], /^--cpu 0.001 is below 10m/],
  [['--cpu', '99999999999'], /^--cpu 99999999999 is more than 1000000 CPUs/],
  [['--pids-limit', '1'], /^--pids-limit 1 leaves the app no process: the pod's init is one of them/],
  [['--pids-limit', '0'], /^--pids-limit 0 leaves the app no process/],
  [['--pids-limit', '99999999'], /^--pids-limit "99999999" is not a whole number from 2 to 4194304/],
  [['--cpu-shares', '1'], /^--cpu-shares "1" is not a whole number from 2 to 262144/],
];
for (const [flags, message] of badLimits) {
  test(`refused at parse time: ${flags.join(' ')}`, (t) => usageError(t, ['img', ...flags], message));
}

test('the smallest accepted limits', (t) => {
  const { spec } = specOf(['img', '--memory', '4Mi', '--cpu', '10m', '--pids-limit', '2']);
  t.deepEqual(spec.apps[0]?.limits, { memoryBytes: 4 * 1024 ** 2, cpuMillis: 10, pidsMax: 2 });
});

test('the pod\'s limits are the sums over its apps, and must fit too', (t) => {
  usageError(t, ['a', '--pids-limit', '4000000', '---', 'b', '--pids-limit', '4000000'], /^--pids-limit for the pod \(the sum over its apps\) comes to 8000000/);
  t.notThrows(() => specOf(['a', '--pids-limit', '2000000', '---', 'b', '--pids-limit', '2000000']));
});

// Audit item 13 (--user) and 10 (--user 4294967295): the form and the id range.
test('users and groups: the form and the id range', (t) => {
  usageError(t, ['img', '--user', '0:0:0'], /^--user "0:0:0" is not NAME\|UID\[:GROUP\|GID\]/);
  usageError(t, ['img', '--user', '4294967295'], /^--user "4294967295": 4294967295 is above 4294967294/);
  usageError(t, ['img', '--user', '0:4294967295'], /above 4294967294/);
  usageError(t, ['img', '--group', 'a:b'], /^--group "a:b" is not NAME\|GID/);
  usageError(t, ['img', '--group', '4294967295'], /above 4294967294/);
  usageError(t, ['img', '--supplementary-gids', '1,4294967295'], /--supplementary-gids "4294967295"/);
  t.is(specOf(['img', '--user', '4294967294:0']).spec.apps[0]?.user, '4294967294:0');
});

// Audit item 12: nothing that could add a line to /etc/hosts or /etc/hostname.
const badNames: Array<[string[], RegExp]> = [
  [['--hosts-entry', '1.2.3.4=a\n6.6.6.6 evil'], /^--hosts-entry "1.2.3.4=a\\n6.6.6.6 evil": the host name has a label "a\\n6"/],
  [['--hosts-entry', 'not-an-ip=db'], /"not-an-ip" is not an IPv4 or IPv6 address/],
  [['--hosts-entry', '1.2.3.4=two names'], /the host name has a label "two names"/],
  [['--hosts-entry', '1.2.3.4='], /the host name is empty/],
  [['--hosts-entry', '1.2.3.4'], /is not IP=HOSTNAME/],
  [['--hosts-entry', '1.2.3.4=-db'], /label "-db"/],
  [['--hostname', 'a\nb'], /^--hostname "a\\nb" has a label/],
  [['--hostname', 'a b'], /^--hostname "a b" has a label/],
  [['--hostname', 'a;reboot'], /^--hostname "a;reboot" has a label/],
  [['--hostname', ''], /^--hostname "" is empty/],
  [['--hostname', 'a'.repeat(65)], /is longer than 64 characters/],
  [['--hostname', `${'a'.repeat(63)}.bc`], /is longer than 64 characters/],
  [['--hostname', 'a'.repeat(64)], /has a label longer than 63 characters/],
  [['--hostname', 'a..b'], /has an empty label/],
  [['--dns', '1.2.3.4.5'], /^--dns "1.2.3.4.5" is not an IP address/],
  [['--dns', '8.8.8.8\nnameserver 6.6.6.6'], /^--dns "8.8.8.8\\nnameserver 6.6.6.6" is not an IP address/],
  [['--dns', 'hosts'], /^--dns "hosts" is not an IP address, host or none/],
  [['--dns', 'host,198.18.0.1'], /^--dns=host stands alone: it cannot be combined with --dns=198\.18\.0\.1/],
  [['--dns', 'none', '--dns', 'host'], /^--dns=none stands alone/],
  [['--dns=host', '--dns-search', 'a.example'], /^--dns=host keeps a resolv.conf Skiff does not write: --dns-search cannot go with it/],
  [['--dns=none', '--dns-opt', 'ndots:1', '--dns-domain', 'x'], /^--dns=none keeps a resolv.conf Skiff does not write: --dns-opt, --dns-domain cannot/],
  [['--dns-search', 'a example'], /^--dns-search "a example" has a label "a example"/],
  [['--dns-search', 'a.example\nnameserver 6.6.6.6'], /^--dns-search "a.example\\nnameserver 6.6.6.6" has a label/],
  [['--dns-domain', ''], /^--dns-domain "" is empty/],
  [['--dns-opt', 'ndots:2 rotate'], /^--dns-opt "ndots:2 rotate" is not a resolv.conf option/],
  [['--dns-opt', 'ndots:'], /^--dns-opt "ndots:" is not a resolv.conf option/],
];
for (const [flags, message] of badNames) {
  test(`refused at parse time: ${JSON.stringify(flags)}`, (t) => usageError(t, [...flags, 'img'], message));
}

test('host names RFC 1123 accepts', (t) => {
  const longest = `${'a'.repeat(62)}.b`;
  const { spec } = specOf(['--hostname', longest, '--hosts-entry', `::1=${'a'.repeat(63)}.example`, '--hosts-entry=198.18.0.1=1db.Example-2', 'img']);
  t.is(spec.runtime.hostname, longest, '64 characters, the kernel\'s most');
  t.deepEqual(spec.runtime.hostsEntries, [`::1 ${'a'.repeat(63)}.example`, '198.18.0.1 1db.Example-2']);
});

// Audit item 14: mount targets normalised and confined.
const badTargets: Array<[string, RegExp]> = [
  ['/..', /target \/ is the pod's root/],
  ['/', /target \/ is the pod's root/],
  ['/tmp/../..', /target \/ is the pod's root/],
  ['//', /target \/ is the pod's root/],
  ['/proc', /target \/proc is in \/proc/],
  ['/proc/', /target \/proc is in \/proc/],
  ['/x/../proc', /target \/proc is in \/proc/],
  ['/proc/sys', /target \/proc\/sys is in \/proc/],
  ['/proc/self/../1/root', /target \/proc\/1\/root is in \/proc/],
  ['/sys', /target \/sys would replace the pod's \/sys/],
  ['/./sys/.', /target \/sys would replace/],
  ['/dev', /target \/dev would replace the pod's \/dev/],
  ['relative', /needs volume=NAME,target=\/absolute\/path/],
];
for (const [target, message] of badTargets) {
  test(`--mount target=${target} is refused`, (t) => usageError(t, ['--volume=v,kind=empty', 'img', '--mount', `volume=v,target=${target}`], message));
}

test('mount targets next to the refused ones are fine, normalised', (t) => {
  const mounts = (target: string) => specOf(['--volume=v,kind=empty', 'img', '--mount', `volume=v,target=${target}`]).spec.apps[0]?.mounts;
  t.deepEqual(mounts('/data/'), [{ volume: 'v', target: '/data' }]);
  t.deepEqual(mounts('/procfs'), [{ volume: 'v', target: '/procfs' }]);
  t.deepEqual(mounts('/dev/shm/x/..'), [{ volume: 'v', target: '/dev/shm' }]);
  t.deepEqual(mounts('/sys/fs/x'), [{ volume: 'v', target: '/sys/fs/x' }]);
  t.deepEqual(mounts('/proc/meminfo'), [{ volume: 'v', target: '/proc/meminfo' }], 'lxcfs-style binds, as runc allows');
});

// Audit item 10: what used to reach stage1's config check.
test('a volume given twice, a mount of no volume, --interactive with two apps', (t) => {
  usageError(t, ['--volume', 'v,kind=empty', '--volume=v,kind=host,source=/x', 'img'], /^--volume v is given twice/);
  usageError(t, ['img', '--mount', 'volume=nope,target=/data'], /--mount names volume "nope", which no --volume defines/);
  usageError(t, ['--interactive', 'a', '---', 'b'], /--interactive needs a pod with one app/);
});

test('other app values checked at parse time', (t) => {
  usageError(t, ['img', '--working-dir', 'relative'], /^--working-dir "relative" is not an absolute path/);
  usageError(t, ['img', '--exec', ''], /^--exec "" names no program/);
  usageError(t, ['img', '--name', 'Web'], /app name "Web" must be lowercase/);
  // stage1 takes app names as file names (NAME_MAX): a longer one would fail only after the pod dir was made.
  usageError(t, ['img', '--name', 'a'.repeat(256)], /app name "a+" must be .*at most 255/);
  t.notThrows(() => specOf(['img', '--name', 'a'.repeat(255)]));
  usageError(t, ['--volume', `${'v'.repeat(256)},kind=empty`, 'img'], /does not start with a volume name/);
  usageError(t, ['img', '--environment', 'NOEQUALS'], /environment entry "NOEQUALS" is not KEY=VALUE/);
  usageError(t, ['--set-env', '=x', 'img'], /environment entry "=x" is not KEY=VALUE/);
  usageError(t, ['--net=default,default', 'img'], /--net: network "default" is given twice/);
  usageError(t, ['--net=default:MAC=1', 'img'], /"MAC=1" is not IP=ADDRESS/);
  usageError(t, ['--pull-policy=sometimes', 'img'], /--pull-policy "sometimes" is not new, update or never/);
  t.is(specOf(['img', '--working-dir=/a/b/../c/']).spec.apps[0]?.workingDir, '/a/c');
});

test('--insecure-options=paths drops the masked and read-only paths; the default keeps them', (t) => {
  t.is(specOf(['img']).spec.runtime.insecurePaths, undefined);
  const { spec } = podCommandLine(parsePodArgs(['img']), { insecurePaths: true });
  t.true(spec.runtime.insecurePaths);
  t.deepEqual([...parseInsecureOptions('paths')], ['paths']);
  t.true(parseInsecureOptions('all-run').has('paths'));
  t.true(parseInsecureOptions('all').has('paths'));
  t.false(parseInsecureOptions('all-fetch').has('paths'));
});

test('--cgroup-parent: from the hierarchy root, normalised; no ., .., root or control characters (exit 2)', (t) => {
  t.is(specOf(['img']).spec.runtime.cgroupParent, undefined);
  t.is(specOf(['--cgroup-parent=/machine.slice/web', 'img']).spec.runtime.cgroupParent, '/machine.slice/web');
  t.is(specOf(['--cgroup-parent', 'a//b/', 'img']).spec.runtime.cgroupParent, '/a/b');
  usageError(t, ['--cgroup-parent=/a/../b', 'img'], /--cgroup-parent "\/a\/..\/b" has a bad component ".."/);
  usageError(t, ['--cgroup-parent=./a', 'img'], /bad component "."/);
  usageError(t, ['--cgroup-parent=/', 'img'], /names no cgroup below the root/);
  usageError(t, ['--cgroup-parent=', 'img'], /names no cgroup below the root/);
  usageError(t, ['--cgroup-parent=/a\tb', 'img'], /bad component/);
  t.false('cgroup-parent' in RUN_PREPARED_FLAGS, 'fixed when the pod is prepared');
});

test('--sd-notify: pod (the default, nothing recorded) or app; anything else exit 2', (t) => {
  t.is(specOf(['img']).spec.runtime.sdNotify, undefined);
  t.is(specOf(['--sd-notify=pod', 'img']).spec.runtime.sdNotify, undefined);
  t.is(specOf(['--sd-notify', 'app', 'img']).spec.runtime.sdNotify, 'app');
  usageError(t, ['--sd-notify=yes', 'img'], /--sd-notify "yes" is not pod or app/);
});

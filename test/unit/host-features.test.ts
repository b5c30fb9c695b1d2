import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { detectCgroups, detectHostFeatures, detectOverlayfs } from '../../runtime/host-features.js';

function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'skiff-fakeroot-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const line = (id: number, mp: string, fstype: string, superOpts: string): string =>
  `${id} 1 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - ${fstype} ${fstype} ${superOpts}`;

test('hybrid host: v1 controllers, cpu and cpuacct apart, an empty cgroup2', (t) => {
  const root = fakeRoot({
    'proc/self/mountinfo': [
      line(30, '/sys/fs/cgroup', 'tmpfs', 'rw,mode=755'),
      line(31, '/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu'),
      line(32, '/sys/fs/cgroup/cpuacct', 'cgroup', 'rw,cpuacct'),
      line(33, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
      line(34, '/sys/fs/cgroup/systemd', 'cgroup', 'rw,xattr,name=systemd'),
      line(35, '/sys/fs/cgroup/unified', 'cgroup2', 'rw'),
    ].join('\n'),
    'sys/fs/cgroup/unified/cgroup.controllers': 'hugetlb\n',
  });
  t.teardown(() => rmSync(root, { recursive: true }));
  const cg = detectCgroups(root);
  t.is(cg.mode, 'hybrid');
  t.deepEqual(cg.v1, {
    cpu: '/sys/fs/cgroup/cpu',
    cpuacct: '/sys/fs/cgroup/cpuacct',
    memory: '/sys/fs/cgroup/memory',
    'name=systemd': '/sys/fs/cgroup/systemd',
  });
  t.deepEqual(cg.v2, { mount: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] });
});

test('unified host: cgroup2 only', (t) => {
  const root = fakeRoot({
    'proc/self/mountinfo': line(30, '/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate'),
    'sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n',
  });
  t.teardown(() => rmSync(root, { recursive: true }));
  const cg = detectCgroups(root);
  t.is(cg.mode, 'v2');
  t.deepEqual(cg.v2?.controllers, ['cpuset', 'cpu', 'io', 'memory', 'pids']);
});

test('co-mounted v1 controllers (cpu,cpuacct) map to one mount point', (t) => {
  const root = fakeRoot({ 'proc/self/mountinfo': line(31, '/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'rw,cpu,cpuacct') });
  t.teardown(() => rmSync(root, { recursive: true }));
  const cg = detectCgroups(root);
  t.is(cg.mode, 'v1');
  t.is(cg.v1['cpu'], '/sys/fs/cgroup/cpu,cpuacct');
  t.is(cg.v1['cpuacct'], '/sys/fs/cgroup/cpu,cpuacct');
});

test('overlayfs: registered, loadable module, or missing', (t) => {
  const registered = fakeRoot({ 'proc/filesystems': 'nodev\tsysfs\nnodev\toverlay\n' });
  const module = fakeRoot({ 'proc/filesystems': 'nodev\tsysfs\n', 'lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko': '' });
  const missing = fakeRoot({ 'proc/filesystems': 'nodev\tsysfs\n' });
  t.teardown(() => [registered, module, missing].forEach((r) => rmSync(r, { recursive: true })));
  t.is(detectOverlayfs(registered), 'available');
  t.is(detectOverlayfs(module, '6.1.0'), 'module');
  t.is(detectOverlayfs(missing, '6.1.0'), 'missing');
});

test('user namespaces off when max_user_namespaces is 0', (t) => {
  const root = fakeRoot({ 'proc/self/ns/user': '', 'proc/sys/user/max_user_namespaces': '0\n' });
  t.teardown(() => rmSync(root, { recursive: true }));
  t.false(detectHostFeatures(root).userNamespaces);
  writeFileSync(join(root, 'proc/sys/user/max_user_namespaces'), '1000\n');
  t.true(detectHostFeatures(root).userNamespaces);
});

/**
 * The devices a pod may use: Docker's default allow-list, as v1
 * devices.allow lines. Everything else is denied, mknod of any node is
 * allowed (as Docker: a node can be made, e.g. by a package's post-install,
 * but not opened unless it is in the list).
 *
 * One list, two enforcers: the v1 driver writes it into the pod's devices
 * cgroup (`devices.deny a`, then one `devices.allow` per line), and stage0
 * sends it to stage1 as `device-allow` keys, which stage1 turns into a BPF
 * device program on the pod's cgroup2 dir (cgroup v2 has no devices
 * controller; native/stage1/devices.c). The pod's /dev, its root and its volumes are
 * also nodev (stage1), so a node only opens from stage1's own /dev entries.
 */
export const DEFAULT_DEVICE_RULES: readonly string[] = [
  'c *:* m', // mknod of any char device (not its use)
  'b *:* m', // mknod of any block device (not its use)
  'c 1:3 rwm', // /dev/null
  'c 1:5 rwm', // /dev/zero
  'c 1:7 rwm', // /dev/full
  'c 1:8 rwm', // /dev/random
  'c 1:9 rwm', // /dev/urandom
  'c 5:0 rwm', // /dev/tty
  'c 5:1 rwm', // /dev/console
  'c 5:2 rwm', // /dev/ptmx
  'c 136:* rwm', // /dev/pts/N
];

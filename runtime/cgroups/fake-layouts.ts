/**
 * Cgroup layouts for the fake cgroupfs, as detectCgroups() reports them.
 */
/** Layouts for tests: this host (hybrid, cpu and cpuacct apart), a co-mounted v1 one, and pure v2. */
export const fakeLayouts = {
  hybrid: {
    v1: {
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      devices: '/sys/fs/cgroup/devices',
      freezer: '/sys/fs/cgroup/freezer',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
      'name=systemd': '/sys/fs/cgroup/systemd',
    },
    v2: { mount: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] },
  },
  coMounted: {
    v1: {
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      pids: '/sys/fs/cgroup/pids',
      'name=systemd': '/sys/fs/cgroup/systemd',
    },
    v2: null,
  },
  v2: {
    v1: {},
    v2: { mount: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'] },
  },
} satisfies Record<string, { v1: Record<string, string>; v2: { mount: string; controllers: string[] } | null }>;

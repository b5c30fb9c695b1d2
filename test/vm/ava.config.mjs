// ava's config inside the VM tier's guest (test/vm/run-tier.sh passes it with --config):
// the one-VM subset (pair/ runs in two VMs, ava.pair.config.mjs). The project is
// mounted read-only there, so no cache; worker
// threads, so the test files cost no Node start each (~2 s in the emulated guest).
export default {
  files: ['dist/test/vm/*.test.js', 'dist/test/integration/cgroups-v2.test.js'],
  cache: false,
  timeout: '5m',
  concurrency: 2,
  workerThreads: false,
};

// ava's config inside each VM of the pair (test/vm/run-pair.sh): the two-machine overlay
// check only, one file, the same in both VMs (SKIFF_VM_PAIR_ROLE says which side). The
// timeout is ava's silence between results: a test waits for the other VM, whose every
// Node start is ~2-7 s under emulation.
export default {
  files: ['dist/test/vm/pair/**/*.test.js'],
  cache: false,
  timeout: '8m',
  concurrency: 1,
  workerThreads: false,
};

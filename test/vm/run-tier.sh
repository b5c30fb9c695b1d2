#!/usr/bin/env bash
# The VM test tier (`npm run test:vm`, run by .ci/run after the main suite): builds
# or reuses the Debian 12 VM image (build-image.sh), boots it (run-vm.sh) and runs
# the tests that need a pure cgroup v2 host with systemd (ava.config.mjs lists
# them) with the host's build (dist/, native/build/, the probe) shared read-only.
# Prints ava's lines (✔/✘, which .ci/run counts) and `vm: N passed, N failed`.
# Exits non-zero when a test failed or was skipped, or when the VM gave no result:
# a tier that could not run never passes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

fail_tier() {
  # An ava-style failure line so .ci/run's count includes it.
  echo "  ✘ [vm] $*"
  echo "vm: 0 passed, 1 failed"
  exit 1
}

[ "$(id -u)" = 0 ] || fail_tier "the VM tier needs root (debootstrap, qemu's 9p shares of root-owned files)"
[ -x native/build/skiff ] && [ -f dist/runtime/cli/main.js ] || fail_tier "build first: npm run build"
# The probe is built on the host: the guest has no compiler and sees the project read-only.
node --input-type=module -e "await (await import('./dist/test/support/probe-binary.js')).probeBinary()" \
  || fail_tier "cannot build the test probe (test/fixtures/probe)"

t0=$(date +%s)
image=$(bash "$here/build-image.sh") || fail_tier "the VM image could not be built (output above)"
t1=$(date +%s)
echo "vm: image ready in $(( t1 - t0 )) s ($image)"

results=$(mktemp -d "${TMPDIR:-/tmp}/skiff-vm-results.XXXXXX")
trap 'rm -rf "$results"' EXIT
cat > "$results/command" <<'CMD'
node node_modules/ava/entrypoints/cli.mjs --config test/vm/ava.config.mjs
CMD

set +e
bash "$here/run-vm.sh" "$image" "$results"
status=$?
set -e
t2=$(date +%s)

[ -f "$results/boot.txt" ] && sed 's/^/vm: /' "$results/boot.txt"
[ -f "$results/output.log" ] && cat "$results/output.log"
log=$results/output.log
[ -f "$log" ] || fail_tier "the VM gave no test output (run-vm.sh exited $status)"
passed=$(grep -c '^ *✔' "$log" || true)
failed=$(grep -c '^ *✘' "$log" || true)
skipped=$(grep -c '^ *- \[skip\]' "$log" || true)
echo "vm: image $(( t1 - t0 )) s, boot + tests $(( t2 - t1 )) s"
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  echo "  ✘ [vm] the test command exited $status without a failed test (see the output above)"
  failed=1
fi
if [ "$skipped" != 0 ]; then
  # In the VM every test of the tier can run: a skip means the guest is not what the tests need.
  echo "  ✘ [vm] $skipped test(s) skipped in the VM, which is a pure cgroup v2 host with systemd"
  failed=$(( failed + 1 ))
fi
if [ "$passed" = 0 ]; then
  echo "  ✘ [vm] no test passed in the VM"
  failed=$(( failed + 1 ))
fi
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# The VM test tier (`npm run test:vm`, run by .ci/run after the main suite): builds
# or reuses the Debian 12 VM image (build-image.sh), boots it (run-vm.sh) and runs
# the tests that need a pure cgroup v2 host with systemd (ava.config.mjs lists
# them) with the host's build (dist/, native/build/, the probe) shared read-only;
# then boots two VMs of it on one virtual link (run-pair.sh) for the overlay's
# two-machine check (pair/, ava.pair.config.mjs).
# Prints ava's lines (✔/✘, which .ci/run counts; the pair's marked [vm a], [vm b])
# and `vm: N passed, N failed`. Exits non-zero when a test failed or was skipped,
# or when a VM gave no result: a tier that could not run never passes.
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
mkdir "$results/one" "$results/pair"
cat > "$results/one/command" <<'CMD'
node node_modules/ava/entrypoints/cli.mjs --config test/vm/ava.config.mjs
CMD

set +e
bash "$here/run-vm.sh" "$image" "$results/one"
status_one=$?
t2=$(date +%s)
bash "$here/run-pair.sh" "$image" "$results/pair"
status_pair=$?
set -e
t3=$(date +%s)

passed=0
failed=0
# tally LABEL RESULTS_DIR STATUS: prints a VM's boot facts and test output (its ✔/✘ lines
# marked with LABEL when given), and adds its counts; a VM without output, a non-zero
# status without a failed test, or a skip there counts as a failure.
tally() {
  local label=$1 dir=$2 status=$3 log=$2/output.log mark=
  [ -n "$label" ] && mark=" [$label]"
  [ -f "$dir/boot.txt" ] && sed "s/^/${label:-vm}: /" "$dir/boot.txt"
  if [ ! -f "$log" ]; then
    echo "  ✘ [${label:-vm}] the VM gave no test output (run-vm.sh exited $status)"
    failed=$(( failed + 1 ))
    return
  fi
  sed "s/^\( *\)\(✔\|✘\) /\1\2${mark} /" "$log"
  local p f s
  p=$(grep -c '^ *✔' "$log" || true)
  f=$(grep -c '^ *✘' "$log" || true)
  s=$(grep -c '^ *- \[skip\]' "$log" || true)
  if [ "$status" != 0 ] && [ "$f" = 0 ]; then
    echo "  ✘ [${label:-vm}] the test command exited $status without a failed test (see the output above)"
    f=1
  fi
  if [ "$s" != 0 ]; then
    # In the VM every test of the tier can run: a skip means the guest is not what the tests need.
    echo "  ✘ [${label:-vm}] $s test(s) skipped in the VM, which is a pure cgroup v2 host with systemd"
    f=$(( f + 1 ))
  fi
  if [ "$p" = 0 ]; then
    echo "  ✘ [${label:-vm}] no test passed in the VM"
    f=$(( f + 1 ))
  fi
  passed=$(( passed + p ))
  failed=$(( failed + f ))
}
tally "" "$results/one" "$status_one"
# The pair's status is both VMs' (run-pair.sh); each VM's own is in its results.
for role in a b; do
  tally "vm $role" "$results/pair/$role" "$(cat "$results/pair/$role/status" 2>/dev/null || echo "$status_pair")"
done
echo "vm: image $(( t1 - t0 )) s, one VM (boot + tests) $(( t2 - t1 )) s, the pair $(( t3 - t2 )) s"
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ]

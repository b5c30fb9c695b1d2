#!/usr/bin/env bash
# Boots two VMs of the image build-image.sh made, joined by one virtual link, and
# runs the overlay's two-machine check in both (test/vm/pair/, ava.pair.config.mjs):
#   run-pair.sh IMAGE_DIR RESULTS_DIR
# RESULTS_DIR gets a/ and b/, each VM's results as run-vm.sh leaves them (output.log,
# status, boot.txt), and exchange/, a writable share both VMs mount at
# /run/skiff-pair: the tests leave markers there for each other, and this script
# writes ended-a / ended-b when a VM is gone, so the other stops waiting for it.
# Exits 0 when both VMs' commands exited 0, else non-zero.
#
# The link is qemu's socket backend on loopback: VM a listens on a free port of
# 127.0.0.1, VM b connects to it; the frames go from qemu to qemu, never through a
# network device of this host. Distinct MACs here, distinct machine-ids from
# run-vm.sh's -uuid (qemu-vm.md: clones sharing one give their vxlan devices the
# same MAC). One vCPU each: both run at once on a 2-core host. Each VM is a
# run-vm.sh, stopped by its PID (SIGTERM; it kills its own qemu) on failure or
# interrupt.
#
# Env: SKIFF_VM_PAIR_TIMEOUT (s per VM, default 540), SKIFF_VM_PAIR_MEMORY (MB per VM,
# default 1536).
set -euo pipefail

image=${1:?usage: run-pair.sh IMAGE_DIR RESULTS_DIR}
results=$(cd "${2:?usage: run-pair.sh IMAGE_DIR RESULTS_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
exchange=$results/exchange
mkdir -p "$results/a" "$results/b" "$exchange"
say() { echo "vm-pair: $*" >&2; }

for role in a b; do
  # The same test file in both VMs; the role says which side it plays (pair/pair-vm.ts).
  cat > "$results/$role/command" <<CMD
export SKIFF_VM_PAIR_ROLE=$role SKIFF_VM_PAIR_DIR=/run/skiff-pair
node node_modules/ava/entrypoints/cli.mjs --config test/vm/ava.pair.config.mjs
CMD
done

declare -A pids=()
stop_vms() {
  for role in "${!pids[@]}"; do kill -TERM "${pids[$role]}" 2>/dev/null || true; done
  for role in "${!pids[@]}"; do wait "${pids[$role]}" 2>/dev/null || true; done
}
trap stop_vms EXIT
trap 'exit 130' INT TERM

start_vm() { # ROLE NETDEV MAC
  SKIFF_VM_NAME=vm-$1 SKIFF_VM_NETDEV=$2 SKIFF_VM_MAC=$3 SKIFF_VM_SHARE="$exchange:/run/skiff-pair" \
    SKIFF_VM_CPUS=1 SKIFF_VM_MEMORY=${SKIFF_VM_PAIR_MEMORY:-1536} SKIFF_VM_TIMEOUT=${SKIFF_VM_PAIR_TIMEOUT:-540} \
    bash "$here/run-vm.sh" "$image" "$results/$1" &
  pids[$1]=$!
}

# A qemu listens on the port (ours: the port was free when chosen, and VM a's qemu is gone otherwise).
listening() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -q '"qemu-system'; }

# VM a listens first (b's qemu gives up at once on a refused connect). A port that was
# free when chosen may be taken before qemu binds it: then a's qemu exits, and a new
# port is tried.
for try in 1 2 3; do
  port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
  start_vm a "socket,listen=127.0.0.1:$port" 52:54:00:5e:19:01
  deadline=$(( $(date +%s) + 60 ))
  until listening "$port" || ! kill -0 "${pids[a]}" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; do sleep 0.2; done
  listening "$port" && break
  kill -TERM "${pids[a]}" 2>/dev/null || true
  wait "${pids[a]}" 2>/dev/null || true
  unset 'pids[a]'
  say "VM a's qemu did not listen on 127.0.0.1:$port (try $try)"
done
[ -n "${pids[a]:-}" ] || { say "VM a could not be started"; exit 125; }
start_vm b "socket,connect=127.0.0.1:$port" 52:54:00:5e:19:02
say "VMs a (pid ${pids[a]}) and b (pid ${pids[b]}) linked through 127.0.0.1:$port"

# Each VM's end is written to the exchange as it comes, for the other VM's waits.
status=0
while [ "${#pids[@]}" -gt 0 ]; do
  set +e
  wait -n -p ended "${pids[@]}"
  code=$?
  set -e
  for role in "${!pids[@]}"; do
    if [ "${pids[$role]}" = "$ended" ]; then
      echo "$code" > "$exchange/ended-$role"
      say "VM $role ended: $code"
      unset "pids[$role]"
    fi
  done
  [ "$code" = 0 ] || status=$code
done
exit "$status"

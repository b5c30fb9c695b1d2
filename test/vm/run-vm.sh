#!/usr/bin/env bash
# Boots one VM from the image build-image.sh made and runs a test command in it:
#   run-vm.sh IMAGE_DIR RESULTS_DIR
# RESULTS_DIR must hold `command` (a bash script, run as root in the guest with the
# project as cwd); the VM writes output.log, status and boot.txt there. The project
# (and node_modules, when it lives elsewhere) is shared read-only over 9p at its
# host path. Exits with the command's status, or 125 when the VM gave none (no
# qemu, a boot failure, the timeout): never 0 without a result.
#
# No network device at all (-nodefaults) unless SKIFF_VM_NETDEV names one: the
# guest reaches nothing. Each run boots a throwaway qcow2 overlay over the cached
# image; the overlay and qemu (by PID) are gone when this script ends, also on
# failure or interrupt (SIGTERM this script, never qemu: run-pair.sh does so).
#
# Env: SKIFF_VM_TIMEOUT (s, default 600), SKIFF_VM_MEMORY (MB, default 2048),
# SKIFF_VM_CPUS (default: the host's, at most 2), SKIFF_VM_NAME (the console's and
# messages' prefix, default vm). For the pair (run-pair.sh): SKIFF_VM_NETDEV, a
# qemu socket backend (socket,listen=127.0.0.1:PORT or socket,connect=...) for one
# virtio NIC, eth0 in the guest, with the MAC SKIFF_VM_MAC; SKIFF_VM_SHARE,
# HOSTDIR:GUESTDIR, one more writable share.
set -euo pipefail

image=${1:?usage: run-vm.sh IMAGE_DIR RESULTS_DIR}
results=$(cd "${2:?usage: run-vm.sh IMAGE_DIR RESULTS_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
timeout_s=${SKIFF_VM_TIMEOUT:-600}
memory=${SKIFF_VM_MEMORY:-2048}
cpus=${SKIFF_VM_CPUS:-$(( $(nproc) < 2 ? $(nproc) : 2 ))}
name=${SKIFF_VM_NAME:-vm}

say() { echo "$name: $*" >&2; }
for tool in qemu-system-x86_64 qemu-img timeout; do
  command -v "$tool" >/dev/null || { say "$tool missing: apt-get install qemu-system-x86 qemu-utils (.ci/install-deps)"; exit 125; }
done
[ -f "$results/command" ] || { say "no $results/command"; exit 125; }

work=$(mktemp -d "${TMPDIR:-/tmp}/skiff-vm.XXXXXX")
qemu_pid=
tail_pid=
cleanup() {
  # Every step, whatever the one before returned (a killed child's wait is non-zero: under set -e
  # that ended the cleanup before the overlay's removal).
  set +e
  # qemu by the PID it wrote, then timeout (which does not pass SIGKILL on).
  [ -s "$work/qemu.pid" ] && kill -KILL "$(cat "$work/qemu.pid")" 2>/dev/null
  [ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null && wait "$tail_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

qemu-img create -q -f qcow2 -b "$image/rootfs.img" -F raw "$work/overlay.qcow2"

# The shares: the results dir (rw), the project at its host path (ro), and
# node_modules at its real path when it is a symlink out of the project (worktrees).
cp "$here/guest-run.sh" "$results/guest-run.sh"
rm -f "$results/status" "$results/output.log" "$results/boot.txt"
shares=(-virtfs "local,path=$results,mount_tag=results,security_model=none,id=results")
echo "project $project ro" > "$results/mounts"
shares+=(-virtfs "local,path=$project,mount_tag=project,security_model=none,readonly=on,id=project")
modules=$(readlink -f "$project/node_modules" || true)
if [ -n "$modules" ] && [ "${modules#"$project"/}" = "$modules" ]; then
  echo "modules $modules ro" >> "$results/mounts"
  shares+=(-virtfs "local,path=$modules,mount_tag=modules,security_model=none,readonly=on,id=modules")
fi
if [ -n "${SKIFF_VM_SHARE:-}" ]; then
  echo "share ${SKIFF_VM_SHARE#*:} rw" >> "$results/mounts"
  shares+=(-virtfs "local,path=${SKIFF_VM_SHARE%%:*},mount_tag=share,security_model=none,id=share")
fi
nic=()
if [ -n "${SKIFF_VM_NETDEV:-}" ]; then
  nic=(-netdev "$SKIFF_VM_NETDEV,id=u0" -device "virtio-net-pci,netdev=u0,mac=${SKIFF_VM_MAC:?SKIFF_VM_NETDEV needs SKIFF_VM_MAC}")
fi

: > "$work/console.log"
started=$(date +%s)
# timeout: the safety net if the guest never powers off.
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
  -nodefaults -no-user-config -accel tcg,tb-size=256 -cpu max -m "$memory" -smp "$cpus" \
  -display none -monitor none -serial "file:$work/console.log" -no-reboot -pidfile "$work/qemu.pid" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=error panic=-1 net.ifnames=0 skiff.results=results" \
  -drive "file=$work/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" \
  -device virtio-rng-pci -uuid "$(cat /proc/sys/kernel/random/uuid)" \
  "${shares[@]}" "${nic[@]}" &
qemu_pid=$!
tail -n +1 -F --pid="$qemu_pid" "$work/console.log" 2>/dev/null | sed -u "s/^/  $name| /" >&2 &
tail_pid=$!

# Peak memory of qemu (timeout's child), sampled while it runs.
peak_kb=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  child=$(cat "$work/qemu.pid" 2>/dev/null || true)
  if [ -n "$child" ]; then
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$child/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak_kb" ] && peak_kb=$hwm
  fi
  sleep 1
done
set +e
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
tail_pid=
say "VM ran $(( $(date +%s) - started )) s (boot, tests, power-off); qemu peak RSS $(( peak_kb / 1024 )) MB"

if [ ! -f "$results/status" ]; then
  [ "$qemu_status" = 124 ] && say "timed out after ${timeout_s} s (SKIFF_VM_TIMEOUT)"
  say "the VM ended without a test status (qemu exit $qemu_status): see its console above"
  exit 125
fi
exit "$(cat "$results/status")"

#!/bin/bash
# Runs inside the VM, started by the image's skiff-vm-test (guest/) with the
# mounted results share as $1: mounts the shares the host listed, runs the
# host's command as root, and leaves its output (also on ttyS0) and exit
# status on the results share. The host copies this file to the share on
# every run.
#
# The results share holds, from the host:
#   mounts   lines "TAG PATH ro|rw": 9p shares to mount at PATH (the project
#            at its host path first, node_modules if it lives elsewhere)
#   command  a bash script, run with the first mount's PATH as cwd
# and gets: output.log, status (the command's exit code), boot.txt.
set -uo pipefail

results=$1
console=/dev/ttyS0
say() { echo "skiff-vm: $*" | tee "$console" >&2; }

mount9p() { # TAG PATH ro|rw
  mkdir -p "$2"
  # cache=loose for read-only shares: Node stats and reads thousands of files, uncached 9p is slow.
  local opts="trans=virtio,version=9p2000.L,msize=1048576"
  [ "$3" = ro ] && opts="$opts,ro,cache=loose"
  mount -t 9p -o "$opts" "$1" "$2"
}

fail() {
  say "$*"
  echo 254 > "$results/status"
  exit 1
}

cwd=
while read -r mtag mpath mode; do
  [ -n "$mtag" ] || continue
  mount9p "$mtag" "$mpath" "$mode" || fail "cannot mount share $mtag at $mpath"
  [ -n "$cwd" ] || cwd=$mpath
done < "$results/mounts"
[ -n "$cwd" ] || fail "no shares listed in $results/mounts"

{
  echo "kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime) s at test start"
  echo "machine-id $(cat /etc/machine-id)"
  echo "cgroup $(stat -f -c %T /sys/fs/cgroup) [$(cat /sys/fs/cgroup/cgroup.controllers)]"
  echo "systemd $(systemctl --version | head -n1)"
} > "$results/boot.txt"
sed 's/^/skiff-vm: /' "$results/boot.txt" > "$console"

cd "$cwd" || fail "cannot cd to $cwd"
# The output goes to the share and to the console; PIPESTATUS, not wait (qemu-vm.md: a bare
# wait also waits for process substitutions).
bash "$results/command" 2>&1 | tee "$results/output.log" > "$console"
status=${PIPESTATUS[0]}
echo "$status" > "$results/status.tmp" && mv "$results/status.tmp" "$results/status"
sync
say "test command exited $status"
exit 0

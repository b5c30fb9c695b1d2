#!/usr/bin/env bash
# Builds the Debian 12 VM image the VM test tier boots (test/vm/README in the
# project README's "Tests"), or finds it in the cache. Prints the image dir,
# which holds vmlinuz, initrd.img and rootfs.img (raw ext4, used read-only as
# the backing file of each run's throwaway qcow2 overlay).
#
# Cached by the digest of its inputs (this script, test/vm/guest/, the host's
# node binary, the mirror), under $SKIFF_VM_CACHE (default
# /var/cache/skiff-vm): a changed input builds a new image and prunes the old.
# Needs root (debootstrap), debootstrap and the Debian archive.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${SKIFF_VM_CACHE:-/var/cache/skiff-vm}
node_bin=$(readlink -f "$(command -v node)")
# The host's Debian mirror: the only place outside this machine a VM build reaches.
mirror=${SKIFF_VM_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
suite=bookworm
# minbase + what the tests use: systemd as PID 1, iproute2/iptables for pods'
# networks, busybox-static for the fixture images (fixture-images.ts reads
# /bin/busybox), etcd-server for the two-VM overlay check (pair/: one VM runs
# etcd for both), the kernel and an initramfs for its ext4/virtio modules.
packages=systemd,systemd-sysv,udev,dbus,iproute2,iptables,procps,kmod,linux-image-amd64,initramfs-tools,busybox-static,etcd-server

log() { echo "vm-image: $*" >&2; }

digest=$( {
  cat "$here/build-image.sh"
  (cd "$here/guest" && find . -type f | LC_ALL=C sort | xargs sha256sum)
  sha256sum "$node_bin"
  echo "$mirror $suite $packages"
} | sha256sum | cut -c1-16)
image="$cache/$digest"

if [ -f "$image/done" ]; then
  log "cached: $image"
  echo "$image"
  exit 0
fi

[ "$(id -u)" = 0 ] || { log "needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install debootstrap (.ci/install-deps)"; exit 1; }
command -v mkfs.ext4 >/dev/null || { log "mkfs.ext4 missing: apt-get install e2fsprogs"; exit 1; }

mkdir -p "$cache"
build=$(mktemp -d "$cache/build.XXXXXX")
root="$build/root"
cleanup() {
  # debootstrap mounts /proc and /sys in the root: never rm through a live mount.
  findmnt -rn -o TARGET | grep "^$root/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$build"
}
trap cleanup EXIT
started=$(date +%s)

log "debootstrap $suite from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" > "$build/debootstrap.log" 2>&1 || {
  tail -n 30 "$build/debootstrap.log" >&2
  log "debootstrap failed (log above)"
  exit 1
}

# Node 20: Debian 12's nodejs is 18; the host's binary runs on the same libc.
install -m 0755 "$node_bin" "$root/usr/bin/node"

# An initramfs with only the modules the root disk needs: 6 MB instead of 29.
cat > "$root/etc/initramfs-tools/modules" <<'MODULES'
virtio_pci
virtio_blk
ext4
crc32c_generic
MODULES
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
kver=$(ls "$root/lib/modules" | head -n1)
chroot "$root" update-initramfs -u -k "$kver" > "$build/initramfs.log" 2>&1 || {
  cat "$build/initramfs.log" >&2
  exit 1
}

# Clones must not share a machine-id (qemu-vm.md): debootstrap leaves one in
# /var/lib/dbus/machine-id that systemd reuses when /etc/machine-id is empty,
# and udev derives the same MAC for a vxlan device on every VM. An empty
# /etc/machine-id makes systemd create one at boot from the VM's -uuid.
: > "$root/etc/machine-id"
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id"

echo skiff-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 skiff-vm\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 1\n' > "$root/etc/fstab"

# The test run: a oneshot unit after multi-user.target (guest/).
install -m 0755 "$here/guest/skiff-vm-test" "$root/usr/local/sbin/skiff-vm-test"
install -m 0644 "$here/guest/skiff-vm-test.service" "$root/etc/systemd/system/skiff-vm-test.service"
ln -sf /etc/systemd/system/skiff-vm-test.service "$root/etc/systemd/system/multi-user.target.wants/skiff-vm-test.service"
# Nothing else on the console, nothing that waits for a network or a clock;
# no etcd of the package's own (the overlay check starts one on its underlay).
for unit in etcd.service serial-getty@ttyS0.service getty@tty1.service getty.target apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service man-db.timer dpkg-db-backup.timer \
  systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

cp "$root/boot/vmlinuz-$kver" "$build/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$build/initrd.img"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

truncate -s 3G "$build/rootfs.img"
mkfs.ext4 -q -F -L skiff-vm -d "$root" "$build/rootfs.img"
rm -rf "$root"
touch "$build/done"

# Publish atomically, then drop images built from older inputs.
rm -rf "$image"
mv "$build" "$image"
trap - EXIT
for old in "$cache"/????????????????; do
  [ "$old" = "$image" ] || rm -rf "$old"
done
log "built $image in $(( $(date +%s) - started )) s"
echo "$image"

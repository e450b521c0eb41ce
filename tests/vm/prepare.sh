#!/usr/bin/env bash
# Builds (once) what the VM lab boots: a Debian kernel with its modules and a
# busybox initramfs, in a cache directory reused between runs.
#
# Usage: tests/vm/prepare.sh        prints the ready cache directory
#
# Why the generic kernel (linux-image-amd64) and not linux-image-cloud-amd64:
# the cloud flavour has IPVLAN, 802.1Q and bonding, but no 9P
# (CONFIG_NET_9P is unset) and bookworm ships no virtiofsd, so it could not
# mount the host's root read-only; the generic flavour has all of them as
# modules.
#
# What it writes: $VIPD_VM_CACHE (default /var/cache/vipd-ci/vm) only;
# one subdirectory per kernel package version (the stamp), left in place for
# the next run. Needs apt-get (download only; nothing is installed) and
# dpkg-deb. Exits 3 with the reason when the packages cannot be fetched,
# so callers can skip rather than fail.
set -euo pipefail
cache=${VIPD_VM_CACHE:-/var/cache/vipd-ci/vm}
meta=${VIPD_VM_KERNEL_PACKAGE:-linux-image-amd64}

die() {
    echo "tests/vm/prepare.sh: $*" >&2
    exit 3
}

# The metapackage names the real, versioned kernel package.
real=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
[ -n "$real" ] || die "apt-cache knows no kernel behind $meta (apt-get update?)"
version=$(apt-cache policy "$real" 2>/dev/null | awk '/Candidate:/ {print $2; exit}' || true)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then die "no candidate version of $real"; fi
stamp="${real}_${version}"
dir="$cache/$stamp"
if [ -f "$dir/ready" ]; then
    echo "$dir"
    exit 0
fi

mkdir -p "$cache"
# One build at a time (two first runs at once): the second waits, then
# finds the first one's result.
exec 9>"$cache/.lock"
flock 9
if [ -f "$dir/ready" ]; then
    echo "$dir"
    exit 0
fi
echo "tests/vm/prepare.sh: building $dir (kernel $real $version, busybox-static)" >&2
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(
    cd "$tmp"
    # apt-get download runs as _apt when it can write the directory.
    chmod 0777 .
    apt-get download -q "$real" busybox-static >download.log 2>&1 ||
        { cat download.log >&2; exit 1; }
) || die "apt-get download $real busybox-static failed"
dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/root"
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
kver=$(ls "$tmp/root/lib/modules")
if [ -z "$kver" ] || [ ! -f "$tmp/root/boot/vmlinuz-$kver" ]; then die "no kernel image in $real"; fi
bb="$tmp/bb/bin/busybox"
# modules.dep (the package leaves it to depmod in postinst): busybox's depmod.
"$bb" depmod -b "$tmp/root" "$kver"

# The initramfs: busybox, the modules needed to mount the root (virtio PCI,
# 9P, overlay) with their dependencies, and init. Everything else is
# modprobed from the full module tree once the root is mounted. /init
# comes from tests/vm/run.sh, as a second archive appended at each run, so
# an edit of tests/vm/init needs no rebuild here.
ird="$tmp/initramfs"
mkdir -p "$ird/bin" "$ird/lib/modules/$kver"
cp "$bb" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
moddir="$tmp/root/lib/modules/$kver"
want="virtio_pci 9pnet_virtio 9p overlay"
: >"$ird/lib/modules/$kver/modules.dep"
for m in $want; do
    line=$(grep -E "(^|/)${m}\.ko(\.[a-z]+)?:" "$moddir/modules.dep") || die "module $m not in $real"
    for f in $(echo "$line" | tr -d ':'); do
        [ -f "$ird/lib/modules/$kver/$f" ] && continue
        mkdir -p "$(dirname "$ird/lib/modules/$kver/$f")"
        cp "$moddir/$f" "$ird/lib/modules/$kver/$f"
    done
    echo "$line" >>"$ird/lib/modules/$kver/modules.dep"
done
echo "$want" >"$ird/modules"
(cd "$ird" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initramfs.gz"

mkdir -p "$dir"
mv "$tmp/root" "$dir/root"
mv "$tmp/initramfs.gz" "$dir/initramfs.gz"
cp "$bb" "$dir/busybox"
echo "$kver" >"$dir/kver"
echo "$stamp" >"$dir/ready"
echo "$dir"

#!/bin/sh
# PID 1 of the VM lab's guest, after tests/vm/init has mounted the root
# (the host's, read-only under a RAM overlay). Prepares what a booted system
# would have (tmpfs on /run and /tmp, devpts, cgroup2, loopback, the kernel
# modules of the labs), runs /vm-results/job.sh, writes its exit status to
# /vm-results/status and powers off. Never runs on the host.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
bb=/vm-bin/busybox
out=/vm-results
t0=$(cut -d' ' -f1 /proc/uptime)

arg() {
    read -r cmdline </proc/cmdline
    for w in $cmdline; do
        case "$w" in "$1"=*) echo "${w#*=}" ;; esac
    done
}

halt_with() {
    echo "$1" >"$out/status"
    sync
    echo o >/proc/sysrq-trigger
    sleep 30
}

# The host's /run, /tmp and /dev/shm contents are not the guest's.
for d in /run /tmp /var/tmp /dev/shm; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=1777 tmpfs "$d"
done
chmod 0755 /run
mkdir -p /dev/pts
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# The host's mount propagation: shared, like systemd sets it up.
mount --make-rshared /
hostname vipd-vm
ip link set lo up

# Kernel modules: the full tree of the cached kernel (it is under the shared
# root), modprobed by the initramfs' busybox; also for the kernel's own
# module requests (ip link add ... type X loads X).
cache=$(arg vipd.cache)
kver=$(uname -r)
mkdir -p "/lib/modules/$kver"
mount --bind "$cache/root/lib/modules/$kver" "/lib/modules/$kver"
mkdir -p /run/vm
ln -s "$bb" /run/vm/modprobe
echo /run/vm/modprobe >/proc/sys/kernel/modprobe
# bonding and dummy without their default bond0/dummy0 in the root namespace.
for m in veth bridge macvlan ipvlan 8021q "bonding max_bonds=0" "dummy numdummies=0" sch_netem nf_tables; do
    # shellcheck disable=SC2086  # module name and parameters
    "$bb" modprobe $m 2>&1 || echo "vm guest: modprobe $m failed"
done
if grep -q hypervisor /proc/cpuinfo && dmesg | grep -q "Hypervisor detected: KVM"; then echo kvm; else echo tcg; fi >"$out/accel"
t1=$(cut -d' ' -f1 /proc/uptime)
echo "vm guest: ready at ${t1} s after kernel start (setup $(awk "BEGIN{print $t1-$t0}") s)" | tee "$out/boot"

if [ ! -f "$out/job.sh" ]; then
    echo "vm guest: no job.sh in the results share" >"$out/error"
    halt_with 125
fi
cd "$(arg vipd.cwd)" 2>/dev/null || cd /
/bin/bash "$out/job.sh" >>"$out/job.log" 2>&1
halt_with $?

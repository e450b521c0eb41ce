#!/usr/bin/env bash
# The VM lab: runs test binaries, or one command, in a qemu guest whose
# kernel has what this host's may lack (IPVLAN, 802.1Q VLANs, bonding).
# The guest sees the host's root read-only (9P, under a RAM overlay), so the
# test binaries and every tool run there as built and installed here.
#
# Usage (as root):
#   tests/vm/run.sh [--timeout S] TEST[::NAME]...   cargo test files (tests/TEST.rs);
#        each #[ignore]d test of TEST, or only NAME, runs in the guest as
#        `BIN --ignored --exact NAME --test-threads=1`; prints libtest's
#        output ("test result:" lines) and a timing line per test.
#   tests/vm/run.sh [--timeout S] --sh 'COMMAND'      one shell command.
# Exit status: the guest job's (0: all passed); 3: the VM lab cannot run
# here (no qemu, no kernel package; the reason is printed with SKIPPED);
# 124: the VM ran past the timeout (qemu killed).
#
# Writes on the host: the kernel cache (tests/vm/prepare.sh) and one scratch
# directory per run (mktemp, /tmp/vipd-vm.*; kept with VIPD_VM_KEEP=1 or on
# failure), which the guest sees as its only writable share.
# Environment: VIPD_VM_TIMEOUT_S (default 1200), VIPD_VM_MEM_MB (2048),
# VIPD_VM_CPUS (2), VIPD_VM_ACCEL (default "tcg", software emulation: on this CI host /dev/kvm
# exists but a KVM guest hangs before its first console line; "kvm:tcg"
# tries KVM first where it works).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo" || exit 1

timeout_s=${VIPD_VM_TIMEOUT_S:-1200}
mode=tests
cmd=""
specs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout_s=$2; shift 2 ;;
        --sh) mode=shell; cmd=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) specs+=("$1"); shift ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "tests/vm/run.sh: run as root (the guest's labs and the 9P passthrough need it)" >&2
    exit 1
fi
skip() {
    echo "SKIPPED the VM lab: $*"
    exit 3
}
command -v qemu-system-x86_64 >/dev/null ||
    skip "qemu-system-x86_64 not found (.ci/install-deps test installs qemu-system-x86)"
cache=$(tests/vm/prepare.sh) || skip "no kernel for the guest (tests/vm/prepare.sh failed, above)"
kver=$(cat "$cache/kver")

scratch=$(mktemp -d /tmp/vipd-vm.XXXXXX)
results="$scratch/results"
mkdir -p "$results"
keep=${VIPD_VM_KEEP:-}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ -z "$keep" ]; then rm -rf "$scratch"; else echo "tests/vm/run.sh: kept $scratch"; fi
}
trap cleanup EXIT

# The job the guest runs (bash, cwd = the repository, as cargo test would).
{
    echo "set -u"
    # Waits for the labs' own setup x10 (tests/lab/mod.rs setup_timeout):
    # under emulation a helper process takes seconds to come up. What the
    # tests assert about vipd keeps its bounds.
    echo "export RUST_BACKTRACE=1 VIPD_IN_VM=1 VIPD_LAB_SETUP_SCALE=${VIPD_LAB_SETUP_SCALE:-10}"
    echo "rc=0"
    echo "now() { cut -d' ' -f1 /proc/uptime; }"
} >"$results/job.sh"
if [ "$mode" = shell ]; then
    printf '%s\n' "$cmd" >>"$results/job.sh"
    echo "exit \$?" >>"$results/job.sh"
else
    [ ${#specs[@]} -gt 0 ] || { echo "tests/vm/run.sh: name the test files (or --sh)" >&2; exit 2; }
    files=()
    for s in "${specs[@]}"; do files+=("${s%%::*}"); done
    targs=()
    for f in $(printf '%s\n' "${files[@]}" | sort -u); do targs+=(--test "$f"); done
    # The test binaries' paths, from cargo's own report of the build.
    json=$(cargo test --locked --no-run --message-format=json "${targs[@]}" 2>"$scratch/build.log") || {
        cat "$scratch/build.log" >&2
        echo "tests/vm/run.sh: cargo test --no-run failed" >&2
        exit 1
    }
    for s in "${specs[@]}"; do
        f=${s%%::*}
        bin=$(python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])
' "$f" <<<"$json" | tail -n 1)
        [ -x "$bin" ] || { echo "tests/vm/run.sh: no test binary for $f" >&2; exit 1; }
        if [ "$s" = "$f" ]; then
            names=$("$bin" --ignored --list 2>/dev/null | sed -n 's/: test$//p')
        else
            names=${s#*::}
        fi
        for n in $names; do
            cat >>"$results/job.sh" <<JOB
echo "=== vm: tests/$f.rs $n"
s=\$(now)
"$bin" --ignored --exact "$n" --test-threads=1 || rc=1
echo "=== vm: tests/$f.rs $n took \$(awk "BEGIN{printf \"%.1f\", \$(now)-\$s}") s"
JOB
        done
    done
    echo "exit \$rc" >>"$results/job.sh"
fi

# /init rides along as a second archive after the cached initramfs.
mkdir -p "$scratch/init"
cp tests/vm/init "$scratch/init/init"
chmod 0755 "$scratch/init/init"
(cd "$scratch/init" && echo init | "$cache/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$scratch/init.gz"
cat "$cache/initramfs.gz" "$scratch/init.gz" >"$scratch/initrd"

accel=${VIPD_VM_ACCEL:-tcg}
accel_args=()
for a in ${accel//:/ }; do
    if [ "$a" = kvm ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then continue; fi
    accel_args+=(-accel "$a")
done
console="$scratch/console.log"
# The guest's job log, as it is written (the results share is uncached).
touch "$results/job.log"
tail -n +1 -F "$results/job.log" 2>/dev/null &
tail_pid=$!
start=$(date +%s.%N)
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    "${accel_args[@]}" -cpu max -smp "${VIPD_VM_CPUS:-2}" -m "${VIPD_VM_MEM_MB:-2048}" \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -serial "file:$console" \
    -kernel "$cache/root/boot/vmlinuz-$kver" -initrd "$scratch/initrd" \
    -append "console=ttyS0 panic=-1 ${VIPD_VM_KERNEL_ARGS:-quiet loglevel=4} vipd.cache=$cache vipd.guest=$repo/tests/vm/guest.sh vipd.cwd=$repo" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
    -virtfs "local,path=$results,mount_tag=results,security_model=passthrough" \
    >"$scratch/qemu.log" 2>&1
qrc=$?
end=$(date +%s.%N)
wall=$(awk "BEGIN{printf \"%.1f\", $end-$start}")

sleep 0.5
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    keep=1
    echo "tests/vm/run.sh: the VM ran past ${timeout_s} s and was killed; console:"
    tail -n 40 "$console"
    exit 124
fi
if [ ! -f "$results/status" ]; then
    keep=1
    echo "tests/vm/run.sh: the guest wrote no exit status (qemu exit $qrc); qemu and console:"
    cat "$scratch/qemu.log"
    tail -n 40 "$console"
    exit 1
fi
status=$(cat "$results/status")
echo "vm: $(cat "$results/boot" 2>/dev/null); accelerator: $(cat "$results/accel" 2>/dev/null || echo unknown); whole VM run ${wall} s"
[ "$status" = 0 ] || keep=1
exit "$status"

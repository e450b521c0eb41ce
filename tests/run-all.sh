#!/usr/bin/env bash
# The whole test suite, as the README gives it and as .ci/run calls it.
# Needs root (the labs build network namespaces); installs the Debian
# packages it needs (.ci/install-deps test). Prints a closing "summary: N passed, N failed,
# N skipped" line; skipped tests are named with their reason.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "$(id -u)" != 0 ]; then
    echo "tests/run-all.sh: run as root (the lab tests create network namespaces)" >&2
    exit 1
fi

# What is missing (Debian packages, Rust) first: this is the README's second
# command, also on a machine that never ran the first.
.ci/install-deps test || exit 1
if [ -d "$HOME/.cargo/bin" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# Unit, CLI and lab tests. Two threads: the labs are timing-sensitive and
# the CI machine has two cores. --no-fail-fast: a failing test file does not
# hide the results of the ones after it from the summary.
cargo test --locked --no-fail-fast -- --test-threads=2 2>&1 | tee -a "$log" || status=1

# Tests of a kernel feature (#[ignore]d by default): IPVLAN, 802.1Q VLANs,
# bonding. Each group runs here where the kernel can make the device; else
# in the VM lab (tests/vm/run.sh: a qemu guest with a Debian kernel that has
# them, docs/vm-lab.md); else each test is named as skipped with the reason.
skipped=0
no_result=0
vm_specs=()
vm_names=()
vm_why=()
# group|what|test files|`ip -n NS` arguments that need the feature
kernel_feature_tests="
ipvlan|IPVLAN|ipvlan_lab networkd_lab|link add link probe0 name probe-iv type ipvlan mode l2
vlan|802.1Q VLAN|migrate_ifupdown|link add link probe0 name probe0.5 type vlan id 5
bond|bonding|bond_lab|link add probe-bond type bond mode active-backup
"
while IFS='|' read -r key what tests probe; do
    [ -n "$key" ] || continue
    probe_ns="vipd-${key}-probe-$$"
    ip netns add "$probe_ns"
    ip -n "$probe_ns" link add probe0 type veth peer name probe1 2>/dev/null
    # shellcheck disable=SC2086  # the probe's arguments, word by word
    if why=$(ip -n "$probe_ns" $probe 2>&1); then
        ip netns del "$probe_ns"
        for t in $tests; do
            cargo test --locked --test "$t" -- --ignored --test-threads=2 2>&1 | tee -a "$log" || status=1
        done
    else
        ip netns del "$probe_ns"
        for t in $tests; do
            vm_specs+=("$t")
            vm_names+=("$(cargo test --locked --test "$t" -- --ignored --list 2>/dev/null | sed -n 's/: test$//p')")
            vm_why+=("this kernel has no ${what} (ip ${probe}: ${why})")
        done
    fi
done <<<"$kernel_feature_tests"

if [ ${#vm_specs[@]} -gt 0 ]; then
    vm_total=0
    for i in "${!vm_specs[@]}"; do
        echo "VM lab: tests/${vm_specs[$i]}.rs: ${vm_why[$i]}"
        vm_total=$((vm_total + $(printf '%s\n' "${vm_names[$i]}" | grep -c . || true)))
    done
    vm_out=$(mktemp)
    vm_start=$SECONDS
    tests/vm/run.sh "${vm_specs[@]}" 2>&1 | tee "$vm_out"
    vm_rc=${PIPESTATUS[0]}
    if [ "$vm_rc" = 3 ]; then
        # The VM lab cannot run here; its reason is printed above.
        for i in "${!vm_specs[@]}"; do
            n=$(printf '%s\n' "${vm_names[$i]}" | grep -c . || true)
            skipped=$((skipped + n))
            echo "SKIPPED ${n} tests in tests/${vm_specs[$i]}.rs: ${vm_why[$i]}, and the VM lab cannot run here (above)"
            printf '%s\n' "${vm_names[$i]}" | sed 's/^/  skipped: /'
        done
    else
        cat "$vm_out" >>"$log"
        [ "$vm_rc" = 0 ] || status=1
        # A guest that stopped early (timeout, crash) leaves tests without
        # a result: they count as failed, not as nothing.
        got=$(grep -Eo '^test result: .*' "$vm_out" | grep -Eo '[0-9]+ (passed|failed)' | awk '{s+=$1} END {print s+0}')
        if [ "$got" -lt "$vm_total" ]; then
            no_result=$((vm_total - got))
            echo "VM lab: ${no_result} of ${vm_total} tests gave no result (the guest stopped early): counted as failed"
            status=1
        fi
        echo "VM lab: ${vm_total} tests, $((SECONDS - vm_start)) s in all (build, boot, tests; per test above)"
    fi
    rm -f "$vm_out"
fi

# Tests of a peer's feature that the installed version may lack (keepalived
# 2.2.7 has no v3_checksum_as_v2, FRR 8.4 no checksum-with-ipv4-pseudoheader)
# are #[ignore]d: run them where the peer's binary has the keyword, else
# name them as skipped with the reason.
peer_feature_tests="
wire_variants_interop|$(command -v keepalived || echo /usr/sbin/keepalived)|v3_checksum_as_v2|v3_checksum_as_v2_vipd_master_keepalived_backup v3_checksum_as_v2_keepalived_master_vipd_backup
frr_interop|/usr/lib/frr/vrrpd|checksum-with-ipv4-pseudoheader|v3_ipv4_message_only_vipd_master_frr_backup v3_ipv4_message_only_frr_master_vipd_backup
"
while IFS='|' read -r t bin needle names; do
    [ -n "$t" ] || continue
    if [ -f "$bin" ] && grep -qa -- "$needle" "$bin"; then
        for n in $names; do
            cargo test --locked --test "$t" -- --ignored --exact "$n" 2>&1 | tee -a "$log" || status=1
        done
    else
        for n in $names; do
            skipped=$((skipped + 1))
            echo "SKIPPED tests/${t}.rs ${n}: ${bin} has no \`${needle}\` (the peer version installed lacks the feature)"
        done
    fi
done <<< "$peer_feature_tests"

# The networkd generation matrix (#[ignore]d by default: about 45 s): the
# host's networkd and those of the Debian roots .ci/debian-roots caches
# (bullseye 247, trixie 257); prints its table. A generation without its
# root is skipped with the reason.
cargo test --locked --test networkd_matrix -- --ignored --nocapture --test-threads=1 2>&1 | tee -a "$log" || status=1
n=$(grep -c '^SKIPPED networkd generation' "$log" || true)
skipped=$((skipped + n))

passed=$(grep -Eo '^test result: .*' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .*' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
failed=$((failed + no_result))
if [ "$failed" != 0 ]; then status=1; fi
echo "summary: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status

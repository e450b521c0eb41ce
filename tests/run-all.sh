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

# IPVLAN tests (#[ignore]d by default) need kernel support; run them where
# it exists, else name them as skipped with the reason.
ipvlan_tests="ipvlan_lab networkd_lab"
skipped=0
probe_ns="vipd-ipvlan-probe-$$"
ip netns add "$probe_ns"
ip -n "$probe_ns" link add probe0 type veth peer name probe1 2>/dev/null
if why=$(ip -n "$probe_ns" link add link probe0 name probe-iv type ipvlan mode l2 2>&1); then
    ip netns del "$probe_ns"
    for t in $ipvlan_tests; do
        cargo test --locked --test "$t" -- --ignored --test-threads=2 2>&1 | tee -a "$log" || status=1
    done
else
    ip netns del "$probe_ns"
    for t in $ipvlan_tests; do
        names=$(cargo test --locked --test "$t" -- --ignored --list 2>/dev/null | grep ': test$' || true)
        n=$(printf '%s' "$names" | grep -c ': test$' || true)
        skipped=$((skipped + n))
        echo "SKIPPED ${n} tests in tests/${t}.rs: this kernel has no IPVLAN (ip link add type ipvlan: ${why})"
        printf '%s\n' "$names" | sed 's/^/  skipped: /'
    done
fi

# 802.1Q VLAN tests (#[ignore]d by default): the same, for VLAN support.
vlan_tests="migrate_ifupdown"
probe_ns="vipd-vlan-probe-$$"
ip netns add "$probe_ns"
ip -n "$probe_ns" link add probe0 type veth peer name probe1 2>/dev/null
if why=$(ip -n "$probe_ns" link add link probe0 name probe0.5 type vlan id 5 2>&1); then
    ip netns del "$probe_ns"
    for t in $vlan_tests; do
        cargo test --locked --test "$t" -- --ignored --test-threads=2 2>&1 | tee -a "$log" || status=1
    done
else
    ip netns del "$probe_ns"
    for t in $vlan_tests; do
        names=$(cargo test --locked --test "$t" -- --ignored --list 2>/dev/null | grep ': test$' || true)
        n=$(printf '%s' "$names" | grep -c ': test$' || true)
        skipped=$((skipped + n))
        echo "SKIPPED ${n} tests in tests/${t}.rs: this kernel has no 802.1Q VLAN (ip link add type vlan: ${why})"
        printf '%s\n' "$names" | sed 's/^/  skipped: /'
    done
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
if [ "$failed" != 0 ]; then status=1; fi
echo "summary: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status

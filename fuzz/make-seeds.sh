#!/usr/bin/env bash
# Regenerates fuzz/seeds/ (committed) from the repository's own fixtures:
# tests/fixtures/keepalived (the keepalived.conf snippets of the write-ups in
# shared/seeds, and their imported YAML), netplan-examples/, the example
# configuration, and byte vectors taken from the wire codecs' unit tests.
# Idempotent; run from anywhere.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
seeds=$here/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{vrrp,arp,ndisc,config,keepalived,netplan,control}

# keepalived importer: every fixture (includes are skipped by the target,
# so the conf.d one is inlined), plus the error fixtures.
for f in "$root"/tests/fixtures/keepalived/*.conf "$root"/tests/fixtures/keepalived/errors/*.conf; do
    cp "$f" "$seeds/keepalived/$(basename "$f")"
done
cat "$root"/tests/fixtures/keepalived/seed003_conf.d/*.conf > "$seeds/keepalived/seed003_conf.d-inlined.conf"

# Configuration loader: the importer's expected output, the example, the
# netplan examples' vipd.yaml.
for f in "$root"/tests/fixtures/keepalived/*.expected.yaml; do
    cp "$f" "$seeds/config/$(basename "$f")"
done
cp "$root/units/examples/vipd.yaml" "$seeds/config/example.yaml"
for d in "$root"/netplan-examples/*/; do
    name=$(basename "$d")
    cp "$d/vipd.yaml" "$seeds/config/netplan-$name.yaml"
    # netplan target: the netplan file alone, and with its vipd.yaml as a
    # NUL-separated part starting with "#vipd".
    cp "$d/netplan.yaml" "$seeds/netplan/$name.yaml"
    { cat "$d/netplan.yaml"; printf '\0#vipd\n'; cat "$d/vipd.yaml"; } > "$seeds/netplan/$name-with-vipd"
done

# Control protocol: every request as vipctl sends it, and answers.
c=$seeds/control
printf '{"cmd":"status"}\n' > "$c/status"
printf '{"cmd":"reload"}\n' > "$c/reload"
printf '{"cmd":"resync"}\n' > "$c/resync"
printf '{"cmd":"resync","interface":"eth0"}\n' > "$c/resync-eth0"
printf '{"cmd":"hold","interface":"eth0","for_ms":5000}\n' > "$c/hold"
printf '{"cmd":"watch"}\n' > "$c/watch"
printf '{"result":"ok"}\n' > "$c/resp-ok"
printf '{"result":"error","message":"bad request"}\n' > "$c/resp-error"

# Wire codecs. Mode byte first (see fuzz_targets/vrrp.rs), then addresses.
# shellcheck disable=SC2059 # the format is the escaped bytes
hex() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')" > "$2"; }
# VRRPv3 over IPv4, 192.0.2.1 -> 224.0.0.18, VRID 51, prio 100, 100 cs,
# one address 192.0.2.10; checksum filled by the target (mode 0x04).
hex "04c0000201e0000012""3133640100640000""c000020a" "$seeds/vrrp/v3-ipv4-fill"
# The same with a zero checksum, kept as is (mode 0x00): the mismatch path.
hex "00c0000201e0000012""3133640100640000""c000020a" "$seeds/vrrp/v3-ipv4-raw"
# VRRPv2, auth PASS "secret", 1 s.
hex "04c0000201e0000012""2133640101010000""c000020a""7365637265740000" "$seeds/vrrp/v2-pass-fill"
# VRRPv3 over IPv6 fe80::1 -> ff02::12, one address fd00::10.
hex "05fe800000000000000000000000000001ff020000000000000000000000000012""3133640100640000""fd000000000000000000000000000010" "$seeds/vrrp/v3-ipv6-fill"
# A raw IPv4 datagram (mode 0x0c): header, then the v3 message.
hex "0c4500002000004000ff700000c0000201e0000012""3133640100640000""c000020a" "$seeds/vrrp/ipv4-datagram-fill"

# ARP: the gratuitous request vipd sends (src/wire/arp.rs test vector).
hex "ffffffffffff00005e00013308060001080006040001""00005e000133""0a00000a""000000000000""0a00000a" "$seeds/arp/garp"
# NDISC: the unsolicited NA vipd sends (src/wire/ndisc.rs test vector,
# checksum 0x9ba7 included).
hex "333300000001""00005e000133""86dd""60000000""0020""3a""ff""fe800000000000000200""5efffe000133""ff020000000000000000000000000001""8800""9ba7""20000000""fd000000000000000000000000000010""0201""00005e000133" "$seeds/ndisc/unsolicited-na"
echo "seeds written to $seeds:"
for d in "$seeds"/*/; do
    printf '  %-11s %3d files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done

#!/usr/bin/env bash
# Regenerates fuzz/vipd.dict: YAML syntax, the keys of the configuration
# and netplan seeds, keepalived's keywords (src/keepalived/keywords.rs), the
# control protocol's words. Run after make-seeds.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
{
    echo "# libFuzzer dictionary for vipd's text formats; fuzz/make-dict.sh writes it."
    echo "# YAML syntax"
    for t in ': ' '- ' '[' ']' '{' '}' '---' '...' '&a' '*a' '!!str' '!!int' '|' '>' '? ' '#' '"' "'" 'null' 'true' 'false' '~' '0x' '1e9' '<<: '; do
        printf '"%s"\n' "$(printf '%s' "$t" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    done
    echo "# keys of the vipd configuration and netplan seeds"
    grep -aohE '^[[:space:]-]*[A-Za-z_][A-Za-z0-9_-]*:' "$here"/seeds/config/* "$here"/seeds/netplan/* \
        | sed -E 's/^[[:space:]-]*//' | sort -u | sed 's/.*/"&"/'
    echo "# keepalived keywords"
    grep -oE '"[a-z_0-9]+"' "$root/src/keepalived/keywords.rs" | sort -u
    for k in vrrp_instance virtual_ipaddress auth_type auth_pass PASS AH MASTER BACKUP dev label scope brd include '{' '}' '!' 'vrrp_script' 'chk_'; do
        printf '"%s"\n' "$k"
    done
    echo "# control protocol"
    for k in '"cmd"' '"result"' '"status"' '"reload"' '"resync"' '"hold"' '"watch"' '"interface"' '"for_ms"' '"ok"' '"error"' '"message"'; do
        printf '"%s"\n' "$(printf '%s' "$k" | sed 's/"/\\"/g')"
    done
    echo "# addresses and durations"
    for k in 192.0.2.10/24 fd00::10/64 fe80::1 224.0.0.18 100ms 1s 5m eth0 ens5; do
        printf '"%s"\n' "$k"
    done
} | awk '!seen[$0]++' > "$here/vipd.dict"
echo "$(grep -c '^"' "$here/vipd.dict") entries in $here/vipd.dict"

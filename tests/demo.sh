#!/usr/bin/env bash
# The lab demo, the README's first command: installs what is missing
# (.ci/install-deps demo: the Debian packages the demo needs, Rust), builds vipd and the demo, and
# runs it (tests/lab_demo.rs): a throw-away network-namespace lab with two
# routers running real systemd-networkd and D-Bus, a DHCP server and an
# observer; vipd through election, `networkctl reconfigure`, a networkd
# restart, a cut cable and its return, then the same under keepalived;
# prints a table of measured outages and role changes, and writes a picture
# of the observer's replies per step (SVG, path printed; VIPD_DEMO_SVG
# chooses it). Run as root.
#
# Ctrl-C / SIGTERM: the demo drops its lab and exits 130; as a safety net
# this script then removes any namespace the demo recorded in its
# namespace file (killing what is left in it) and the lab's temp dir, also
# after the demo itself was killed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "tests/demo.sh: run as root (the demo builds network namespaces)" >&2
    exit 1
fi

ns_file=$(mktemp /tmp/vipd-demo-ns.XXXXXX)
pid=""
build_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
safety_net() {
    # Namespaces the demo created and did not remove (it normally does).
    local ns p
    while read -r ns; do
        [ -n "$ns" ] || continue
        if ip netns list | awk '{print $1}' | grep -qxF "$ns"; then
            echo "tests/demo.sh: removing leftover namespace $ns" >&2
            for p in $(ip netns pids "$ns" 2>/dev/null); do
                kill -9 "$p" 2>/dev/null || true
            done
            ip netns del "$ns" 2>/dev/null || true
        fi
        # The lab's temp dir (/tmp/vipd-lab-<id> for namespaces <id>-*).
        case "$ns" in
            vl[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*) rm -rf "/tmp/vipd-lab-${ns%%-*}" ;;
        esac
    done < "$ns_file"
    rm -f "$ns_file"
}
# shellcheck disable=SC2317  # called by the INT/TERM trap
on_signal() {
    # The install/build step runs in a process group of its own: stop all of
    # it. The demo gets SIGINT (again until it ends: a background job starts
    # with SIGINT ignored, until the demo has installed its handler) and is
    # waited for while it removes its lab.
    if [ -n "$build_pid" ]; then
        kill -TERM -- "-$build_pid" 2>/dev/null || true
        wait "$build_pid" 2>/dev/null || true
    fi
    if [ -n "$pid" ]; then
        while kill -INT "$pid" 2>/dev/null; do
            sleep 0.5
        done
        wait "$pid" 2>/dev/null || true
    fi
    echo "tests/demo.sh: interrupted" >&2
    exit 130
}
trap safety_net EXIT
trap on_signal INT TERM

# Install and build in the background, waited for: bash runs a trap during
# `wait` at once, whereas for a foreground command it would wait for the
# command and then skip the trap if the command handled the SIGINT itself
# (cargo may). setsid gives the step its own process group for on_signal.
build_pid=""
# shellcheck disable=SC2016  # expanded by the inner bash
setsid bash -c '
    set -e
    .ci/install-deps demo
    if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
    echo "tests/demo.sh: building vipd and the demo (cargo, dev profile)"
    cargo test --locked --test lab_demo --no-run
' &
build_pid=$!
wait "$build_pid"
build_pid=""

if [ -d "$HOME/.cargo/bin" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
# The demo's executable, from cargo's build plan (already built: no output
# but the JSON).
exe=$(cargo test --locked --test lab_demo --no-run --message-format=json 2>/dev/null \
    | grep '"kind":\["test"\],[^}]*"name":"lab_demo"' \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1) || true
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "tests/demo.sh: could not find the built lab_demo executable" >&2
    exit 1
fi

VIPD_DEMO_NS_FILE="$ns_file" "$exe" --demo &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=""
exit "$rc"

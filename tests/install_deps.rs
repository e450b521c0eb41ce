//! `.ci/install-deps`: what each purpose installs, and that another apt or
//! dpkg holding the dpkg frontend lock (unattended-upgrades at a cloud VM's
//! first boot) is waited for instead of failing with "Could not get lock".
//!
//! The lock test holds the host's real `/var/lib/dpkg/lock-frontend` for 5 s
//! with an fcntl lock, as dpkg and apt take it (`flock(1)` takes a BSD lock
//! that apt does not see), and changes no package: install-deps installs
//! only what its purpose lacks (nothing on a machine that has it all), and
//! `VIPD_DEPS_CHECK_LOCK` makes it ask apt for the lock anyway (`apt-get
//! check`: takes the lock, reads, changes nothing). Run as root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-deps")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn list(purpose: &str) -> Vec<String> {
    let o = Command::new(script())
        .args([purpose, "--list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{purpose}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_purpose_installs_what_it_needs() {
    let demo = list("demo");
    let test = list("test");
    let ci = list("ci");
    for p in ["keepalived", "dnsmasq-base", "systemd", "dbus", "iproute2"] {
        assert!(demo.iter().any(|d| d == p), "demo lacks {p}: {demo:?}");
    }
    // Test-only tools are not the demo's (the first run installed
    // shellcheck for nothing).
    for p in [
        "shellcheck",
        "tshark",
        "python3",
        "ifupdown",
        "qemu-system-x86",
    ] {
        assert!(!demo.iter().any(|d| d == p), "demo installs {p}");
        assert!(test.iter().any(|d| d == p), "test lacks {p}: {test:?}");
    }
    // Each purpose includes the one before it.
    assert!(demo.iter().all(|p| test.contains(p)), "{demo:?} {test:?}");
    assert!(test.iter().all(|p| ci.contains(p)), "{test:?} {ci:?}");
    for p in ["dpkg-dev", "valgrind", "systemd-container", "debootstrap"] {
        assert!(ci.contains(&p.to_owned()) && !test.contains(&p.to_owned()));
    }
    // No purpose: a usage error, nothing installed.
    let o = Command::new(script()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("demo|test|ci"), "{}", text(&o));
}

/// The demo installs the demo's packages, the test suite the tests', CI
/// everything; the scripts are shellcheck-clean.
#[test]
fn callers_name_their_purpose() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, call) in [
        ("tests/demo.sh", ".ci/install-deps demo"),
        ("tests/run-all.sh", ".ci/install-deps test"),
        (".ci/run", ".ci/install-deps ci"),
    ] {
        let body = std::fs::read_to_string(root.join(file)).unwrap();
        let calls: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(".ci/install-deps"))
            .collect();
        assert!(
            !calls.is_empty() && calls.iter().all(|l| l.starts_with(call)),
            "{file} calls {calls:?}, expected `{call}`"
        );
    }
    let found = Command::new("sh")
        .args(["-c", "command -v shellcheck"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "shellcheck not found (Debian package shellcheck; .ci/install-deps test installs it): cannot check .ci/install-deps and its callers"
    );
    for file in [
        ".ci/install-deps",
        ".ci/run",
        "tests/demo.sh",
        "tests/run-all.sh",
        "tests/vm/run.sh",
        "tests/vm/prepare.sh",
        "tests/vm/guest.sh",
        "tests/vm/init",
    ] {
        let o = Command::new("shellcheck")
            .arg(root.join(file))
            .output()
            .unwrap();
        assert!(o.status.success(), "{file}:\n{}", text(&o));
    }
}

const LOCK: &str = "/var/lib/dpkg/lock-frontend";

/// Why the lock test cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (the dpkg lock and apt-get need root)".into());
    }
    if !Path::new(LOCK).exists() {
        return Some(format!("no {LOCK}: not a Debian/Ubuntu host"));
    }
    for tool in ["apt-get", "python3"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} not found (.ci/install-deps test installs it)"
            ));
        }
    }
    None
}

/// Holds the dpkg frontend lock (fcntl, as dpkg) for `secs`; returns once
/// it is held. Waits for a real apt that holds it first.
fn hold_dpkg_lock(secs: f64) -> Child {
    let mut c = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'w')\n\
             fcntl.lockf(f, fcntl.LOCK_EX)\n\
             print('held', flush=True)\n\
             time.sleep(float(sys.argv[2]))\n",
            LOCK,
            &secs.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held", "the lock holder did not get the lock");
    c
}

/// install-deps for `purpose` with the lock checked even when nothing is
/// missing, waiting at most `wait_s`; (output, how long it ran).
fn install_deps(purpose: &str, wait_s: u32) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(script())
        .arg(purpose)
        .env("VIPD_DEPS_CHECK_LOCK", "1")
        .env("VIPD_DPKG_LOCK_WAIT_S", wait_s.to_string())
        .output()
        .unwrap();
    (o, t.elapsed())
}

#[test]
fn install_step_waits_for_the_dpkg_lock_and_succeeds() {
    // Fails rather than passes without running: the suite runs as root on
    // Debian/Ubuntu (the README's test command).
    if let Some(why) = cannot_run() {
        panic!("cannot run install_step_waits_for_the_dpkg_lock_and_succeeds: {why}");
    }
    // Control: with a 1-s bound the held lock makes it fail, naming the
    // holder (so the wait below is what made it succeed).
    let mut holder = hold_dpkg_lock(5.0);
    let (o, _) = install_deps("demo", 1);
    let out = text(&o);
    assert!(!o.status.success(), "succeeded under a held lock:\n{out}");
    assert!(
        out.contains("Could not get lock") && out.contains(&format!("process {}", holder.id())),
        "{out}"
    );
    holder.wait().unwrap();

    // The demo's install step while another process holds the lock for
    // 5 s: it says what it waits for, waits, and succeeds.
    let mut holder = hold_dpkg_lock(5.0);
    let held_at = Instant::now();
    let (o, took) = install_deps("demo", 60);
    let out = text(&o);
    let released = held_at.elapsed();
    holder.wait().unwrap();
    println!("install-deps demo ran {took:?} under a 5-s lock:\n{out}");
    assert!(o.status.success(), "{}\n{out}", o.status);
    assert!(
        out.contains("Waiting for cache lock") && out.contains(&format!("process {}", holder.id())),
        "no word of the lock it waited for:\n{out}"
    );
    // It ended after the holder let go (4 s of the 5 are a safe margin for
    // the start-up before the holder's sleep began).
    assert!(
        took >= Duration::from_secs(4) && released >= Duration::from_secs(5),
        "ran only {took:?}: did it wait?\n{out}"
    );
}

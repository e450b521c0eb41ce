//! `vipctl hooks install|remove` under --root, shellcheck on every hook
//! script, and the scripts run as their runners would (networkd-dispatcher's
//! and ifupdown's variables) in a private network + mount namespace
//! (`unshare -m -n`, tmpfs on /run so nothing reaches the host's journal or
//! sockets; the hooks then log to stderr). Run as root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn vipctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vipctl")
}

fn vipctl(args: &[&str]) -> Output {
    Command::new(vipctl_bin()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dispatcher-hooks")
}

/// A fresh empty directory for one test, removed when the test ends
/// (also when it fails: the guard drops while unwinding).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("vipd-hooks-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

const DISPATCHER_FILES: [&str; 3] = [
    "etc/networkd-dispatcher/routable.d/50-vipd",
    "etc/networkd-dispatcher/configured.d/50-vipd",
    "etc/networkd-dispatcher/degraded.d/50-vipd",
];
const IFUPDOWN_FILES: [&str; 2] = ["etc/network/if-up.d/vipd", "etc/network/if-down.d/vipd"];

fn install(root: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["hooks", "install", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    vipctl(&args)
}

fn assert_root_0755(p: &Path) {
    let m = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(m.mode() & 0o7777, 0o755, "{}", p.display());
    assert_eq!((m.uid(), m.gid()), (0, 0), "{}", p.display());
}

#[test]
fn install_follows_detection_with_root_owned_0755_files() {
    let root = scratch("detect");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/networkd-dispatcher"), "").unwrap();
    // /etc/network alone (no ifup, no interfaces) is not ifupdown.
    fs::create_dir_all(root.join("etc/network")).unwrap();
    let out = install(&root, &[]);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}{}", text(&out.stderr));
    assert!(so.contains("found networkd-dispatcher"), "{so}");
    assert!(so.contains("no ifupdown"), "{so}");
    for f in DISPATCHER_FILES {
        let p = root.join(f);
        assert_root_0755(&p);
        assert_root_0755(p.parent().unwrap());
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            fs::read_to_string(hooks_dir().join("networkd-dispatcher/50-vipd")).unwrap()
        );
    }
    for f in IFUPDOWN_FILES {
        assert!(!root.join(f).exists(), "{f} installed without ifupdown");
    }
    // Now ifupdown appears: a second install adds its hooks, keeps the rest.
    fs::write(root.join("etc/network/interfaces"), "auto lo\n").unwrap();
    let out = install(&root, &[]);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}");
    assert_eq!(so.matches("unchanged ").count(), 3, "{so}");
    assert_eq!(so.matches("\ninstall ").count(), 2, "{so}");
    for f in IFUPDOWN_FILES {
        assert_root_0755(&root.join(f));
    }
    assert_eq!(
        fs::read_to_string(root.join(IFUPDOWN_FILES[1])).unwrap(),
        fs::read_to_string(hooks_dir().join("ifupdown/if-down.d/vipd")).unwrap()
    );
}

#[test]
fn install_is_idempotent_and_repairs_its_own_files() {
    let root = scratch("idem");
    fs::create_dir_all(root.join("sbin")).unwrap();
    fs::write(root.join("sbin/ifup"), "").unwrap();
    fs::create_dir_all(root.join("etc/networkd-dispatcher")).unwrap();
    assert!(install(&root, &[]).status.success());
    let ino = |f: &str| fs::metadata(root.join(f)).unwrap().ino();
    let before: Vec<u64> = DISPATCHER_FILES
        .iter()
        .chain(&IFUPDOWN_FILES)
        .map(|f| ino(f))
        .collect();
    let out = install(&root, &[]);
    let so = text(&out.stdout);
    assert!(out.status.success());
    assert_eq!(so.matches("unchanged ").count(), 5, "{so}");
    assert!(!so.contains("\ninstall "), "{so}");
    let after: Vec<u64> = DISPATCHER_FILES
        .iter()
        .chain(&IFUPDOWN_FILES)
        .map(|f| ino(f))
        .collect();
    assert_eq!(before, after, "unchanged files are not rewritten");
    // One of ours made group-writable (networkd-dispatcher would refuse
    // it) and one edited: both are put right.
    let p = root.join(DISPATCHER_FILES[0]);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o775)).unwrap();
    let q = root.join(IFUPDOWN_FILES[0]);
    let mut edited = fs::read_to_string(&q).unwrap();
    edited.push_str("# local edit\n");
    fs::write(&q, edited).unwrap();
    let out = install(&root, &[]);
    let so = text(&out.stdout);
    assert_eq!(so.matches("\ninstall ").count(), 2, "{so}");
    assert_root_0755(&p);
    assert!(!fs::read_to_string(&q).unwrap().contains("local edit"));
}

#[test]
fn foreign_file_refuses_the_whole_install() {
    let root = scratch("foreign");
    fs::create_dir_all(root.join("etc/network/if-down.d")).unwrap();
    fs::create_dir_all(root.join("etc/networkd-dispatcher")).unwrap();
    fs::write(root.join("etc/network/interfaces"), "").unwrap();
    let foreign = root.join("etc/network/if-down.d/vipd");
    fs::write(&foreign, "#!/bin/sh\necho mine\n").unwrap();
    let out = install(&root, &[]);
    let se = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        se.contains(foreign.to_str().unwrap()) && se.contains("not written by vipd"),
        "{se}"
    );
    assert_eq!(
        fs::read_to_string(&foreign).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    for f in DISPATCHER_FILES.iter().chain(&IFUPDOWN_FILES[..1]) {
        assert!(!root.join(f).exists(), "{f} written despite the refusal");
    }
}

#[test]
fn remove_takes_only_vipd_files() {
    let root = scratch("remove");
    assert!(
        install(
            &root,
            &["--only", "ifupdown", "--only", "networkd-dispatcher"]
        )
        .status
        .success()
    );
    let foreign = root.join(DISPATCHER_FILES[1]);
    fs::write(&foreign, "#!/bin/sh\n# someone else's\n").unwrap();
    let neighbour = root.join("etc/network/if-up.d/resolved");
    fs::write(&neighbour, "#!/bin/sh\n").unwrap();
    let dry = vipctl(&[
        "hooks",
        "remove",
        "--root",
        root.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(text(&dry.stdout).contains("would remove"));
    assert!(root.join(DISPATCHER_FILES[0]).exists(), "dry run removed");
    let out = vipctl(&["hooks", "remove", "--root", root.to_str().unwrap()]);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}{}", text(&out.stderr));
    assert!(
        so.contains("left") && so.contains("not written by vipd"),
        "{so}"
    );
    for f in [
        DISPATCHER_FILES[0],
        DISPATCHER_FILES[2],
        IFUPDOWN_FILES[0],
        IFUPDOWN_FILES[1],
    ] {
        assert!(!root.join(f).exists(), "{f} not removed");
    }
    assert!(foreign.exists() && neighbour.exists());
    // Nothing of ours left: a second remove says so and succeeds.
    let again = vipctl(&["hooks", "remove", "--root", root.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(!text(&again.stdout).contains("remove "));
}

#[test]
fn dry_run_and_nothing_detected_write_nothing() {
    let root = scratch("dry");
    let out = install(&root, &[]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("nothing to install"),
        "{}",
        text(&out.stdout)
    );
    assert!(!root.join("etc").exists());
    let out = install(&root, &["--only", "ifupdown", "--dry-run"]);
    let so = text(&out.stdout);
    assert!(so.contains("would install"), "{so}");
    assert!(!root.join("etc").exists(), "dry run wrote");
}

#[test]
fn shellcheck_passes_on_every_hook_script() {
    let mut scripts = Vec::new();
    let mut stack = vec![hooks_dir()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                scripts.push(p);
            }
        }
    }
    assert!(scripts.len() >= 3, "scripts: {scripts:?}");
    for s in &scripts {
        let out = Command::new("shellcheck")
            .args(["--shell=sh", "--severity=style"])
            .arg(s)
            .output()
            .expect("shellcheck must be installed (apt-get install shellcheck)");
        assert!(
            out.status.success(),
            "{}:\n{}",
            s.display(),
            text(&out.stdout)
        );
        let mode = fs::metadata(s).unwrap().mode();
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", s.display());
    }
}

/// Runs `script` with exactly `env` (as ifupdown does: a clean environment)
/// in a new network and mount namespace with a tmpfs on /run; `setup` runs
/// first in the same namespaces. Returns the output and how long the
/// script itself took (measured inside).
fn run_hook(setup: &str, script: &Path, env: &[(&str, &str)]) -> (Output, Duration) {
    let mut envs = String::new();
    for (k, v) in env {
        envs.push_str(&format!("{k}='{v}' "));
    }
    let body = format!(
        "set -e; mount -n -t tmpfs tmpfs /run; ip link set lo up; {setup}\n\
         set +e; s=$(date +%s%N); env -i {envs} /bin/sh {script}; rc=$?; e=$(date +%s%N)\n\
         echo \"hook-exit=$rc hook-ns=$((e - s))\"",
        script = script.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "-n", "--propagation", "private", "sh", "-c", &body])
        .output()
        .unwrap();
    let so = text(&out.stdout);
    let ns: u64 = so
        .lines()
        .find_map(|l| l.split("hook-ns=").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no timing in {so}\n{}", text(&out.stderr)));
    (out, Duration::from_nanos(ns))
}

const YAML: &str = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: 150\n    vips: [10.9.51.100/24]\n    vip_device: {kind: macvlan}\n";

#[test]
fn dispatcher_hook_recreates_the_macvlan_and_ignores_other_interfaces() {
    let dir = scratch("ndd");
    let config = dir.join("vipd.yaml");
    fs::write(&config, YAML).unwrap();
    let socket = dir.join("absent.sock");
    let script = hooks_dir().join("networkd-dispatcher/50-vipd");
    let env = |iface: &'static str| {
        vec![
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ("IFACE", iface),
            ("STATE", "routable"),
            ("AdministrativeState", "configured"),
            ("OperationalState", "routable"),
            ("IP_ADDRS", "10.9.51.1"),
            ("VIPCTL", vipctl_bin()),
            ("VIPD_CONFIG", config.to_str().unwrap()),
            ("VIPD_SOCKET", socket.to_str().unwrap()),
        ]
    };
    let setup =
        "ip link add eth0 type veth peer name eth1; ip link set eth0 up; ip link set eth1 up";
    // An interface vipd does not use: nothing created, nothing logged.
    let check = format!("{setup}; trap 'ip -o link show' EXIT");
    let (out, _) = run_hook(&check, &script, &env("eth1"));
    let so = text(&out.stdout);
    assert!(so.contains("hook-exit=0"), "{so}");
    assert!(!so.contains("vrrp.51"), "device created for eth1: {so}");
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    // eth0: the MACVLAN comes back with the virtual MAC; vipd not running
    // is logged, the hook still exits 0.
    let (out, _) = run_hook(&check, &script, &env("eth0"));
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert!(so.contains("hook-exit=0"), "{so}{se}");
    let line = so
        .lines()
        .find(|l| l.contains("vrrp.51@eth0"))
        .unwrap_or_else(|| panic!("no vrrp.51 on eth0:\n{so}\n{se}"));
    assert!(line.contains("00:00:5e:00:01:33"), "{line}");
    assert!(line.contains("UP"), "{line}");
    assert!(se.contains("vipd-hook: eth0 routable"), "{se}");
    assert!(se.contains("created vrrp.51 on eth0"), "{se}");
    assert!(se.contains("vipd is not running"), "{se}");
    // A state the hook does not handle (installed by hand in off.d): no-op.
    let mut off = env("eth0");
    off[2] = ("STATE", "off");
    let (out, _) = run_hook(&check, &script, &off);
    assert!(!text(&out.stdout).contains("vrrp.51"));
}

#[test]
fn hooks_do_not_block_on_a_hung_vipd() {
    let dir = scratch("hung");
    let config = dir.join("vipd.yaml");
    fs::write(&config, YAML).unwrap();
    // A listener that never answers: like a vipd stopped with SIGSTOP.
    let socket = dir.join("hung.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    for (script, env) in [
        (
            hooks_dir().join("networkd-dispatcher/50-vipd"),
            vec![
                ("IFACE", "eth0"),
                ("STATE", "configured"),
                ("VIPCTL", vipctl_bin()),
                ("VIPD_CONFIG", config.to_str().unwrap()),
                ("VIPD_SOCKET", socket.to_str().unwrap()),
            ],
        ),
        (
            hooks_dir().join("ifupdown/if-up.d/vipd"),
            vec![
                ("IFACE", "eth0"),
                ("MODE", "start"),
                ("PHASE", "post-up"),
                ("ADDRFAM", "inet"),
                ("METHOD", "static"),
                ("IF_VIPD_VIPCTL", vipctl_bin()),
                ("IF_VIPD_CONFIG", config.to_str().unwrap()),
                ("IF_VIPD_SOCKET", socket.to_str().unwrap()),
            ],
        ),
        (
            hooks_dir().join("ifupdown/if-down.d/vipd"),
            vec![
                ("IFACE", "eth0"),
                ("MODE", "stop"),
                ("PHASE", "pre-down"),
                ("ADDRFAM", "inet"),
                ("METHOD", "static"),
                ("IF_VIPD_VIPCTL", vipctl_bin()),
                ("IF_VIPD_CONFIG", config.to_str().unwrap()),
                ("IF_VIPD_SOCKET", socket.to_str().unwrap()),
            ],
        ),
    ] {
        let started = Instant::now();
        let (out, took) = run_hook("ip link add eth0 type veth peer name eth1", &script, &env);
        let (so, se) = (text(&out.stdout), text(&out.stderr));
        assert!(so.contains("hook-exit=0"), "{}: {so}{se}", script.display());
        assert!(se.contains("did not answer"), "{}: {se}", script.display());
        // vipctl gives up after 2 s; the hook's own bound is 5 s.
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
            "{}: took {took:?}",
            script.display()
        );
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}

#[test]
fn hold_and_resync_flags_are_checked() {
    let out = vipctl(&["hold", "--interface", "eth0", "--for-ms", "60001"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("60000"), "{}", text(&out.stderr));
    let out = vipctl(&["resync", "--create-devices"]);
    assert!(!out.status.success(), "--create-devices needs --interface");
    // Unused interface: quiet success without touching the socket.
    let dir = scratch("flags");
    let config = dir.join("vipd.yaml");
    fs::write(&config, YAML).unwrap();
    for args in [
        vec!["hold", "--interface", "eth9", "--config"],
        vec![
            "resync",
            "--interface",
            "eth9",
            "--create-devices",
            "--config",
        ],
    ] {
        let mut a = vec!["--socket", "/nonexistent/vipd.sock"];
        a.extend(args);
        a.push(config.to_str().unwrap());
        let out = vipctl(&a);
        assert!(out.status.success(), "{a:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{a:?}");
    }
    // A broken configuration is an error with its location.
    fs::write(&config, "instances: [").unwrap();
    let out = vipctl(&[
        "resync",
        "--interface",
        "eth0",
        "--create-devices",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(config.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
}

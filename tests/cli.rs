//! The command-line surface: what an operator types and reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vipctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Files for one test run, under cargo's per-target scratch directory
/// (target/tmp), not the host's /tmp.
fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vipd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived")
}

#[test]
fn check_accepts_a_valid_file() {
    let p = tmp(
        "ok.yaml",
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n",
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("OK (1 instance)"));
}

#[test]
fn check_names_file_line_column_and_the_fix() {
    let p = tmp(
        "bad.yaml",
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    advert_interval: 15ms\n    vips: [192.0.2.10/24]\n",
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{}:5:22: ", p.display())), "{err}");
    assert!(err.contains("multiple of 10ms"), "{err}");
    assert!(err.ends_with(": 1 error\n"), "{err}");

    let p = tmp(
        "typo.yaml",
        "instances:\n  - name: web\n    interfce: eth0\n",
    );
    let err = text(&vipctl(&["check", p.to_str().unwrap()]).stderr);
    assert!(
        err.contains(":3:")
            && err.contains("unknown field `interfce`")
            && err.contains("expected one of"),
        "{err}"
    );

    let err = text(&vipctl(&["check", "/nonexistent/vipd.yaml"]).stderr);
    assert!(err.contains("cannot read the configuration file"), "{err}");
}

/// The wire-variant fields (docs/wire-variants.md) are checked where they
/// stand, and an imported keepalived checksum keyword reads back.
#[test]
fn check_covers_the_wire_variant_fields() {
    let base =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
    let p = tmp(
        "wire-ok.yaml",
        &format!(
            "{base}    v3_ipv4_checksum: group_pseudo_header\n    v3_ipv4_checksum_accept: any\n    dscp: 46\n    lower_priority_master: ignore\n"
        ),
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p = tmp("wire-dscp.yaml", &format!("{base}    dscp: 192\n"));
    let err = text(&vipctl(&["check", p.to_str().unwrap()]).stderr);
    assert!(err.starts_with(&format!("{}:6:", p.display())), "{err}");
    assert!(err.contains("48 for CS6"), "{err}");
    let p = tmp(
        "wire-form.yaml",
        &format!("{base}    lower_priority_master: shout\n"),
    );
    let err = text(&vipctl(&["check", p.to_str().unwrap()]).stderr);
    assert!(
        err.contains(":6:") && err.contains("reassert") && err.contains("ignore"),
        "{err}"
    );
    let conf = tmp(
        "old-unicast.conf",
        "vrrp_instance web {\n  interface eth0\n  version 3\n  virtual_router_id 51\n  unicast_peer {\n    192.0.2.2\n  }\n  old_unicast_checksum\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n}\n",
    );
    let out = vipctl(&["import-keepalived", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains("v3_ipv4_checksum: group_pseudo_header"),
        "{yaml}"
    );
    let p = tmp("old-unicast.yaml", &yaml);
    assert!(vipctl(&["check", p.to_str().unwrap()]).status.success());
}

#[test]
fn check_never_panics_on_garbage() {
    for (i, junk) in [
        "",
        "\0\0\0",
        "[",
        "instances: 5",
        "instances:\n  - 7\n",
        "- - - -",
        "instances: [{name: a, vrid: -1}]",
    ]
    .iter()
    .enumerate()
    {
        let p = tmp(&format!("junk{i}.yaml"), junk);
        let out = vipctl(&["check", p.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{junk:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"), "{junk:?}");
    }
}

#[test]
fn import_keepalived_prints_yaml_and_names_what_it_drops() {
    let out = vipctl(&[
        "import-keepalived",
        fixtures().join("seed003_master.conf").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    let expected =
        std::fs::read_to_string(fixtures().join("seed003_master.expected.yaml")).unwrap();
    assert_eq!(yaml, expected);
    let err = text(&out.stderr);
    // AH is carried over (no warning); state MASTER, which keepalived
    // ignores with AH, and smtp_alert are named.
    assert!(yaml.contains("auth_type: ah"), "{yaml}");
    assert!(
        !err.contains("auth_type AH") && err.contains("state MASTER") && err.contains("smtp_alert"),
        "{err}"
    );
    for line in err.lines() {
        assert!(
            line.starts_with("warning: "),
            "every stderr line is a warning: {line}"
        );
    }
    // What it prints is a valid vipd configuration.
    let p = tmp("imported.yaml", &yaml);
    assert!(vipctl(&["check", p.to_str().unwrap()]).status.success());
}

#[test]
fn import_keepalived_every_fixture_round_trips() {
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "conf") {
            continue;
        }
        let out = vipctl(&["import-keepalived", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        let expected = std::fs::read_to_string(path.with_extension("expected.yaml")).unwrap();
        assert_eq!(text(&out.stdout), expected, "{}", path.display());
    }
}

/// Seed 003's main file verbatim includes /etc/keepalived/conf.d/*.conf:
/// on a host without it, the include is reported next to the error; with
/// `--root` the copy of the tree imports as on its host.
#[test]
fn import_keepalived_root_and_unmatched_includes() {
    let root = fixtures().join("seed003_root");
    let main = root.join("etc/keepalived/keepalived.conf");
    let out = vipctl(&["import-keepalived", main.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "warning: {}:14: include /etc/keepalived/conf.d/*.conf: no file matches \"/etc/keepalived/conf.d/*.conf\"; skipped (keepalived skips it too)",
            main.display()
        )
    );
    assert!(
        lines[1].contains("nothing to import; 1 include matched no file")
            && lines[1].ends_with("import with --root DIR, DIR standing for that host's /"),
        "{err}"
    );

    let out = vipctl(&[
        "import-keepalived",
        "--root",
        root.to_str().unwrap(),
        "/etc/keepalived/keepalived.conf",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected =
        std::fs::read_to_string(fixtures().join("seed003_global_defs.expected.yaml")).unwrap();
    assert_eq!(text(&out.stdout), expected);

    let out = vipctl(&[
        "import-keepalived",
        "--root",
        root.to_str().unwrap(),
        "/etc/keepalived/nothere.conf",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("/etc/keepalived/nothere.conf: cannot read the keepalived configuration /etc/keepalived/nothere.conf (under --root ")
            && err.contains(&format!("{}): No such file", root.join("etc/keepalived/nothere.conf").display())),
        "{err}"
    );
    let out = vipctl(&[
        "import-keepalived",
        "--root",
        "/nonexistent/root",
        "/x.conf",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--root /nonexistent/root: not a directory"));
}

#[test]
fn import_keepalived_errors_carry_file_and_line() {
    let p = fixtures().join("errors/seed001_garbled_ipvlan.conf");
    let out = vipctl(&["import-keepalived", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("seed001_garbled_ipvlan.conf:8:"), "{err}");
}

/// `--socket` is offered only where vipctl talks to vipd (issue 13): not
/// by check, import-keepalived or the other file commands, in their help,
/// man pages and completions; given to them anyway, it is a usage error
/// rather than silently ignored.
#[test]
fn socket_is_offered_only_by_the_commands_that_talk_to_vipd() {
    let file_commands: &[&[&str]] = &[
        &["check"],
        &["import-keepalived"],
        &["networkd", "install"],
        &["hooks", "install"],
        &["migrate-ifupdown"],
        &["probe"],
    ];
    for sub in file_commands {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = vipctl(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        assert!(
            !help.contains("--socket"),
            "{args:?} offers --socket:\n{help}"
        );
    }
    let config = tmp(
        "socket.yaml",
        "instances: [{name: a, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}]\n",
    );
    let out = vipctl(&[
        "--socket",
        "/nonexistent/vipd.sock",
        "check",
        "--offline",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("remove --socket"),
        "{}",
        text(&out.stderr)
    );
    // Without it the same check passes: the refusal is --socket's.
    let out = vipctl(&["check", "--offline", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The commands that talk to vipd still take it, before the subcommand.
    for sub in ["status", "watch", "reload", "cleanup", "resync", "hold"] {
        let out = vipctl(&["--socket", "/x", sub, "--help"]);
        assert!(out.status.success(), "{sub}: {}", text(&out.stderr));
    }
    assert!(text(&vipctl(&["--help"]).stdout).contains("--socket"));
    // Generated pages and completions agree.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vipd-cli-assets-{}", std::process::id()));
    let out = vipctl(&["generate-assets", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in ["vipctl-check.8", "vipctl-import-keepalived.8"] {
        let roff = std::fs::read_to_string(dir.join("man").join(page)).unwrap();
        // The page's synopsis and options (its EXIT STATUS may say that
        // --socket is refused).
        let start = roff.find(".SH SYNOPSIS").expect("SYNOPSIS");
        let end = roff[start..]
            .find(".SH EXIT STATUS")
            .map_or(roff.len(), |i| start + i);
        assert!(
            !roff[start..end].contains("socket"),
            "{page} offers --socket:\n{}",
            &roff[start..end]
        );
    }
    let fish = std::fs::read_to_string(dir.join("completions/fish/vipctl.fish")).unwrap();
    for line in fish.lines().filter(|l| l.contains("-l socket")) {
        // Offered before the subcommand only, never inside one.
        assert!(
            line.contains("__fish_vipctl_needs_command"),
            "fish offers --socket inside a subcommand: {line}"
        );
    }
    assert!(fish.contains("-l socket"), "fish lost --socket altogether");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_without_a_daemon_says_what_to_check() {
    let out = vipctl(&["--socket", "/nonexistent/vipd.sock", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot connect to /nonexistent/vipd.sock") && err.contains("is vipd running"),
        "{err}"
    );
}

/// What the daemon refuses, `vipctl check` refuses the same way (one
/// loader): a nesting bomb (8.5 s in the YAML scanner before the check), a
/// FIFO (would block until a writer came), a directory, an oversized file.
#[test]
fn check_refuses_what_cannot_be_a_configuration_at_once() {
    let bomb = tmp(
        "bomb.yaml",
        &format!("instances: {}{}\n", "[".repeat(40_000), "]".repeat(40_000)),
    );
    let started = std::time::Instant::now();
    let out = vipctl(&["check", bomb.to_str().unwrap()]);
    println!("vipctl check of the nesting bomb: {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:1:75: nested deeper than 64 levels",
            bomb.display()
        )),
        "{err}"
    );
    let fifo = bomb.with_file_name("fifo.yaml");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = vipctl(&["check", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is a FIFO (named pipe), not a regular file"));
    let dir = bomb.parent().unwrap();
    let out = vipctl(&["check", dir.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("is a directory"));
    let big = tmp("big.yaml", &"#".repeat(1024 * 1024 + 1));
    let out = vipctl(&["check", big.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("larger than 1048576 bytes"));
}

/// A closed pipe is not an error (docs/robustness.md), but output lost
/// otherwise is: it fails the command, said once.
#[test]
fn output_to_a_full_disk_fails_the_command() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("units/examples/vipd.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(["check", "--offline", example.to_str().unwrap()])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "vipctl: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn vipd_refuses_a_bad_config_before_touching_anything() {
    let p = tmp("bad-daemon.yaml", "instances: []\n");
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args([
            "--config",
            p.to_str().unwrap(),
            "--control-socket",
            "/nonexistent/dir/x.sock",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("instances is empty"), "{err}");

    // Every error listed, not only the first.
    let p = tmp(
        "bad-daemon2.yaml",
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 0\n    priority: 300\n    vips: [192.0.2.10/24]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args([
            "--config",
            p.to_str().unwrap(),
            "--control-socket",
            "/nonexistent/dir/x.sock",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let f = p.display();
    assert!(
        err.contains(&format!("{f}:4:11: instances[0].vrid: vrid 0 is out of range 1-255\n{f}:5:15: instances[0].priority: priority 300"))
            && err.contains("2 errors"),
        "{err}"
    );
}

/// `vipctl check FILE`: its exit code and its stderr, each line with the
/// file's path replaced by `F`.
fn check_file(name: &str, content: &str, extra: &[&str]) -> (Option<i32>, Vec<String>) {
    let p = tmp(name, content);
    let mut args = vec!["check", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = vipctl(&args);
    let f = p.display().to_string();
    let lines = text(&out.stderr)
        .lines()
        .map(|l| l.replace(&f, "F"))
        .collect();
    (out.status.code(), lines)
}

const WEB: &str =
    "instances:\n  - name: web\n    interface: lo\n    vrid: 51\n    vips: [192.0.2.10/24]\n";

#[test]
fn check_reports_every_error_sorted_with_a_count() {
    let (code, err) = check_file(
        "many.yaml",
        "instances:\n  - name: web\n    interface: lo\n    vrid: 0\n    priority: 300\n    advert_intervall: 1s\n    vips: [192.0.2.10/24]\n  - name: db\n    interface: lo\n    vrid: 52\n    version: 2\n    vips: [2001:db8::1/64]\n    advert_interval: 100ms\n",
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:4:11: instances[0].vrid: vrid 0 is out of range 1-255",
            "F:5:15: instances[0].priority: priority 300 is out of range 1-255: use 1-254 for backups, 255 only on the router that owns the addresses",
            "F:6:5: instances[0]: unknown field `advert_intervall` (did you mean `advert_interval`?), expected one of `name`, `interface`, `vrid`, `version`, `priority`, `preempt`, `preempt_delay`, `advert_interval`, `initial_state`, `auth_type`, `found_vips`, `auth_pass`, `vips`, `excluded_vips`, `unicast`, `garp`, `vip_device`, `track`, `notify`, `units`, `v3_ipv4_checksum`, `v3_ipv4_checksum_accept`, `dscp`, `lower_priority_master`",
            "F:12:11: instance \"db\": VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips",
            "F:13:22: instance \"db\": advert_interval 100ms is not valid for VRRPv2: use whole seconds 1s-255s (RFC 3768 5.3.7), or version: 3 for sub-second intervals",
            "F: 5 errors",
        ]
    );
}

#[test]
fn check_points_cross_instance_errors_at_the_offending_value() {
    let second = |name: &str, vrid: u8| {
        format!(
            "  - name: {name}\n    interface: lo\n    vrid: {vrid}\n    vips: [192.0.2.11/24]\n"
        )
    };
    let (code, err) = check_file("dup-vrid.yaml", &format!("{WEB}{}", second("api", 51)), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:8:11: instances \"web\" and \"api\" both use vrid 51 for IPv4 on lo: give one of them another vrid",
            "F: 1 error",
        ]
    );
    let (code, err) = check_file("dup-name.yaml", &format!("{WEB}{}", second("web", 52)), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:6:11: instances[1]: name \"web\" is already used by instances[0]: names must be unique",
            "F: 1 error",
        ]
    );
    let (code, err) = check_file(
        "v2-v6.yaml",
        &format!(
            "{WEB}  - name: db\n    interface: lo\n    version: 2\n    vrid: 52\n    vips: [192.0.2.11/24, 2001:db8::1/64]\n"
        ),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:10:11: instance \"db\": VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips",
            "F: 1 error",
        ]
    );
}

#[test]
fn check_explains_mis_indented_lines() {
    let (code, err) = check_file(
        "indent-deeper.yaml",
        &WEB.replace("vrid: 51\n", "vrid: 51\n      priority: 100\n"),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:5:7: this looks mis-indented: `priority` is indented as part of `vrid`'s value; align it with `vrid` (read as: instances[0].vrid: invalid type: string \"51 priority\", expected vrid between 1 and 255)",
            "F: 1 error",
        ]
    );
    let (code, err) = check_file(
        "indent-less.yaml",
        &WEB.replace("    vips:", "   vips:"),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        [
            "F:5:4: this looks mis-indented: `vips` is indented less than the instance's other keys; align it with `vrid` (read as: instances[0]: missing field `vips`)",
            "F: 1 error",
        ]
    );
}

#[test]
fn check_warns_of_an_interface_absent_from_this_host() {
    let (code, err) = check_file(
        "lo0.yaml",
        &WEB.replace("interface: lo", "interface: lo0"),
        &[],
    );
    assert_eq!(code, Some(0), "{err:?}");
    assert_eq!(
        err,
        [
            "F:3:16: warning: interface \"lo0\" of instance \"web\" does not exist on this host (did you mean \"lo\"?): vipd would wait for it to appear (--offline skips this check)"
        ]
    );
    let (code, err) = check_file(
        "lo0-offline.yaml",
        &WEB.replace("interface: lo", "interface: lo0"),
        &["--offline"],
    );
    assert_eq!((code, err), (Some(0), Vec::<String>::new()));
    let (code, err) = check_file("lo.yaml", WEB, &[]);
    assert_eq!((code, err), (Some(0), Vec::<String>::new()));
}

#[test]
fn networkd_install_and_remove_on_a_copy_of_a_system() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vipd-cli-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("run/systemd/network")).unwrap();
    std::fs::write(
        root.join("run/systemd/network/10-netplan-eth0.network"),
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
    )
    .unwrap();
    let cfg = root.join("vipd.yaml");
    std::fs::write(
        &cfg,
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n    vip_device: {kind: macvlan}\n",
    )
    .unwrap();
    let (r, c) = (root.to_str().unwrap(), cfg.to_str().unwrap());
    let dropin = root.join("etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf");

    let out = vipctl(&[
        "networkd",
        "install",
        "--config",
        c,
        "--root",
        r,
        "--systemd-version",
        "252",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("would write /etc/systemd/network/60-vipd-vrrp.51.netdev"),
        "{}",
        text(&out.stdout)
    );
    assert!(!dropin.exists(), "a dry run writes nothing");

    let out = vipctl(&[
        "networkd",
        "install",
        "--config",
        c,
        "--root",
        r,
        "--systemd-version",
        "252",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d = std::fs::read_to_string(&dropin).unwrap();
    assert!(d.starts_with("# Written by vipd"), "{d}");
    // The VIPs live on the MACVLAN (its own .network keeps them): the parent
    // only attaches it.
    assert!(
        d.contains("MACVLAN=vrrp.51") && !d.contains("KeepConfiguration"),
        "{d}"
    );
    let dev =
        std::fs::read_to_string(root.join("etc/systemd/network/60-vipd-vrrp.51.network")).unwrap();
    assert!(
        dev.contains("KeepConfiguration=yes") && dev.contains("LinkLocalAddressing=no"),
        "{dev}"
    );
    let netdev =
        std::fs::read_to_string(root.join("etc/systemd/network/60-vipd-vrrp.51.netdev")).unwrap();
    assert!(netdev.contains("MACAddress=00:00:5e:00:01:33"), "{netdev}");
    let again = vipctl(&[
        "networkd",
        "install",
        "--config",
        c,
        "--root",
        r,
        "--systemd-version",
        "252",
    ]);
    assert!(
        text(&again.stdout).contains("nothing changed"),
        "{}",
        text(&again.stdout)
    );

    let out = vipctl(&["networkd", "remove", "--root", r]);
    assert!(out.status.success());
    assert!(
        !dropin.exists()
            && !root
                .join("etc/systemd/network/60-vipd-vrrp.51.netdev")
                .exists()
    );
    assert!(
        root.join("run/systemd/network/10-netplan-eth0.network")
            .exists(),
        "netplan's file is not vipd's"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A stand-in for vipd's control socket that answers a watch request with
/// `lines` and then closes the stream (or keeps writing, `endless`).
fn fake_watch_daemon(name: &str, lines: Vec<String>, endless: bool) -> PathBuf {
    use std::io::{BufRead, BufReader, Write};
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vipd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut request = String::new();
        BufReader::new(&stream).read_line(&mut request).unwrap();
        assert_eq!(request, "{\"cmd\":\"watch\"}\n");
        let mut w = &stream;
        for l in &lines {
            let _ = writeln!(w, "{l}");
        }
        let mut seq = 100;
        while endless
            && writeln!(
                w,
                "{{\"seq\":{seq},\"time\":1.0,\"event\":\"vips_restored\",\"instance\":\"web\"}}"
            )
            .is_ok()
        {
            seq += 1;
        }
    });
    path
}

const SNAPSHOT: &str = r#"{"event":"snapshot","seq":5,"time":1.0,"status":{"router_id":null,"config_path":"/etc/vipd/vipd.yaml","pid":1,"instances":[],"unmatched_drops":{},"networkd":"connected"}}"#;
const TRANSITION: &str = r#"{"seq":6,"time":1.5,"event":"transition","instance":"web","from":"BACKUP","to":"MASTER","reason":"master_down"}"#;

#[test]
fn watch_prints_each_event_and_ends_with_the_stream() {
    let lines = vec![
        SNAPSHOT.to_string(),
        TRANSITION.to_string(),
        r#"{"event":"lagged","missed":3}"#.to_string(),
    ];
    let sock = fake_watch_daemon("watch-text.sock", lines.clone(), false);
    let out = vipctl(&["--socket", sock.to_str().unwrap(), "watch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), 3, "{printed:?}");
    assert!(
        printed[0].starts_with("#5 ") && printed[0].ends_with(" now: no instances"),
        "{printed:?}"
    );
    assert!(
        printed[1].starts_with("#6 ")
            && printed[1].ends_with(".500 web BACKUP -> MASTER (master_down)"),
        "{printed:?}"
    );
    assert!(printed[2].contains("3 event(s) missed"), "{printed:?}");
    // --json: the lines as they came.
    let sock = fake_watch_daemon("watch-json.sock", lines.clone(), false);
    let out = vipctl(&["--socket", sock.to_str().unwrap(), "watch", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), lines.join("\n") + "\n");
}

#[test]
fn watch_stops_quietly_when_stdout_closes() {
    use std::io::{BufRead, BufReader};
    let sock = fake_watch_daemon("watch-pipe.sock", vec![SNAPSHOT.to_string()], true);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(["--socket", sock.to_str().unwrap(), "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("#5 "), "{first}");
    // The reader is gone (like `vipctl watch | head -1`): no panic, exit 0.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn watch_without_a_daemon_says_what_to_check() {
    let out = vipctl(&["--socket", "/nonexistent/vipd.sock", "watch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is vipd running"));
}

/// `metrics:` is checked where it stands: a non-loopback address needs
/// `allow_remote: true`, and a valid listener is named in the answer.
#[test]
fn check_covers_the_metrics_listener() {
    let base =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
    let p = tmp(
        "metrics-ok.yaml",
        &format!("{base}metrics:\n  listen: \"[::1]:9100\"\n"),
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("metrics: served on http://[::1]:9100/metrics"),
        "{}",
        text(&out.stdout)
    );
    let p = tmp(
        "metrics-remote.yaml",
        &format!("{base}metrics:\n  listen: 0.0.0.0:9638\n"),
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{}:7:", p.display())), "{err}");
    assert!(err.contains("allow_remote: true"), "{err}");
    let p = tmp(
        "metrics-remote-ok.yaml",
        &format!("{base}metrics:\n  listen: 0.0.0.0:9638\n  allow_remote: true\n"),
    );
    let out = vipctl(&["check", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

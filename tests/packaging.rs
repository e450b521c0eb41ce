//! What the Debian package is made of, checked without building it: the
//! unit against the binaries' real flags and `systemd-analyze verify`, the
//! example configuration, the generated man pages and completions, and the
//! maintainer scripts' behaviour (with stub systemd helpers, in a private
//! mount namespace so the host's /etc and /run are never touched).
//! The built .deb itself is checked by .ci/check-deb. Run as root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vipd::config::{Config, DEFAULT_CONFIG_PATH};
use vipd::control::DEFAULT_SOCKET_PATH;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory for one test.
fn tmpdir(name: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vipd-packaging-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn unit() -> String {
    std::fs::read_to_string(repo("units/vipd.service")).unwrap()
}

/// Values of `key=` in the unit, in order.
fn unit_values(key: &str) -> Vec<String> {
    unit()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
        .collect()
}

fn unit_value(key: &str) -> String {
    let v = unit_values(key);
    assert_eq!(v.len(), 1, "{key}= must appear exactly once: {v:?}");
    v[0].clone()
}

fn require_tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` not found: install it (.ci/run's packages); refusing to skip"
    );
}

#[test]
fn example_config_validates() {
    let path = repo("units/examples/vipd.yaml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cfg.instances.len() >= 2,
        "the example shows several instances"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn unit_runs_the_binaries_with_flags_they_have() {
    // ExecStart: /usr/sbin/vipd with the default paths spelt out.
    let start = unit_value("ExecStart");
    let words: Vec<&str> = start.split_whitespace().collect();
    assert_eq!(words[0], "/usr/sbin/vipd");
    let arg = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    assert_eq!(arg("--config"), Some(DEFAULT_CONFIG_PATH));
    assert_eq!(arg("--control-socket"), Some(DEFAULT_SOCKET_PATH));
    let help = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("--help")
        .output()
        .unwrap();
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(
            text(&help).contains(flag),
            "vipd has no {flag}:\n{}",
            text(&help)
        );
    }
    assert_eq!(
        unit_value("ConditionPathExists"),
        DEFAULT_CONFIG_PATH,
        "the unit waits for the configuration vipd reads"
    );
    // The control socket lives in the RuntimeDirectory systemd creates.
    assert_eq!(
        Path::new(DEFAULT_SOCKET_PATH).parent(),
        Some(
            Path::new("/run")
                .join(unit_value("RuntimeDirectory"))
                .as_path()
        )
    );

    // ExecReload: vipctl reload on the same socket (synchronous, fails on
    // an invalid configuration).
    let reload = unit_value("ExecReload");
    assert_eq!(
        reload,
        format!("/usr/sbin/vipctl --socket {DEFAULT_SOCKET_PATH} reload")
    );
    // ExecStopPost: vipctl cleanup on the same socket and configuration,
    // deciding by this unit's Restart= (%n), never failing the unit.
    assert_eq!(
        unit_value("ExecStopPost"),
        format!(
            "-/usr/sbin/vipctl --socket {DEFAULT_SOCKET_PATH} cleanup --config {DEFAULT_CONFIG_PATH} --unit %n"
        )
    );
    // Once systemd gives up restarting vipd, the cleanup unit removes what
    // the last crash left; it runs the same command (no $SERVICE_RESULT
    // there: it removes).
    assert_eq!(unit_value("OnFailure"), "vipd-cleanup.service");
    let cleanup_unit = std::fs::read_to_string(repo("units/vipd-cleanup.service")).unwrap();
    assert!(
        cleanup_unit.lines().any(|l| l
            == format!(
                "ExecStart=/usr/sbin/vipctl --socket {DEFAULT_SOCKET_PATH} cleanup --config {DEFAULT_CONFIG_PATH} --unit vipd.service"
            )),
        "{cleanup_unit}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(["cleanup", "--help"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && text(&out).contains("--config") && text(&out).contains("--unit"),
        "vipctl cleanup takes the unit's flags: {}",
        text(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(["--socket", "/nonexistent/vipd.sock", "reload"])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && !text(&out).contains("unexpected argument"),
        "vipctl accepts the reload command line and fails without a daemon: {}",
        text(&out)
    );
}

#[test]
fn unit_is_notify_with_watchdog_and_hardened() {
    assert_eq!(unit_value("Type"), "notify");
    assert_eq!(unit_value("Restart"), "on-failure");
    assert!(unit_value("WatchdogSec").ends_with('s'));
    // Scripts run as the script user: setuid/setgid, and kill at timeout.
    assert_eq!(
        unit_value("CapabilityBoundingSet"),
        "CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL"
    );
    assert_eq!(
        unit_value("AmbientCapabilities"),
        "CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL"
    );
    assert_eq!(
        unit_values("SystemCallFilter"),
        ["@system-service", "~@privileged @resources", "@setuid"],
        "the script user switch is allowed after the privileged set is denied"
    );
    assert_eq!(
        unit_value("RestrictAddressFamilies"),
        "AF_INET AF_INET6 AF_PACKET AF_NETLINK AF_UNIX"
    );
    // Set on purpose, not systemd's 1,024 default: see the unit's comment
    // and docs/robustness.md. Well above the control connections vipd
    // serves at once (64) plus its sockets and scripts.
    let nofile: u64 = unit_value("LimitNOFILE")
        .parse()
        .expect("LimitNOFILE= is one number (soft = hard)");
    assert!(nofile >= 4096, "LimitNOFILE={nofile}");
    assert_eq!(unit_value("NoNewPrivileges"), "yes");
    assert_eq!(unit_value("ProtectSystem"), "strict");
    assert_eq!(unit_value("ProtectHome"), "yes");
    assert_eq!(unit_value("PrivateTmp"), "yes");
    // networkd.manage_files writes there.
    assert_eq!(unit_value("ReadWritePaths"), "-/etc/systemd/network");
    // vipd writes net sysctls for MACVLAN devices (arp_ignore, ...): a
    // read-only /proc/sys would break them.
    assert!(
        unit_values("ProtectKernelTunables")
            .iter()
            .all(|v| v == "no"),
        "ProtectKernelTunables would make /proc/sys/net read-only"
    );
    let src = std::fs::read_to_string(repo("src/io/sysctl.rs")).unwrap();
    assert!(
        src.contains("/proc/sys/"),
        "if vipd no longer writes sysctls, ProtectKernelTunables=yes can be added"
    );
    for (key, want) in [
        ("After", "systemd-networkd.service"),
        ("After", "network-online.target"),
        ("Wants", "network-online.target"),
        ("WantedBy", "multi-user.target"),
    ] {
        assert!(
            unit_values(key)
                .iter()
                .any(|v| v.split_whitespace().any(|w| w == want)),
            "{key}= lacks {want}"
        );
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    require_tool("systemd-analyze");
    // The installed unit points at /usr/sbin; verify a copy pointing at the
    // binaries just built (verify checks that executables exist). Man pages
    // are not installed here: --man=no (.ci/check-deb verifies the
    // installed unit with its man pages).
    let dir = tmpdir("verify");
    let copy = unit()
        .replace(
            "/usr/sbin/vipd ",
            &format!("{} ", env!("CARGO_BIN_EXE_vipd")),
        )
        .replace(
            "/usr/sbin/vipctl ",
            &format!("{} ", env!("CARGO_BIN_EXE_vipctl")),
        );
    let path = dir.join("vipd.service");
    std::fs::write(&path, copy).unwrap();
    // The OnFailure= cleanup unit, beside it (verify loads it from there).
    let cleanup = std::fs::read_to_string(repo("units/vipd-cleanup.service"))
        .unwrap()
        .replace(
            "/usr/sbin/vipctl ",
            &format!("{} ", env!("CARGO_BIN_EXE_vipctl")),
        );
    let cleanup_path = dir.join("vipd-cleanup.service");
    std::fs::write(&cleanup_path, cleanup).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .arg(&cleanup_path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify: {}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh `tmpdir(name)` with the man pages and completions both binaries
/// generate (`vipd --generate-assets`, `vipctl generate-assets --out`), as
/// `.ci/build-deb` makes them.
fn generated_assets(name: &str) -> PathBuf {
    let dir = tmpdir(name);
    for (bin, args) in [
        (env!("CARGO_BIN_EXE_vipd"), vec!["--generate-assets"]),
        (
            env!("CARGO_BIN_EXE_vipctl"),
            vec!["generate-assets", "--out"],
        ),
    ] {
        let out = Command::new(bin).args(&args).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{bin}: {}", text(&out));
    }
    dir
}

#[test]
fn man_pages_and_completions_from_clap() {
    let dir = generated_assets("assets");
    let read =
        |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    for bin in ["vipd", "vipctl"] {
        let page = read(&format!("man/{bin}.8"));
        assert!(page.contains(&format!(".TH {bin} 8")), "{page}");
        read(&format!("completions/bash/{bin}"));
        read(&format!("completions/zsh/_{bin}"));
        read(&format!("completions/fish/{bin}.fish"));
    }
    // One page per visible vipctl subcommand, named in vipctl(8).
    let main = read("man/vipctl.8");
    for sub in [
        "status",
        "watch",
        "reload",
        "resync",
        "check",
        "networkd",
        "import-keepalived",
    ] {
        read(&format!("man/vipctl-{sub}.8"));
        // roff escapes every '-'.
        let roff = format!("vipctl-{sub}(8)").replace('-', "\\-");
        assert!(main.contains(&roff), "vipctl.8 lacks {roff}");
        assert!(read("completions/bash/vipctl").contains(sub));
    }
    read("man/vipctl-networkd-install.8");
    // vipd.yaml(5), from the configuration's reference table (whose keys
    // src/config/reference.rs's tests hold to the code).
    let config_page = read("man/vipd.yaml.5");
    assert!(config_page.starts_with(".TH VIPD.YAML 5"), "{config_page}");
    for key in [
        "advert_interval",
        "second_burst_after",
        "min_count",
        "manage_files",
    ] {
        assert!(
            config_page.contains(&format!("\\fB{key}\\fR")),
            "vipd.yaml.5 lacks {key}"
        );
    }
    assert!(read("man/vipd.8").contains("\\-\\-control\\-socket"));
    // The hidden packaging command/flag shows up nowhere.
    let mut files = 0;
    for sub in [
        "man",
        "completions/bash",
        "completions/zsh",
        "completions/fish",
    ] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let t = std::fs::read_to_string(&p).unwrap();
            assert!(
                !t.contains("generate"),
                "{} mentions generate-assets",
                p.display()
            );
            files += 1;
        }
    }
    assert!(files >= 17, "{files} files");
    // The bash completion is valid bash.
    let out = Command::new("bash")
        .arg("-n")
        .arg(dir.join("completions/bash/vipctl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // An unwritable destination is an error naming the path, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_vipctl"))
        .args(["generate-assets", "--out", "/proc/vipd-no-such-dir"])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && text(&out).contains("/proc/vipd-no-such-dir"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// vipd(8) and every vipctl page say more than --help: each exit status
/// the binaries return (enumerated from `vipd::exit::Exit`, the type they
/// return them through), and for vipd the signals (from the daemon's own
/// table), files, environment and what it changes on the host.
#[test]
fn man_pages_have_exit_status_signals_and_files() {
    use vipd::exit::Exit;
    let dir = generated_assets("sections");
    let section = |page: &str, title: &str| -> Option<String> {
        let start = page.find(&format!(".SH {title}\n"))?;
        let rest = &page[start + 4..];
        Some(rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string())
    };
    let mut pages = 0;
    for e in std::fs::read_dir(dir.join("man")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "8") {
            continue;
        }
        let page = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let exit =
            section(&page, "EXIT STATUS").unwrap_or_else(|| panic!("{name} has no EXIT STATUS"));
        for e in Exit::ALL {
            assert!(
                exit.contains(&format!(".TP\n\\fB{}\\fR\n", e.code())),
                "{name}: EXIT STATUS lacks {}",
                e.code()
            );
        }
        assert!(section(&page, "SEE ALSO").is_some(), "{name}: no SEE ALSO");
        pages += 1;
    }
    assert!(pages >= 15, "{pages} pages");
    let vipd = std::fs::read_to_string(dir.join("man/vipd.8")).unwrap();
    let signals = section(&vipd, "SIGNALS").expect("vipd.8: SIGNALS");
    for (name, _) in vipd::daemon::SIGNALS {
        assert!(signals.contains(name), "vipd.8: SIGNALS lacks {name}");
    }
    for s in ["SIGHUP", "SIGTERM", "SIGINT", "SIGKILL"] {
        assert!(signals.contains(s), "vipd.8: SIGNALS lacks {s}");
    }
    let files = section(&vipd, "FILES").expect("vipd.8: FILES");
    for f in [
        DEFAULT_CONFIG_PATH,
        DEFAULT_SOCKET_PATH,
        vipd::networkd::ETC_NETWORK_DIR,
    ] {
        assert!(files.contains(f), "vipd.8: FILES lacks {f}");
    }
    let host = section(&vipd, "WHAT IT CHANGES ON THE HOST").expect("vipd.8: host changes");
    for (what, _) in vipd::daemon::HOST_CHANGES {
        assert!(host.contains(what), "vipd.8: host changes lack {what}");
    }
    for (key, value) in vipd::io::vip_device::MACVLAN_PARENT_SYSCTLS
        .iter()
        .chain(vipd::io::vip_device::IPVLAN_PARENT_SYSCTLS.iter())
    {
        assert!(
            host.contains(&format!("{key}={value}")),
            "vipd.8 lacks {key}"
        );
    }
    let env = section(&vipd, "ENVIRONMENT").expect("vipd.8: ENVIRONMENT");
    assert!(env.contains("RUST_LOG") && env.contains("NOTIFY_SOCKET"));
    let status = std::fs::read_to_string(dir.join("man/vipctl-status.8")).unwrap();
    assert!(section(&status, "CONTROL SOCKET").is_some());
    let check = std::fs::read_to_string(dir.join("man/vipctl-check.8")).unwrap();
    assert!(section(&check, "CONTROL SOCKET").is_none());
    let _ = std::fs::remove_dir_all(&dir);

    // The statuses the pages list are the ones the binaries return.
    let code = |bin: &str, args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let vipd_bin = env!("CARGO_BIN_EXE_vipd");
    let vipctl_bin = env!("CARGO_BIN_EXE_vipctl");
    let usage = Some(i32::from(Exit::Usage.code()));
    let failure = Some(i32::from(Exit::Failure.code()));
    assert_eq!(code(vipd_bin, &["--no-such-option"]).status.code(), usage);
    assert_eq!(
        code(vipd_bin, &["--log-level", "=[", "--config", "/nonexistent"])
            .status
            .code(),
        usage
    );
    assert_eq!(
        code(
            vipd_bin,
            &[
                "--config",
                "/nonexistent/vipd.yaml",
                "--control-socket",
                "/nonexistent/s"
            ]
        )
        .status
        .code(),
        failure
    );
    assert_eq!(code(vipctl_bin, &["no-such-command"]).status.code(), usage);
    assert_eq!(
        code(
            vipctl_bin,
            &["check", "--offline", "/nonexistent/vipd.yaml"]
        )
        .status
        .code(),
        failure
    );
}

/// A source install (packaging/install-from-source) ends with a unit that
/// runs the binaries where they were installed, with no hand edit: staged
/// into a throw-away root (--destdir), the installed units pass
/// `systemd-analyze verify --root` there (which checks that every Exec*
/// command exists and is executable in that root, and, with MANPATH, that
/// the Documentation= man pages exist), for the default prefix and another.
/// The packaged unit, pointing at /usr/sbin, fails the same check in that
/// root: the check can fail.
#[test]
fn source_install_ends_with_a_working_unit() {
    require_tool("systemd-analyze");
    let units_dir = Path::new("/usr/lib/systemd/system");
    if !units_dir.join("sysinit.target").exists() {
        println!("SKIPPED: no systemd units in /usr/lib/systemd/system to verify against");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_vipd")).parent().unwrap();
    for prefix in ["/usr/local", "/opt/vipd"] {
        let root = tmpdir(&format!("install{}", prefix.replace('/', "-")));
        let out = Command::new(repo("packaging/install-from-source"))
            .args(["--prefix", prefix, "--destdir"])
            .arg(&root)
            .arg("--bin-dir")
            .arg(bin_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{prefix}: {}", text(&out));
        let in_root = |p: &str| root.join(p.trim_start_matches('/'));
        // Every command of both units is an installed executable.
        let mut commands = 0;
        for unit in ["vipd.service", "vipd-cleanup.service"] {
            let content =
                std::fs::read_to_string(in_root(&format!("/etc/systemd/system/{unit}"))).unwrap();
            for line in content.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                if !key.starts_with("Exec") {
                    continue;
                }
                let program = value
                    .trim_start_matches('-')
                    .split_whitespace()
                    .next()
                    .unwrap();
                assert!(
                    program.starts_with(&format!("{prefix}/sbin/")),
                    "{unit}: {key}={value}"
                );
                let meta = std::fs::metadata(in_root(program))
                    .unwrap_or_else(|e| panic!("{unit}: {program}: {e}"));
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{program} not executable"
                );
                commands += 1;
            }
        }
        assert_eq!(
            commands, 4,
            "ExecStart, ExecReload, ExecStopPost, cleanup's ExecStart"
        );
        for f in [
            "share/man/man8/vipd.8",
            "share/man/man8/vipctl.8",
            "share/man/man8/vipctl-check.8",
            "share/man/man5/vipd.yaml.5",
            "share/bash-completion/completions/vipctl",
            "share/doc/vipd/examples/vipd.yaml",
        ] {
            assert!(
                in_root(&format!("{prefix}/{f}")).is_file(),
                "{prefix}/{f} missing"
            );
        }
        // systemd's own units (targets, D-Bus) in the root, read from the
        // host's copy, for verify to load the dependencies.
        let sys = in_root("/usr/lib/systemd/system");
        std::fs::create_dir_all(&sys).unwrap();
        let out = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", units_dir.display()))
            .arg(&sys)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let verify = |units: &[&str]| {
            Command::new("systemd-analyze")
                .env("MANPATH", in_root(&format!("{prefix}/share/man")))
                .arg("verify")
                .arg(format!("--root={}", root.display()))
                .args(units)
                .output()
                .unwrap()
        };
        let out = verify(&[
            "/etc/systemd/system/vipd.service",
            "/etc/systemd/system/vipd-cleanup.service",
        ]);
        assert!(
            out.status.success() && text(&out).trim().is_empty(),
            "{prefix}: systemd-analyze verify: {}",
            text(&out)
        );
        // The packaged unit as is (/usr/sbin) does not work in this root.
        std::fs::copy(
            repo("units/vipd.service"),
            in_root("/etc/systemd/system/vipd-packaged.service"),
        )
        .unwrap();
        let out = verify(&["/etc/systemd/system/vipd-packaged.service"]);
        assert!(
            !out.status.success() && text(&out).contains("/usr/sbin/vipd"),
            "the packaged unit passed in a root without /usr/sbin/vipd: {}",
            text(&out)
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn packaging_scripts_are_shellcheck_clean() {
    require_tool("shellcheck");
    let scripts = [
        "units/debian/postinst",
        "units/debian/prerm",
        "units/debian/postrm",
        ".ci/build-deb",
        ".ci/check-deb",
        ".ci/unit-nspawn",
        "packaging/install-from-source",
        ".ci/debian-roots",
        ".ci/portable-check",
        ".ci/deb-depends",
    ];
    for s in scripts {
        let out = Command::new("shellcheck").arg(repo(s)).output().unwrap();
        assert!(out.status.success(), "{s}:\n{}", text(&out));
    }
}

#[test]
fn deb_metadata_assets_exist() {
    // Every non-generated asset in [package.metadata.deb] is in the tree.
    let toml = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let meta = &toml[toml.find("[package.metadata.deb]").expect("deb metadata")..];
    assert!(meta.contains("maintainer-scripts = \"units/debian/\""));
    let mut checked = 0;
    for line in meta.lines() {
        let Some(src) = line
            .trim()
            .strip_prefix("[\"")
            .and_then(|l| l.split('"').next())
        else {
            continue;
        };
        if src.starts_with("target/") {
            continue;
        }
        assert!(repo(src).is_file(), "asset {src} missing");
        checked += 1;
    }
    assert!(checked >= 2, "{checked}");
    // Nothing under /etc: vipd must not start without the operator's config.
    assert!(
        !meta.contains("\"etc/"),
        "the package must not ship /etc files"
    );
}

/// The licence is declared (Cargo's `license`), both texts are in the tree,
/// and the package's copyright file (DEP-5, used verbatim by cargo-deb)
/// names the same licences and carries LICENSE-MIT's text word for word:
/// the MIT licence requires its text to ship with the binaries.
#[test]
fn licence_is_declared_and_shipped() {
    let toml = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let package = &toml[..toml.find("\n[dependencies]").expect("[dependencies]")];
    assert!(
        package
            .lines()
            .any(|l| l == "license = \"MIT OR Apache-2.0\""),
        "Cargo.toml [package] has no `license = \"MIT OR Apache-2.0\"`"
    );
    let mit = std::fs::read_to_string(repo("LICENSE-MIT")).expect("LICENSE-MIT");
    assert!(mit.contains("Copyright (c) the vipd authors"), "{mit}");
    assert!(mit.contains("THE SOFTWARE IS PROVIDED \"AS IS\""), "{mit}");
    let apache = std::fs::read_to_string(repo("LICENSE-APACHE")).expect("LICENSE-APACHE");
    assert!(
        apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"),
        "LICENSE-APACHE is not the Apache License 2.0"
    );
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));

    let meta = &toml[toml.find("[package.metadata.deb]").expect("deb metadata")..];
    assert!(
        meta.contains("license-file = \"units/debian-copyright\""),
        "the package's copyright file is not units/debian-copyright"
    );
    let copyright = std::fs::read_to_string(repo("units/debian-copyright")).unwrap();
    let field = |stanza_start: &str| {
        copyright
            .lines()
            .skip_while(|l| *l != stanza_start)
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
    };
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    let files = field("Files: *");
    assert!(files.contains(&"Copyright: the vipd authors"), "{files:?}");
    assert!(files.contains(&"License: MIT or Apache-2.0"), "{files:?}");
    // The MIT stanza: LICENSE-MIT indented by one space, "." for blank lines.
    let stanza: Vec<&str> = field("License: MIT").into_iter().skip(1).collect();
    let expected: Vec<String> = mit
        .lines()
        .map(|l| {
            if l.is_empty() {
                " .".to_owned()
            } else {
                format!(" {l}")
            }
        })
        .collect();
    assert_eq!(
        stanza, expected,
        "units/debian-copyright's MIT text differs from LICENSE-MIT"
    );
    let apache_stanza = field("License: Apache-2.0").join("\n");
    assert!(
        apache_stanza.contains("/usr/share/common-licenses/Apache-2.0"),
        "{apache_stanza}"
    );
}

/// Runs a maintainer script in a private mount namespace with tmpfs on
/// /run and /etc (the host's are never seen or touched), stub
/// deb-systemd-helper / deb-systemd-invoke / systemctl that log their
/// arguments, /run/systemd/system present (as on a systemd host), and
/// /etc/vipd/vipd.yaml present or not. Returns the stubs' log.
fn run_maintainer_script(script: &str, args: &[&str], with_config: bool) -> String {
    require_tool("unshare");
    let dir = tmpdir(&format!("{script}-{}-{with_config}", args.join("-")));
    let stubs = dir.join("bin");
    std::fs::create_dir_all(&stubs).unwrap();
    let log = dir.join("calls.log");
    for name in ["deb-systemd-helper", "deb-systemd-invoke", "systemctl"] {
        let p = stubs.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> {}\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        Command::new("chmod").arg("755").arg(&p).status().unwrap();
    }
    let setup = format!(
        "set -e; mount -n -t tmpfs tmpfs /run; mount -n -t tmpfs tmpfs /etc; \
         mkdir -p /run/systemd/system /run/vipd; {config} \
         PATH={stubs}:/usr/sbin:/usr/bin:/sbin:/bin sh {script} {args}; \
         echo \"etc_vipd=$([ -d /etc/vipd ] && echo yes || echo no)\" >> {log}; \
         echo \"run_vipd=$([ -d /run/vipd ] && echo yes || echo no)\" >> {log}",
        config = if with_config {
            "mkdir -p /etc/vipd; echo 'instances: []' > /etc/vipd/vipd.yaml;"
        } else {
            ""
        },
        stubs = stubs.display(),
        script = repo(&format!("units/debian/{script}")).display(),
        args = args.join(" "),
        log = log.display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &setup])
        .output()
        .unwrap();
    assert!(out.status.success(), "{script} {args:?}: {}", text(&out));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    calls
}

#[test]
fn postinst_enables_but_starts_only_with_a_config() {
    let fresh = run_maintainer_script("postinst", &["configure"], false);
    assert!(
        fresh.contains("deb-systemd-helper enable vipd.service"),
        "{fresh}"
    );
    assert!(
        fresh.contains("systemctl --system daemon-reload"),
        "{fresh}"
    );
    assert!(
        !fresh.contains("deb-systemd-invoke"),
        "started without a config:\n{fresh}"
    );
    assert!(
        fresh.contains("etc_vipd=yes"),
        "/etc/vipd created:\n{fresh}"
    );

    let configured = run_maintainer_script("postinst", &["configure"], true);
    assert!(
        configured.contains("deb-systemd-invoke start vipd.service"),
        "{configured}"
    );

    let upgrade = run_maintainer_script("postinst", &["configure", "0.0.9-1"], true);
    assert!(
        upgrade.contains("deb-systemd-invoke try-restart vipd.service"),
        "an upgrade restarts a running vipd only:\n{upgrade}"
    );
    assert!(!upgrade.contains("invoke start"), "{upgrade}");
}

#[test]
fn prerm_stops_on_remove_only_and_postrm_purge_cleans() {
    let remove = run_maintainer_script("prerm", &["remove"], true);
    assert!(
        remove.contains("deb-systemd-invoke stop vipd.service"),
        "{remove}"
    );
    let upgrade = run_maintainer_script("prerm", &["upgrade", "0.2.0-1"], true);
    assert!(!upgrade.contains("deb-systemd-invoke"), "{upgrade}");

    let purge = run_maintainer_script("postrm", &["purge"], false);
    assert!(
        purge.contains("deb-systemd-helper purge vipd.service"),
        "{purge}"
    );
    assert!(
        purge.contains("run_vipd=no"),
        "/run/vipd removed on purge:\n{purge}"
    );
    // The operator's configuration survives a purge.
    let kept = run_maintainer_script("postrm", &["purge"], true);
    assert!(kept.contains("etc_vipd=yes"), "{kept}");
    let removed = run_maintainer_script("postrm", &["remove"], true);
    assert!(
        removed.contains("deb-systemd-helper mask vipd.service"),
        "{removed}"
    );
    assert!(removed.contains("run_vipd=yes"), "{removed}");
}

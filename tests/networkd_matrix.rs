//! vipd against three systemd-networkd generations: the host's (Debian 12,
//! systemd 252), bullseye's (247) and trixie's (257), each run with its own
//! dbus-daemon and networkctl chrooted from a read-only Debian root inside
//! the router's private mount namespace (`Host::start_networkd_from`); the
//! host's vipd and vipctl talk to that bus.
//!
//! Per generation: election; `networkctl reconfigure` x5 and a networkd
//! restart x5 on the master with the VIP's absence per trigger (from the
//! kernel's address notifications) and role changes; a stopped networkd
//! reported in `vipctl status --json`, its restart resyncing the masters;
//! the files `vipctl networkd install` generates (drop-in, .netdev,
//! .network) accepted and effective. The table is printed at the end.
//!
//! The roots come from `.ci/debian-roots` (cached under
//! `$VIPD_CI_CACHE/roots/<suite>`, default /var/cache/vipd-ci, finished when
//! `.complete` exists). A generation whose root is missing is skipped with
//! the reason printed in its row and a `SKIPPED networkd generation` line
//! (tests/run-all.sh counts those). Run as root:
//! `cargo test --test networkd_matrix -- --ignored --nocapture`.

mod lab;

use lab::ipmon::{outages, vip_events};
use lab::networkd::{Networkd, logged_link_transitions, setup_rank};
use lab::vipd::{Vipd, vipctl_bin};
use lab::{Host, Lab, wait_until};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const REPEAT: usize = 5;
const VIP: &str = "10.9.71.100/24";

fn static_network(addr: &str) -> String {
    format!(
        "[Match]\nName=eth0\n\n[Network]\nAddress={addr}\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n"
    )
}

fn vipd_yaml(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 71\n    priority: {priority}\n    advert_interval: 1s\n    vips: [{VIP}]\n"
    )
}

/// What `vipctl networkd install` is given to generate: a VIP on eth0
/// itself (the drop-in keeps static foreign addresses) and one on a
/// MACVLAN (.netdev + .network + `MACVLAN=` in the drop-in).
fn install_yaml() -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 71\n    priority: 150\n    vips: [{VIP}]\n  - name: mac\n    interface: eth0\n    vrid: 72\n    priority: 150\n    vips: [10.9.71.172/24]\n    vip_device: {{kind: macvlan}}\n"
    )
}

struct Generation {
    name: &'static str,
    /// None: the host's systemd.
    suite: Option<&'static str>,
}

const GENERATIONS: [Generation; 3] = [
    Generation {
        name: "host",
        suite: None,
    },
    Generation {
        name: "bullseye",
        suite: Some("bullseye"),
    },
    Generation {
        name: "trixie",
        suite: Some("trixie"),
    },
];

/// Milliseconds of VIP absence per trigger: median and max.
#[derive(Default, Clone)]
struct Absence {
    per_trigger_ms: Vec<f64>,
}

impl Absence {
    fn median(&self) -> f64 {
        let mut v = self.per_trigger_ms.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    fn max(&self) -> f64 {
        self.per_trigger_ms.iter().copied().fold(0.0, f64::max)
    }
    fn purges(&self) -> usize {
        self.per_trigger_ms.iter().filter(|m| **m > 0.0).count()
    }
    fn show(&self) -> String {
        format!(
            "{:.1}/{:.1} ms ({}/{} purged)",
            self.median(),
            self.max(),
            self.purges(),
            self.per_trigger_ms.len()
        )
    }
}

#[derive(Default)]
struct Row {
    generation: &'static str,
    version: Option<u32>,
    skipped: Option<String>,
    failed: Option<String>,
    features: String,
    reconfigure: Absence,
    restart: Absence,
    role_changes: u64,
    absent_ms: Option<u128>,
    resync_ms: Option<u128>,
    install_purges: usize,
    /// How long the VIP was gone during the install's reload, ms.
    install_absent_ms: f64,
    /// VIP deletions in the two reconfigures after the install (0 when
    /// the drop-in's KeepConfiguration=static works).
    kept_purges: usize,
    files_ok: bool,
    /// Link transitions vipd logged after networkd's restart, and how many
    /// of them went backwards (stale).
    transitions: usize,
    stale: usize,
}

fn root_of(suite: &str) -> Result<PathBuf, String> {
    let cache = std::env::var("VIPD_CI_CACHE").unwrap_or_else(|_| "/var/cache/vipd-ci".into());
    let root = PathBuf::from(cache).join("roots").join(suite);
    if root.join(".complete").is_file() {
        Ok(root)
    } else {
        Err(format!(
            "no finished root at {} (run .ci/debian-roots {suite})",
            root.display()
        ))
    }
}

fn start_networkd(h: &Host, root: Option<&PathBuf>, addr: &str) -> Networkd {
    let net = static_network(addr);
    let files = [("10-eth0.network", net.as_str())];
    match root {
        Some(r) => h.start_networkd_from(r, &files),
        None => h.start_networkd(&files),
    }
}

/// Sum of the VIP's absences (ms) between `from` and `to` (epoch times).
fn absent_between(log: &str, from: Duration, to: Duration) -> f64 {
    let events: Vec<_> = vip_events(log, VIP)
        .into_iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .collect();
    outages(&events)
        .iter()
        .map(|o| {
            o.added
                .unwrap_or(to)
                .saturating_sub(o.deleted)
                .as_secs_f64()
                * 1e3
        })
        .fold(0.0, |a, b| a + b)
}

fn became_master(v: &Vipd) -> u64 {
    v.instance("web")["became_master"].as_u64().unwrap_or(0)
}

fn run_generation(g: &Generation, row: &mut Row) {
    let root = match g.suite.map(root_of).transpose() {
        Ok(r) => r,
        Err(why) => {
            row.skipped = Some(why);
            return;
        }
    };
    let lab = Lab::new(&format!("ndm_{}", g.name));
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &[]);
    let _obs = lab.add_host("obs", &["10.9.71.200/24"]);
    let nd1 = start_networkd(&r1, root.as_ref(), "10.9.71.1/24");
    let nd2 = start_networkd(&r2, root.as_ref(), "10.9.71.2/24");
    let version = nd1.version();
    row.version = Some(version);
    if let Some(suite) = g.suite {
        assert_ne!(
            nd1.chroot(),
            None,
            "{suite}: networkd runs from the root, not the host"
        );
    }

    // Election.
    let v1 = nd1.start_vipd(&vipd_yaml(150));
    let v2 = nd2.start_vipd(&vipd_yaml(100));
    v1.expect_state("web", "MASTER", 8 * SEC);
    v2.expect_state("web", "BACKUP", 5 * SEC);
    let bus = |v: &Vipd| v.status()["networkd_bus"].clone();
    assert!(
        wait_until(10 * SEC, Duration::from_millis(50), || bus(&v1)["state"]
            == "running"),
        "{}",
        v1.status()
    );
    let b = bus(&v1);
    assert_eq!(
        b["version"].as_u64(),
        Some(u64::from(version)),
        "vipd read networkd's version: {b}"
    );
    row.features = b["features"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let (m1, m2) = (became_master(&v1), became_master(&v2));

    let mon = r1.start_addr_monitor("eth0");
    let has_vip = || r1.has_addr("eth0", VIP);
    let measure = |what: &str, trigger: &dyn Fn(), into: &mut Absence| {
        for i in 0..REPEAT {
            let from = lab::now_epoch();
            trigger();
            assert!(
                wait_until(3 * SEC, Duration::from_millis(5), has_vip),
                "{what} #{i}: VIP not back\n{}",
                v1.proc.log_tail(20)
            );
            // Let the monitor read the last notifications.
            std::thread::sleep(Duration::from_millis(200));
            let to = lab::now_epoch();
            into.per_trigger_ms
                .push(absent_between(&mon.proc.log(), from, to));
        }
    };
    let mut reconf = Absence::default();
    measure(
        "networkctl reconfigure",
        &|| {
            nd1.networkctl_ok(&["reconfigure", "eth0"]);
            nd1.wait_state("eth0", &["configured"], 5 * SEC);
        },
        &mut reconf,
    );
    let mut restart = Absence::default();
    measure(
        "networkd restart",
        &|| {
            nd1.restart();
            nd1.wait_state("eth0", &["configured"], 10 * SEC);
        },
        &mut restart,
    );
    row.reconfigure = reconf;
    row.restart = restart;
    row.role_changes = (became_master(&v1) - m1) + (became_master(&v2) - m2);
    assert_eq!(v1.state("web"), "MASTER");
    assert_eq!(v2.state("web"), "BACKUP");

    // A stopped networkd is reported; its return resyncs the masters.
    let resyncs = bus(&v1)["resyncs"].as_u64().unwrap_or(0);
    let log_from = v1.proc.log().len();
    nd1.stop();
    let t = Instant::now();
    assert!(
        wait_until(5 * SEC, Duration::from_millis(10), || bus(&v1)["state"]
            == "absent"),
        "stopped networkd reported: {}",
        v1.status()
    );
    row.absent_ms = Some(t.elapsed().as_millis());
    let t = Instant::now();
    nd1.start();
    assert!(
        wait_until(10 * SEC, Duration::from_millis(10), || {
            let b = bus(&v1);
            b["state"] == "running" && b["resyncs"].as_u64() == Some(resyncs + 1)
        }),
        "restarted networkd followed and resynced: {}",
        v1.status()
    );
    row.resync_ms = Some(t.elapsed().as_millis());
    nd1.wait_state("eth0", &["configured"], 10 * SEC);
    assert!(wait_until(3 * SEC, Duration::from_millis(5), has_vip));
    // From the stop to the new networkd's configured link, nobody asked for
    // a reconfigure: a transition back down is a stale signal replayed.
    std::thread::sleep(Duration::from_millis(300));
    let log = v1.proc.log();
    let transitions = logged_link_transitions(log.get(log_from..).unwrap_or(""));
    row.transitions = transitions.len();
    row.stale = transitions
        .iter()
        .filter(|(_, from, to)| matches!((setup_rank(from), setup_rank(to)), (Some(f), Some(t)) if t < f))
        .count();
    assert_eq!(row.stale, 0, "stale transitions logged: {transitions:?}");

    // The generated files, for this generation's version.
    let cfg = r1.tmpdir().join("ndm-install.yaml");
    std::fs::write(&cfg, install_yaml()).unwrap();
    let from = lab::now_epoch();
    let v = version.to_string();
    let out = nd1.exec(&[
        vipctl_bin(),
        "networkd",
        "install",
        "--config",
        cfg.to_str().unwrap(),
        "--systemd-version",
        &v,
    ]);
    assert!(
        out.status.success(),
        "vipctl networkd install:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // vipctl asked networkd to reload: let it settle, count what it did.
    std::thread::sleep(Duration::from_millis(300));
    nd1.wait_state("eth0", &["configured"], 10 * SEC);
    assert!(wait_until(3 * SEC, Duration::from_millis(5), has_vip));
    std::thread::sleep(Duration::from_millis(200));
    let mid = lab::now_epoch();
    let count = |from: Duration, to: Duration| {
        let ev: Vec<_> = vip_events(&mon.proc.log(), VIP)
            .into_iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        outages(&ev).len()
    };
    row.install_purges = count(from, mid);
    row.install_absent_ms = absent_between(&mon.proc.log(), from, mid);
    // Reconfigures with the files in place: the drop-in keeps the VIP.
    nd1.networkctl_ok(&["reconfigure", "eth0"]);
    nd1.wait_state("eth0", &["configured"], 10 * SEC);
    assert!(
        wait_until(5 * SEC, Duration::from_millis(50), || r1
            .exec(&["ip", "link", "show", "vrrp.72"])
            .status
            .success()),
        "networkd created the MACVLAN from the .netdev:\n{}\n{}",
        nd1.exec_ok(&["ip", "-d", "link"]),
        nd1.log_tail(30)
    );
    assert!(wait_until(3 * SEC, Duration::from_millis(5), has_vip));
    let link = nd1.exec_ok(&["ip", "-d", "link", "show", "vrrp.72"]);
    assert!(
        link.contains("macvlan") && link.contains("00:00:5e:00:01:48"),
        "{link}"
    );
    assert!(
        wait_until(5 * SEC, Duration::from_millis(100), || nd1
            .network_file("vrrp.72")
            .is_some_and(|f| f.ends_with("60-vipd-vrrp.72.network"))),
        "networkd manages vrrp.72 with vipd's .network:\n{}",
        nd1.status("vrrp.72")
    );
    // The drop-in's KeepConfiguration is effective: a foreign static
    // address on eth0 survives a reconfigure.
    r1.exec_ok(&["ip", "addr", "add", "10.9.71.171/24", "dev", "eth0"]);
    nd1.networkctl_ok(&["reconfigure", "eth0"]);
    nd1.wait_state("eth0", &["configured"], 10 * SEC);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        r1.has_addr("eth0", "10.9.71.171/24"),
        "KeepConfiguration from the drop-in kept a foreign address:\n{}",
        nd1.exec_ok(&["ip", "-o", "addr"])
    );
    row.kept_purges = count(mid, lab::now_epoch());
    let complaints: Vec<String> = nd1
        .log()
        .lines()
        .filter(|l| l.contains("vipd") && (l.contains("Unknown") || l.contains("gnoring")))
        .map(str::to_string)
        .collect();
    assert!(
        complaints.is_empty(),
        "networkd {version} accepted vipd's files: {complaints:?}"
    );
    row.files_ok = true;
    let _ = &lab;
}

fn print_table(rows: &[Row]) {
    println!();
    println!("networkd generation matrix (VIP absence per trigger: median/max; x{REPEAT} each)");
    println!(
        "{:<9} {:>7} {:<34} {:<28} {:<28} {:>5} {:>8} {:>9} {:>16} {:>7} {:<6}",
        "gen",
        "systemd",
        "features",
        "reconfigure",
        "restart",
        "roles",
        "absent",
        "resync",
        "install",
        "stale",
        "files"
    );
    for r in rows {
        let v = r.version.map(|v| v.to_string()).unwrap_or("-".into());
        if let Some(why) = &r.skipped {
            println!("{:<9} {:>7} skipped: {why}", r.generation, v);
            continue;
        }
        println!(
            "{:<9} {:>7} {:<34} {:<28} {:<28} {:>5} {:>8} {:>9} {:>16} {:>7} {:<6}",
            r.generation,
            v,
            r.features,
            r.reconfigure.show(),
            r.restart.show(),
            r.role_changes,
            r.absent_ms.map(|m| format!("{m} ms")).unwrap_or("-".into()),
            r.resync_ms.map(|m| format!("{m} ms")).unwrap_or("-".into()),
            format!(
                "{}+{} del {:.1} ms",
                r.install_purges, r.kept_purges, r.install_absent_ms
            ),
            format!("{}/{}", r.stale, r.transitions),
            if r.files_ok { "ok" } else { "-" }
        );
        if let Some(f) = &r.failed {
            println!("{:<9} FAILED: {f}", "");
        }
    }
    println!(
        "roles: role changes over both routers; absent: networkd stopped -> status absent; \
         resync: networkd started -> status running with a resync; install: VIP deletions \
         while the generated files were installed and reloaded + in 2 reconfigures after, and the first's absence; stale: backward link transitions \
         logged / all logged after the restart"
    );
}

#[test]
#[ignore = "the networkd generation matrix (about 45 s): tests/run-all.sh runs it with --ignored --nocapture and prints its table"]
fn networkd_generation_matrix() {
    let mut rows = Vec::new();
    for g in &GENERATIONS {
        let mut row = Row {
            generation: g.name,
            ..Row::default()
        };
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_generation(g, &mut row)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            row.failed = Some(msg.lines().next().unwrap_or("").to_string());
        }
        rows.push(row);
    }
    print_table(&rows);
    for r in &rows {
        if let Some(s) = &r.skipped {
            println!("SKIPPED networkd generation {}: {s}", r.generation);
        }
    }
    let failed: Vec<_> = rows
        .iter()
        .filter_map(|r| r.failed.as_ref().map(|f| format!("{}: {f}", r.generation)))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for r in &rows {
        if r.skipped.is_none() {
            assert_eq!(r.role_changes, 0, "{}: no role change", r.generation);
        }
    }
}

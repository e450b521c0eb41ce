//! Reload benchmark: what a configuration reload on the master costs, vipd
//! and keepalived side by side, in one run.
//!
//! Lab: routers r1 (priority 200, master) and r2 (100) on a bridge, VRRPv3
//! with 100 ms adverts, VIPs .100 and .101. Each change below is made in
//! both routers' files and reloaded on r1, then at once on r2 (vipd: `vipctl
//! reload`; keepalived: SIGHUP), N times (VIPD_BENCH_RUNS, default 3), each
//! time in a fresh pair:
//!   - priority: r1 200 -> 180;
//!   - VIPs: .101 removed, .102 added (.100 kept);
//!   - interval: 100 ms -> 200 ms.
//!
//! Per row, from a capture on the bridge and `ip -ts monitor address` on r1,
//! over 3 s from the reload on:
//!   - p0: priority-0 adverts (a router leaving the master role);
//!   - takeovers: times the backup advertised (it only does as master);
//!   - kept VIP gone: longest absence of .100 from r1 (0 when never deleted);
//!   - on the wire after: reload -> r1's first advert that carries the change
//!     (median over runs; "never" when none did within the 3 s).
//!
//! `VIPD_BENCH_BASELINE=/path/to/an/older/vipd` adds rows for that binary
//! ("vipd@base"), in the same run: before and after a change.
//!
//! Figures, not assertions: what vipd promises is checked by
//! tests/vrrp_lab.rs (`reload_in_place_keeps_the_master`). Run as root:
//!     cargo bench --bench reload

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::capture::{VrrpPacket, vrrp_packets};
use lab::compared::Daemon;
use lab::ipmon::outages;
use lab::{Host, Lab, now_epoch};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

const VRID: u8 = 60;
const R1: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1));
const R2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 60, 0, 2));
const KEPT: &str = "10.60.0.100/24";

#[derive(Clone, Copy)]
enum Change {
    Priority,
    Vips,
    Interval,
}

/// What a router runs with.
struct Settings {
    priority: u8,
    interval_ms: u64,
    vips: [&'static str; 2],
}

impl Change {
    fn label(self) -> &'static str {
        match self {
            Change::Priority => "priority",
            Change::Vips => "VIPs",
            Change::Interval => "interval",
        }
    }

    /// The settings of (r1, r2) before and after.
    fn settings(self, after: bool) -> (Settings, Settings) {
        let old_vips = ["10.60.0.100/24", "10.60.0.101/24"];
        let new_vips = ["10.60.0.100/24", "10.60.0.102/24"];
        let r = |priority, interval_ms, vips| Settings {
            priority,
            interval_ms,
            vips,
        };
        match (self, after) {
            (_, false) => (r(200, 100, old_vips), r(100, 100, old_vips)),
            (Change::Priority, true) => (r(180, 100, old_vips), r(100, 100, old_vips)),
            (Change::Vips, true) => (r(200, 100, new_vips), r(100, 100, new_vips)),
            (Change::Interval, true) => (r(200, 200, old_vips), r(100, 200, old_vips)),
        }
    }

    /// Whether an advert of r1 carries the change.
    fn carried_by(self, p: &VrrpPacket) -> bool {
        match self {
            Change::Priority => p.priority == 180,
            Change::Vips => p.addrs.contains(&"10.60.0.102".parse().unwrap()),
            Change::Interval => p.raw_interval == 20,
        }
    }
}

fn vipd_yaml(s: &Settings) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    priority: {}\n    advert_interval: {}ms\n    vips: [{}]\n",
        s.priority,
        s.interval_ms,
        s.vips.join(", ")
    )
}

fn keepalived_conf(s: &Settings) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance web {{\n    interface eth0\n    state BACKUP\n    virtual_router_id {VRID}\n    priority {}\n    advert_int {}\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
        s.priority,
        s.interval_ms as f64 / 1000.0,
        s.vips.join("\n        ")
    )
}

/// A running router and how to reload it.
enum Router {
    Vipd(lab::vipd::Vipd),
    Keepalived(lab::ProcHandle, PathBuf),
}

impl Router {
    fn start(h: &Host, daemon: &Daemon, s: &Settings) -> Router {
        match daemon.start_vipd(h, &vipd_yaml(s)) {
            Some(d) => Router::Vipd(d),
            None => {
                let (p, conf) = h.start_keepalived_conf(&keepalived_conf(s));
                Router::Keepalived(p, conf)
            }
        }
    }

    fn reload(&self, s: &Settings) {
        match self {
            Router::Vipd(d) => {
                d.rewrite_config(&vipd_yaml(s));
                let out = d.vipctl(&["reload"]);
                assert!(out.status.success(), "vipctl reload failed");
            }
            Router::Keepalived(p, conf) => {
                std::fs::write(conf, keepalived_conf(s)).expect("rewrite keepalived.conf");
                p.signal(libc::SIGHUP);
            }
        }
    }
}

/// One run's figures.
struct Run {
    p0: usize,
    takeovers: usize,
    kept_gone: Duration,
    on_wire: Option<Duration>,
}

fn measure(daemon: &Daemon, change: Change, run: usize) -> Run {
    let lab = Lab::new(&format!("reload_{}_{run}", change.label()));
    let r1 = lab.add_host("r1", &["10.60.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.60.0.2/24"]);
    let (s1, s2) = change.settings(false);
    let a = Router::start(&r1, daemon, &s1);
    assert!(
        r1.wait_addr("eth0", KEPT, true, Duration::from_secs(10)),
        "r1 did not become master"
    );
    let b = Router::start(&r2, daemon, &s2);
    std::thread::sleep(Duration::from_secs(2));
    let cap = lab.capture("vrrp or arp");
    let mon = r1.start_addr_monitor("eth0");
    std::thread::sleep(Duration::from_millis(500));
    let (n1, n2) = change.settings(true);
    let at = now_epoch();
    a.reload(&n1);
    b.reload(&n2);
    std::thread::sleep(Duration::from_secs(3));
    let frames = cap.stop();
    let adverts: Vec<VrrpPacket> = vrrp_packets(&frames)
        .into_iter()
        .filter(|p| p.vrid == VRID && p.ts >= at)
        .collect();
    // Backup episodes: r2 adverts more than 1 s apart are two takeovers.
    let mut takeovers = 0;
    let mut last_r2: Option<Duration> = None;
    for p in adverts.iter().filter(|p| p.src == R2 && p.priority != 0) {
        if last_r2.is_none_or(|l| p.ts - l > Duration::from_secs(1)) {
            takeovers += 1;
        }
        last_r2 = Some(p.ts);
    }
    let end = now_epoch();
    let kept_gone = outages(&mon.events(KEPT))
        .iter()
        .map(|o| o.added.unwrap_or(end) - o.deleted)
        .max()
        .unwrap_or_default();
    Run {
        p0: adverts.iter().filter(|p| p.priority == 0).count(),
        takeovers,
        kept_gone,
        on_wire: adverts
            .iter()
            .find(|p| p.src == R1 && change.carried_by(p))
            .map(|p| p.ts - at),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let Some(runs) = lab::compared::bench_runs("reload", 3) else {
        return;
    };
    let daemons = Daemon::compared();
    println!(
        "reload on the master (then the backup), VRRPv3 100 ms, {runs} runs each; 3 s observed per run"
    );
    println!(
        "{:<11} {:<9} {:>4} {:>10} {:>20} {:>22}",
        "impl", "change", "p0", "takeovers", "kept VIP gone max ms", "on the wire after ms"
    );
    for change in [Change::Priority, Change::Vips, Change::Interval] {
        for daemon in &daemons {
            let rs: Vec<Run> = (0..runs).map(|r| measure(daemon, change, r)).collect();
            let mut wire: Vec<Duration> = rs.iter().filter_map(|r| r.on_wire).collect();
            wire.sort();
            let on_wire = match wire.get(wire.len() / 2) {
                Some(d) if wire.len() == runs => format!("{} (median)", ms(*d)),
                Some(d) => format!("{} ({} of {runs})", ms(*d), wire.len()),
                None => "never".into(),
            };
            println!(
                "{:<11} {:<9} {:>4} {:>10} {:>20} {:>22}",
                daemon.name(),
                change.label(),
                rs.iter().map(|r| r.p0).sum::<usize>(),
                rs.iter().map(|r| r.takeovers).sum::<usize>(),
                ms(rs.iter().map(|r| r.kept_gone).max().unwrap_or_default()),
                on_wire
            );
        }
    }
}

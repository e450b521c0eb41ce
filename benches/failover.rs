//! Failover benchmark: vipd and keepalived side by side, in one run.
//!
//! Two routers (priority 150 master, 100 backup) on a lab bridge; the
//! master's cable is cut (switch-side veth down) and a capture on the
//! bridge gives, per run:
//!   - T: from the last advert the backup heard (the master's last one on the
//!     bridge) to the new master's first gratuitous ARP for the VIP;
//!   - late = T - Master_Down_Interval of the backup (RFC 5798 6.1 /
//!     RFC 3768 6.1): the time spent beyond what the protocol requires.
//!
//! Target for vipd: late <= 5 ms at every interval. Run as root:
//!     cargo bench --bench failover            (VIPD_BENCH_RUNS=N to change the run count)
//!
//! `VIPD_BENCH_BASELINE=/path/to/an/older/vipd` adds rows for that binary
//! ("vipd@base"), measured in the same run and lab as this build: before
//! and after a change, side by side.

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::capture::{garps, vrrp_adverts};
use lab::compared::Daemon;
use lab::{Host, Lab, wait_until};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

#[derive(Clone, Copy)]
struct Scenario {
    version: u8,
    interval: Duration,
}

impl Scenario {
    /// Master_Down_Interval for the backup (priority 100).
    fn master_down_interval(&self) -> Duration {
        let skew_unit = if self.version == 3 {
            self.interval
        } else {
            Duration::from_secs(1)
        };
        3 * self.interval + skew_unit * 156 / 256
    }
    fn label(&self) -> String {
        let ms = self.interval.as_millis();
        if ms >= 1000 {
            format!("v{} {}s", self.version, ms / 1000)
        } else {
            format!("v{} {}ms", self.version, ms)
        }
    }
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

fn vipd_yaml(s: Scenario, prio: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 77\n    version: {}\n    priority: {prio}\n    advert_interval: {}ms\n    vips: [{VIP}/24]\n",
        s.version,
        s.interval.as_millis()
    )
}

fn keepalived_conf(s: Scenario, prio: u8) -> String {
    format!(
        "global_defs {{\n    vrrp_version {}\n}}\nvrrp_instance web {{\n    interface eth0\n    state BACKUP\n    virtual_router_id 77\n    priority {prio}\n    advert_int {}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
        s.version,
        s.interval.as_secs_f64()
    )
}

fn start(h: &Host, daemon: &Daemon, s: Scenario, prio: u8) -> lab::ProcHandle {
    match daemon.start_vipd(h, &vipd_yaml(s, prio)) {
        Some(d) => d.proc,
        None => h.start_keepalived(&keepalived_conf(s, prio)),
    }
}

/// One measurement per run: (T, late). None when a run could not be read.
fn measure(daemon: &Daemon, s: Scenario, runs: usize) -> Vec<(Duration, Duration)> {
    let lab = Lab::new(&format!("bench_{}", s.label().replace(' ', "_")));
    let r1 = lab.add_host("r1", &["10.77.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.77.0.2/24"]);
    let settle = (8 * s.interval).max(Duration::from_millis(500));
    let _a = start(&r1, daemon, s, 150);
    assert!(
        r1.wait_addr("eth0", format!("{VIP}/24"), true, Duration::from_secs(10)),
        "master did not come up"
    );
    let _b = start(&r2, daemon, s, 100);
    let mac2 = r2.mac("eth0");
    let r1_ip = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
    let mut out = Vec::new();
    for run in 0..runs {
        std::thread::sleep(settle);
        assert!(
            r1.has_addr("eth0", VIP),
            "run {run}: r1 is not master before the cut"
        );
        let cap = lab.capture("vrrp or arp");
        std::thread::sleep(settle);
        r1.link_down();
        let took_over = r2.wait_addr(
            "eth0",
            VIP,
            true,
            s.master_down_interval() + Duration::from_secs(3),
        );
        std::thread::sleep(Duration::from_millis(100));
        let frames = cap.stop();
        let last_advert = vrrp_adverts(&frames)
            .into_iter()
            .filter(|(_, src, _, _)| *src == r1_ip)
            .map(|(ts, ..)| ts)
            .max();
        let first_garp = garps(&frames)
            .into_iter()
            .filter(|(ts, mac, ip)| {
                *mac == mac2 && *ip == VIP && last_advert.is_some_and(|l| *ts > l)
            })
            .map(|(ts, ..)| ts)
            .min();
        match (took_over, last_advert, first_garp) {
            (true, Some(l), Some(g)) => {
                let t = g - l;
                out.push((t, t.saturating_sub(s.master_down_interval())));
            }
            _ => eprintln!(
                "  run {run}: unreadable (takeover {took_over}, advert {last_advert:?}, garp {first_garp:?})"
            ),
        }
        r1.link_up();
        // Preempt back to r1 before the next run.
        wait_until(
            s.master_down_interval() + Duration::from_secs(5),
            Duration::from_millis(20),
            || r1.has_addr("eth0", VIP) && !r2.has_addr("eth0", VIP),
        );
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let Some(runs) = lab::compared::bench_runs("failover", 5) else {
        return;
    };
    let scenarios = [
        Scenario {
            version: 2,
            interval: Duration::from_secs(1),
        },
        Scenario {
            version: 3,
            interval: Duration::from_millis(100),
        },
        Scenario {
            version: 3,
            interval: Duration::from_millis(20),
        },
    ];
    let daemons = Daemon::compared();
    println!(
        "failover on a cut link: last advert heard -> new master's first gratuitous ARP ({runs} runs each)"
    );
    println!("late = that time minus Master_Down_Interval; vipd target: late <= 5 ms\n");
    println!(
        "{:<11} {:<9} {:>8} {:>12} {:>10} {:>13} {:>10} {:>7}",
        "impl", "scenario", "MDI ms", "median ms", "max ms", "late med ms", "late max", "target"
    );
    let mut vipd_ok = true;
    for s in scenarios {
        for daemon in &daemons {
            let name = daemon.name();
            let m = measure(daemon, s, runs);
            if m.is_empty() {
                println!("{name:<11} {:<9} no readable run", s.label());
                vipd_ok &= *daemon != Daemon::Vipd;
                continue;
            }
            let late_max = m.iter().map(|x| x.1).max().unwrap();
            let target = if *daemon == Daemon::Vipd {
                let ok = late_max <= Duration::from_millis(5) && m.len() == runs;
                vipd_ok &= ok;
                if ok { "met" } else { "MISSED" }
            } else {
                "-"
            };
            println!(
                "{name:<11} {:<9} {:>8} {:>12} {:>10} {:>13} {:>10} {:>7}",
                s.label(),
                ms(s.master_down_interval()),
                ms(median(m.iter().map(|x| x.0).collect())),
                ms(m.iter().map(|x| x.0).max().unwrap()),
                ms(median(m.iter().map(|x| x.1).collect())),
                ms(late_max),
                target
            );
        }
    }
    println!(
        "\nvipd target {}",
        if vipd_ok {
            "met in every scenario"
        } else {
            "MISSED (see rows above)"
        }
    );
}

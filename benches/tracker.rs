//! Tracker failover benchmark: from killing the tracked service on the
//! master to the backup holding the VIP, vipd's trackers and keepalived's
//! track_script side by side, in one run.
//!
//! Lab: r1 (priority 150, master) and r2 (100) on a bridge, VRRPv3 100 ms,
//! one VIP; each router tracks its own stand-in service (a `sleep` started
//! under the name `svc-r1` / `svc-r2`: the lab's hosts share one PID
//! namespace), without a weight (FAULT), interval 1 s:
//!   - vipd `process` (event-driven: a pidfd per process);
//!   - vipd `exec` (`/usr/bin/pgrep -x svc-r1` each second);
//!   - keepalived `vrrp_script` (`/usr/bin/pgrep -x svc-r1`, interval 1).
//!
//! Each run kills the service at a random moment, measures from the kill to
//! the VIP's appearance on r2 (`ip -ts monitor address` in r2), restarts the
//! service and waits for r1 to preempt back. "added" is that time minus the
//! failover bound of a master that leaves with a priority-0 advert: the
//! backup's Skew_Time (RFC 5798 6.4.2: (256 - 100) / 256 x 100 ms = 60.9 ms).
//! Target: an event-driven tracker (process; unit, under systemd, is shown by
//! .ci/unit-nspawn) adds no more than 50 ms. Run as root:
//!     cargo bench --bench tracker           (VIPD_BENCH_RUNS=N, default 5)

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::{Host, Lab, ProcHandle, now_epoch, wait_until};
use std::time::Duration;

const VIP: &str = "10.89.0.100/24";
const SKEW: Duration = Duration::from_nanos(60_937_500);

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    VipdProcess,
    VipdExec,
    Keepalived,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Setup::VipdProcess => "vipd process",
            Setup::VipdExec => "vipd exec",
            Setup::Keepalived => "keepalived script",
        }
    }

    fn start(self, h: &Host, prio: u8) -> ProcHandle {
        let svc = format!("svc-{}", h.name);
        match self {
            Setup::VipdProcess | Setup::VipdExec => {
                let tracker = if self == Setup::VipdProcess {
                    format!("{{process: {svc}}}")
                } else {
                    format!("{{exec: [/usr/bin/pgrep, -x, {svc}]}}")
                };
                h.start_vipd(&format!(
                    "trackers:\n  svc: {tracker}\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 89\n    priority: {prio}\n    advert_interval: 100ms\n    vips: [{VIP}]\n    track: [svc]\n"
                ))
                .proc
            }
            Setup::Keepalived => h.start_keepalived(&format!(
                "global_defs {{\n    vrrp_version 3\n    script_user root\n    enable_script_security\n}}\nvrrp_script svc {{\n    script \"/usr/bin/pgrep -x {svc}\"\n    interval 1\n}}\nvrrp_instance web {{\n    interface eth0\n    state BACKUP\n    virtual_router_id 89\n    priority {prio}\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}\n    }}\n    track_script {{\n        svc\n    }}\n}}\n"
            )),
        }
    }
}

/// The stand-in service `svc-HOST` on `host`.
fn service(lab: &Lab, host: &Host) -> ProcHandle {
    let name = format!("svc-{}", host.name);
    let link = lab.tmpdir().join(&name);
    if !link.exists() {
        std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    }
    host.spawn(&[link.to_str().unwrap(), "1000"], format!("{name}.log"))
}

/// A little entropy for the kill's phase against the trackers' interval.
fn jitter(run: usize) -> Duration {
    let nanos = now_epoch().subsec_nanos() as u64 ^ (run as u64 * 0x9e37_79b9);
    Duration::from_millis(nanos % 1000)
}

fn measure(setup: Setup, runs: usize) -> Vec<Duration> {
    let lab = Lab::new(&format!(
        "bench_tracker_{}",
        setup.label().replace(' ', "_")
    ));
    let r1 = lab.add_host("r1", &["10.89.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.89.0.2/24"]);
    let mut svc1 = service(&lab, &r1);
    let _svc2 = service(&lab, &r2);
    let _a = setup.start(&r1, 150);
    assert!(
        r1.wait_addr("eth0", VIP, true, Duration::from_secs(10)),
        "r1 did not become master"
    );
    let _b = setup.start(&r2, 100);
    let mon = r2.start_addr_monitor("eth0");
    let mut out = Vec::new();
    for run in 0..runs {
        std::thread::sleep(Duration::from_secs(2) + jitter(run));
        assert!(r1.has_addr("eth0", VIP), "run {run}: r1 is not master");
        let killed = now_epoch();
        svc1.kill();
        let took = r2.wait_addr("eth0", VIP, true, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
        let added = mon
            .events(VIP)
            .into_iter()
            .find(|(ts, up)| *up && *ts > killed)
            .map(|(ts, _)| ts);
        match (took, added) {
            (true, Some(at)) => out.push(at - killed),
            _ => eprintln!("  {} run {run}: no takeover seen", setup.label()),
        }
        svc1 = service(&lab, &r1);
        wait_until(Duration::from_secs(8), Duration::from_millis(20), || {
            r1.has_addr("eth0", VIP) && !r2.has_addr("eth0", VIP)
        });
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let Some(runs) = lab::compared::bench_runs("tracker", 5) else {
        return;
    };
    println!(
        "tracked service killed on the master -> VIP on the backup (VRRPv3 100 ms, tracker interval 1 s, {runs} runs each)"
    );
    println!(
        "added = that time minus Skew_Time (60.9 ms); target for event-driven trackers: added <= 50 ms\n"
    );
    println!(
        "{:<18} {:>10} {:>10} {:>14} {:>12} {:>7}",
        "tracker", "median ms", "max ms", "added med ms", "added max", "target"
    );
    for setup in [Setup::VipdProcess, Setup::VipdExec, Setup::Keepalived] {
        let mut m = measure(setup, runs);
        if m.is_empty() {
            println!("{:<18} no readable run", setup.label());
            continue;
        }
        m.sort();
        let (med, max) = (m[m.len() / 2], *m.last().unwrap());
        let target = match setup {
            Setup::VipdProcess => {
                if max.saturating_sub(SKEW) <= Duration::from_millis(50) && m.len() == runs {
                    "met"
                } else {
                    "MISSED"
                }
            }
            _ => "-",
        };
        println!(
            "{:<18} {:>10} {:>10} {:>14} {:>12} {:>7}",
            setup.label(),
            ms(med),
            ms(max),
            ms(med.saturating_sub(SKEW)),
            ms(max.saturating_sub(SKEW)),
            target
        );
    }
}

//! Scale benchmark: many instances per router, vipd and keepalived side by
//! side, in one run.
//!
//! Lab: a master r1 (priority 150) and a backup r2 (100) on a lab bridge.
//! A cell is N instances per router at one advert interval (VRRPv3), on one
//! interface or on two:
//!   - vipd: N instances per interface, VRIDs 1..N, each with one IPv4 and
//!     one IPv6 VIP (dual-stack: one state machine per instance, one advert
//!     per family per interval);
//!   - keepalived: the equivalent pair of `vrrp_instance`s per vipd instance
//!     (one IPv4, one IPv6, same VRID, priority and interval).
//!
//! VIPs: instance i on interface k holds 10.(200+k).0.i/32 and
//! fd00::(200+k):0:0:0:i/128 (hexadecimal in the address: fd00::c8:0:0:0:i
//! on eth0); host addresses are 10.199.k.1/24 (r1) and .2 (r2). Host routes,
//! so 2 x 255 VIPs add no prefix routes, and both routers configure the same
//! addresses. With two interfaces each router has eth0 on the lab's bridge
//! br0 and eth1 on a second bridge br1 of the same switch (`Lab::add_nic`),
//! VRIDs 1..N on each: two separate LAN segments, as two NICs on two
//! switches would be; the cut takes down both of the master's switch ports.
//!
//! Per cell and daemon, in a fresh lab: the master is started alone and
//! converges (all its VIPs present), then the backup (all its instances
//! BACKUP); the window starts when the master has been master for 6 s (past
//! the second gratuitous ARP burst both daemons send 5 s after becoming
//! master) and the backup for 2 s. Over the window (20 s,
//! `VIPD_BENCH_WINDOW_S`), per role:
//!   - CPU s/min: utime + stime (/proc/PID/stat) of the daemon's processes
//!     (keepalived: its parent and its VRRP process) over the window, per
//!     minute; `/ka`: vipd's figure divided by keepalived's in the same cell;
//!   - RSS MiB: VmRSS summed over those processes, at the window's end;
//!   - adv/s: VRRP packets (IPv4 and IPv6 protocol 112) the router sent, per
//!     second: a counting tcpdump on its switch port(s), frames entering the
//!     switch; the same for both daemons (the cell header gives the expected
//!     master rate, N x interfaces x 2 families / interval);
//!   - to M / to B: instances that became MASTER / BACKUP during the window
//!     (vipd: `became_master` deltas of `vipctl status --json`, and its
//!     "state change ... to=BACKUP" log lines; keepalived: its "Entering
//!     MASTER STATE" / "Entering BACKUP STATE" log lines);
//!   - drops: vipd's `drops` and `unmatched_drops` deltas (adverts it read
//!     and refused); keepalived keeps no such counter at hand: `-`;
//!   - sock drops: packets the kernel dropped on the namespace's VRRP raw
//!     sockets (/proc/net/raw and raw6 `drops`, full receive buffer), both
//!     daemons;
//!   - converge ms: master: from the daemon's spawn to the last of its VIPs
//!     added (all present; `ip -ts monitor address` in the host); backup:
//!     from its spawn until all its instances report BACKUP (vipd: `vipctl
//!     status`; keepalived: its log), polled every 50 ms;
//!   - moved ms: backup row: the master's switch port(s) down (cable cut) ->
//!     the last VIP added on the backup, all present; master row: port(s)
//!     up again -> the last VIP back on the master (preemption), all present
//!     and none left on the backup (`ip -ts monitor address` on each host).
//!
//! Cells (default, about 20 minutes with keepalived and no baseline, 30 with
//! one): N in {16, 64, 255} x interval in {100, 20, 10} ms, and 255 x 20 ms
//! on 2 interfaces; `VIPD_BENCH_CELLS=64x20,255x20x2` picks some
//! (N x ms [x interfaces]). `VIPD_BENCH_RUNS=N` repeats each cell.
//! `VIPD_BENCH_BASELINE=/path/to/an/older/vipd` adds rows for that binary
//! ("vipd@base"), measured in the same run and lab.
//!
//! `VIPD_BENCH_MODE=burst`: the deletion burst instead. In a converged pair
//! (default 64 instances at 100 ms, `VIPD_BENCH_CELLS` to change), all the
//! master's VIPs are deleted at once by one `ip -batch` in its namespace,
//! then observed until all are back on the master (and none on the backup)
//! and 1 s more. From `ip -ts monitor address` on both routers:
//!   - deleted: VIPs seen deleted, of all;
//!   - adds/VIP: address notifications (RTM_NEWADDR) per VIP on the master
//!     after the batch, min/median/max, and in total: 1 is one re-add; a
//!     VIP added again while present (a replace) counts too;
//!   - vips_restored: the delta of vipd's counter, all instances;
//!   - to M r1/r2: instances that became MASTER on the master / the backup;
//!   - backup took: VIPs added on the backup;
//!   - all back ms: from the first delete to the last VIP's final re-add on
//!     the master.
//!
//! Figures, not assertions. Run as root:
//!     cargo bench --bench scale

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::compared::Daemon;
use lab::ipmon::{AddrMonitor, addr_events};
use lab::procstat::{CpuSample, tree_rss_kib};
use lab::vipd::Vipd;
use lab::{Counted, Host, Lab, PacketCount, ProcHandle, now_epoch, wait_until};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

const MASTER_PRIO: u8 = 150;
const BACKUP_PRIO: u8 = 100;
const VRRP_FILTER: &str = "ip proto 112 or ip6 proto 112";
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for a convergence or a move before giving up on it.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
struct Cell {
    /// Instances per interface (vipd; keepalived has twice as many).
    n: usize,
    interval_ms: u64,
    nics: usize,
}

impl Cell {
    fn parse(s: &str) -> Option<Cell> {
        let parts: Vec<usize> = s
            .trim()
            .split('x')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let (n, ms, nics) = match parts[..] {
            [n, ms] => (n, ms, 1),
            [n, ms, nics] => (n, ms, nics),
            _ => return None,
        };
        ((1..=255).contains(&n)
            && ms >= 10
            && ms % 10 == 0
            && ms <= 40_950
            && (1..=2).contains(&nics))
        .then_some(Cell {
            n,
            interval_ms: ms as u64,
            nics,
        })
    }

    fn label(&self) -> String {
        match self.nics {
            1 => format!("{}x{}", self.n, self.interval_ms),
            k => format!("{}x{}x{k}", self.n, self.interval_ms),
        }
    }

    fn describe(&self) -> String {
        let ifs = if self.nics == 1 {
            "eth0".to_string()
        } else {
            format!("each of {} interfaces", self.nics)
        };
        format!(
            "{} dual-stack instances on {ifs}, {} ms (keepalived: {} vrrp_instances); master sends {:.0} adverts/s",
            self.n,
            self.interval_ms,
            2 * self.n * self.nics,
            self.expected_rate()
        )
    }

    fn expected_rate(&self) -> f64 {
        (2 * self.n * self.nics) as f64 * 1000.0 / self.interval_ms as f64
    }

    fn ifaces(&self) -> Vec<String> {
        (0..self.nics).map(|k| format!("eth{k}")).collect()
    }

    fn vip4(k: usize, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 200 + k as u8, 0, i as u8)
    }

    fn vip6(k: usize, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 200 + k as u16, 0, 0, 0, i as u16)
    }

    /// (interface index, instance number 1..=N) of every instance.
    fn instances(&self) -> impl Iterator<Item = (usize, usize)> {
        let n = self.n;
        (0..self.nics).flat_map(move |k| (1..=n).map(move |i| (k, i)))
    }

    /// Every VIP of the cell, with its interface.
    fn vips(&self) -> Vec<(String, IpAddr)> {
        self.instances()
            .flat_map(|(k, i)| {
                [
                    (format!("eth{k}"), IpAddr::V4(Self::vip4(k, i))),
                    (format!("eth{k}"), IpAddr::V6(Self::vip6(k, i))),
                ]
            })
            .collect()
    }

    fn vipd_yaml(&self, prio: u8) -> String {
        let mut y = String::from("instances:\n");
        for (k, i) in self.instances() {
            y.push_str(&format!(
                "  - name: e{k}-{i}\n    interface: eth{k}\n    vrid: {i}\n    priority: {prio}\n    advert_interval: {}ms\n    vips: [\"{}/32\", \"{}/128\"]\n",
                self.interval_ms,
                Self::vip4(k, i),
                Self::vip6(k, i)
            ));
        }
        y
    }

    fn keepalived_conf(&self, prio: u8) -> String {
        let mut c = String::from("global_defs {\n    vrrp_version 3\n}\n");
        let int = self.interval_ms as f64 / 1000.0;
        for (k, i) in self.instances() {
            for (fam, vip) in [
                ("4", format!("{}/32", Self::vip4(k, i))),
                ("6", format!("{}/128", Self::vip6(k, i))),
            ] {
                c.push_str(&format!(
                    "vrrp_instance e{k}_{i}_{fam} {{\n    interface eth{k}\n    state BACKUP\n    virtual_router_id {i}\n    priority {prio}\n    advert_int {int}\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
                ));
            }
        }
        c
    }
}

fn default_cells() -> Vec<Cell> {
    let mut v = Vec::new();
    for n in [16, 64, 255] {
        for ms in [100, 20, 10] {
            v.push(Cell {
                n,
                interval_ms: ms,
                nics: 1,
            });
        }
    }
    v.push(Cell {
        n: 255,
        interval_ms: 20,
        nics: 2,
    });
    v
}

/// A router of the pair.
struct Router {
    host: Host,
    proc: ProcHandle,
    vipd: Option<Vipd>,
    /// Instances (keepalived: vrrp_instances) it runs.
    instances: usize,
}

/// Counters read outside the window.
#[derive(Clone, Copy, Default)]
struct Counters {
    to_master: u64,
    to_backup: u64,
    drops: Option<u64>,
    restored: Option<u64>,
}

impl Router {
    fn start(host: &Host, daemon: &Daemon, cell: &Cell, prio: u8) -> Router {
        match daemon.start_vipd(host, &cell.vipd_yaml(prio)) {
            Some(v) => Router {
                host: host.clone(),
                proc: v.proc.clone(),
                vipd: Some(v),
                instances: cell.n * cell.nics,
            },
            None => Router {
                host: host.clone(),
                proc: host.start_keepalived(&cell.keepalived_conf(prio)),
                vipd: None,
                instances: 2 * cell.n * cell.nics,
            },
        }
    }

    fn counters(&self) -> Counters {
        let log = self.proc.log();
        match &self.vipd {
            Some(v) => {
                let st = v.status();
                let empty = Vec::new();
                let insts = st["instances"].as_array().unwrap_or(&empty);
                let sum = |key: &str| -> u64 { insts.iter().filter_map(|i| i[key].as_u64()).sum() };
                let tally = |o: &serde_json::Value| -> u64 {
                    o.as_object()
                        .map(|m| m.values().filter_map(|x| x.as_u64()).sum())
                        .unwrap_or(0)
                };
                Counters {
                    to_master: sum("became_master"),
                    to_backup: log
                        .lines()
                        .filter(|l| {
                            l.contains("state change instance=") && l.contains(" to=BACKUP")
                        })
                        .count() as u64,
                    drops: Some(
                        insts.iter().map(|i| tally(&i["drops"])).sum::<u64>()
                            + tally(&st["unmatched_drops"]),
                    ),
                    restored: Some(sum("vips_restored")),
                }
            }
            None => Counters {
                to_master: log.matches("Entering MASTER STATE").count() as u64,
                to_backup: log.matches("Entering BACKUP STATE").count() as u64,
                drops: None,
                restored: None,
            },
        }
    }

    /// All instances in BACKUP (keepalived: as many "Entering BACKUP STATE"
    /// lines as instances).
    fn all_backup(&self) -> bool {
        match &self.vipd {
            Some(v) => {
                let st = v.status();
                st["instances"].as_array().is_some_and(|a| {
                    a.len() == self.instances && a.iter().all(|i| i["state"] == "BACKUP")
                })
            }
            None => self.proc.log().matches("Entering BACKUP STATE").count() >= self.instances,
        }
    }
}

/// How many of `vips` the host holds now.
fn present(host: &Host, cell: &Cell, vips: &HashSet<IpAddr>) -> usize {
    cell.ifaces()
        .iter()
        .flat_map(|d| host.addrs(d))
        .filter(|a| vips.contains(&a.addr))
        .count()
}

/// Per VIP, when its last presence began (an add not followed by a
/// delete), from the monitors' logs; None for VIPs absent at the end.
fn present_since(
    mons: &[AddrMonitor],
    vips: &HashSet<IpAddr>,
) -> HashMap<IpAddr, Option<Duration>> {
    let mut events: Vec<_> = mons
        .iter()
        .flat_map(|m| addr_events(&m.proc.log()))
        .collect();
    events.sort_by_key(|e| e.ts);
    let mut since: HashMap<IpAddr, Option<Duration>> = vips.iter().map(|a| (*a, None)).collect();
    for e in events {
        if let Some(s) = since.get_mut(&e.addr) {
            match (e.added, *s) {
                (true, None) => *s = Some(e.ts),
                (false, _) => *s = None,
                _ => {}
            }
        }
    }
    since
}

/// A time, or what kept it from being one.
type Outcome = Result<Duration, String>;

/// From `t0` to the last VIP whose final presence began after it, if all
/// `vips` are present (ones already present before `t0` count as 0). Call
/// it once `ip addr` shows them all: it gives the monitors 200 ms to log
/// the last notifications.
fn all_added_after(mons: &[AddrMonitor], vips: &HashSet<IpAddr>, t0: Duration) -> Outcome {
    std::thread::sleep(Duration::from_millis(200));
    let since = present_since(mons, vips);
    let there = since.values().filter(|s| s.is_some()).count();
    if there < vips.len() {
        return Err(format!("{there}/{} present", vips.len()));
    }
    Ok(since
        .values()
        .flatten()
        .map(|t| t.saturating_sub(t0))
        .max()
        .unwrap_or_default())
}

/// What one role gave in one cell.
struct RoleFigures {
    cpu_per_min: f64,
    procs: usize,
    rss_kib: u64,
    adverts_per_s: f64,
    /// Frames tcpdump's ring could not hold (the rate is from the kernel's
    /// match count, so it still counts them).
    ring_dropped: u64,
    to_master: u64,
    to_backup: u64,
    drops: Option<u64>,
    sock_drops: u64,
    converge: Outcome,
    moved: Outcome,
}

struct Measured {
    master: RoleFigures,
    backup: RoleFigures,
}

fn since_start(t0: Instant) -> String {
    format!("[{:7.1}s]", t0.elapsed().as_secs_f64())
}

fn window() -> Duration {
    let s = std::env::var("VIPD_BENCH_WINDOW_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s >= 1.0)
        .unwrap_or(20.0);
    Duration::from_secs_f64(s)
}

/// A converged pair in a fresh lab: the lab, the routers (master, backup),
/// the address monitors of each, the master's and backup's switch ports
/// and the convergence outcomes. [`pair`] returns it when the window may
/// start.
struct Pair {
    lab: Lab,
    r1: Router,
    r2: Router,
    mon1: Vec<AddrMonitor>,
    mon2: Vec<AddrMonitor>,
    ports1: Vec<String>,
    ports2: Vec<String>,
    vips: HashSet<IpAddr>,
    converge1: Outcome,
    converge2: Outcome,
}

fn pair(daemon: &Daemon, cell: &Cell, t0: Instant) -> Pair {
    let tag = format!("{} {}", cell.label(), daemon.name());
    let lab = Lab::new(&format!("scale_{}_{}", cell.label(), daemon.name()));
    let h1 = lab.add_host("r1", &["10.199.0.1/24"]);
    let h2 = lab.add_host("r2", &["10.199.0.2/24"]);
    let (mut ports1, mut ports2) = (vec![h1.peer.clone()], vec![h2.peer.clone()]);
    for k in 1..cell.nics {
        let br = format!("br{k}");
        let ifname = format!("eth{k}");
        ports1.push(lab.add_nic(&h1, &ifname, &br, &[&format!("10.199.{k}.1/24")]));
        ports2.push(lab.add_nic(&h2, &ifname, &br, &[&format!("10.199.{k}.2/24")]));
    }
    let mon1: Vec<_> = cell
        .ifaces()
        .iter()
        .map(|d| h1.start_addr_monitor(d))
        .collect();
    let mon2: Vec<_> = cell
        .ifaces()
        .iter()
        .map(|d| h2.start_addr_monitor(d))
        .collect();
    let vips: HashSet<IpAddr> = cell.vips().into_iter().map(|(_, a)| a).collect();

    let r1 = Router::start(&h1, daemon, cell, MASTER_PRIO);
    let up = wait_until(PATIENCE, POLL, || present(&h1, cell, &vips) == vips.len());
    let converge1 = all_added_after(&mon1, &vips, r1.proc.spawned_at());
    let master_since = Instant::now();
    eprintln!(
        "{} {tag}: master {}",
        since_start(t0),
        if up { "converged" } else { "did NOT converge" }
    );

    let r2 = Router::start(&h2, daemon, cell, BACKUP_PRIO);
    let backup = wait_until(PATIENCE, POLL, || r2.all_backup());
    let converge2 = if backup {
        Ok(now_epoch().saturating_sub(r2.proc.spawned_at()))
    } else {
        Err("not all BACKUP".into())
    };
    let ready_at =
        (master_since + Duration::from_secs(6)).max(Instant::now() + Duration::from_secs(2));
    std::thread::sleep(ready_at.saturating_duration_since(Instant::now()));
    Pair {
        lab,
        r1,
        r2,
        mon1,
        mon2,
        ports1,
        ports2,
        vips,
        converge1,
        converge2,
    }
}

/// The steady-state figures of one router over the window, before the
/// convergence and move times are known.
struct Window {
    cpu: Duration,
    procs: usize,
    rss_kib: u64,
    /// Per switch port, the counters at the window's start and end.
    sent: Vec<(Counted, Counted)>,
    before: Counters,
    after: Counters,
    sock_drops: u64,
}

fn measure(daemon: &Daemon, cell: &Cell, t0: Instant) -> Measured {
    let tag = format!("{} {}", cell.label(), daemon.name());
    let p = pair(daemon, cell, t0);

    // The window: counters and socket drops read around it (vipctl costs
    // the daemon CPU), tcpdumps started before it.
    let routers = [(&p.r1, &p.ports1), (&p.r2, &p.ports2)];
    let before: Vec<Counters> = routers.iter().map(|(r, _)| r.counters()).collect();
    let sock0: Vec<u64> = routers
        .iter()
        .map(|(r, _)| r.host.raw_socket_drops(112))
        .collect();
    let counts: Vec<Vec<PacketCount>> = routers
        .iter()
        .map(|(_, ports)| {
            ports
                .iter()
                .map(|port| p.lab.count_from(port, VRRP_FILTER))
                .collect()
        })
        .collect();
    eprintln!("{} {tag}: window of {:?}", since_start(t0), window());
    let snap = |counts: &Vec<Vec<PacketCount>>| -> Vec<Vec<Counted>> {
        counts
            .iter()
            .map(|cs| cs.iter().map(PacketCount::snapshot).collect())
            .collect()
    };
    let sent0 = snap(&counts);
    let cpu0: Vec<CpuSample> = routers
        .iter()
        .map(|(r, _)| CpuSample::take(r.proc.pid()))
        .collect();
    let w0 = Instant::now();
    std::thread::sleep(window());
    let cpu1: Vec<CpuSample> = routers
        .iter()
        .map(|(r, _)| CpuSample::take(r.proc.pid()))
        .collect();
    let span = w0.elapsed();
    let sent1 = snap(&counts);
    counts.into_iter().flatten().for_each(PacketCount::stop);
    let rss: Vec<u64> = routers
        .iter()
        .map(|(r, _)| tree_rss_kib(r.proc.pid()))
        .collect();
    let mut windows: Vec<Window> = Vec::new();
    for (idx, (r, _)) in routers.iter().enumerate() {
        windows.push(Window {
            cpu: cpu0[idx]
                .until(&cpu1[idx])
                .mul_f64(60.0 / span.as_secs_f64()),
            procs: cpu1[idx].processes(),
            rss_kib: rss[idx],
            sent: sent0[idx]
                .iter()
                .zip(&sent1[idx])
                .map(|(a, b)| (*a, *b))
                .collect(),
            before: before[idx],
            after: r.counters(),
            sock_drops: r.host.raw_socket_drops(112).saturating_sub(sock0[idx]),
        });
    }

    // Cut the master's cable(s): all VIPs to the backup.
    let cut = now_epoch();
    for port in &p.ports1 {
        p.lab.set_port(port, false);
    }
    wait_until(PATIENCE, POLL, || {
        present(&p.r2.host, cell, &p.vips) == p.vips.len()
    });
    let failover = all_added_after(&p.mon2, &p.vips, cut);
    eprintln!("{} {tag}: cut: {}", since_start(t0), show(&failover));
    std::thread::sleep(Duration::from_millis(500));
    let restore = now_epoch();
    for port in &p.ports1 {
        p.lab.set_port(port, true);
    }
    let back = wait_until(PATIENCE, POLL, || {
        present(&p.r1.host, cell, &p.vips) == p.vips.len()
            && present(&p.r2.host, cell, &p.vips) == 0
    });
    let mut failback = all_added_after(&p.mon1, &p.vips, restore);
    if !back && failback.is_ok() {
        failback = Err("VIPs left on the backup".into());
    }
    eprintln!("{} {tag}: restore: {}", since_start(t0), show(&failback));

    let figures = |w: &Window, converge: Outcome, moved: Outcome| RoleFigures {
        cpu_per_min: w.cpu.as_secs_f64(),
        procs: w.procs,
        rss_kib: w.rss_kib,
        adverts_per_s: w
            .sent
            .iter()
            .map(|(a, b)| {
                b.matched.saturating_sub(a.matched) as f64
                    / b.at.saturating_sub(a.at).as_secs_f64().max(1e-3)
            })
            .sum(),
        ring_dropped: w
            .sent
            .iter()
            .map(|(a, b)| b.dropped.saturating_sub(a.dropped))
            .sum(),
        to_master: w.after.to_master.saturating_sub(w.before.to_master),
        to_backup: w.after.to_backup.saturating_sub(w.before.to_backup),
        drops: w
            .after
            .drops
            .zip(w.before.drops)
            .map(|(a, b)| a.saturating_sub(b)),
        sock_drops: w.sock_drops,
        converge,
        moved,
    };
    Measured {
        master: figures(&windows[0], p.converge1, failback),
        backup: figures(&windows[1], p.converge2, failover),
    }
}

/// Runs `f`; a panic (a lab that could not be set up, a daemon that died)
/// is reported on stderr by the panic hook and gives None, so one cell
/// does not end a long run. The lab cleans up while unwinding.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(d) => format!("{:.1}", d.as_secs_f64() * 1000.0),
        Err(e) => e.clone(),
    }
}

fn header() {
    println!(
        "{:<11} {:<6} {:>9} {:>6} {:>7} {:>9} {:>4} {:>4} {:>5} {:>6} {:>11} {:>10}",
        "impl",
        "role",
        "CPU s/min",
        "/ka",
        "RSS MiB",
        "adv/s",
        "to M",
        "to B",
        "drops",
        "sockdr",
        "converge ms",
        "moved ms"
    );
}

fn row(name: &str, role: &str, f: &RoleFigures, ka: Option<&RoleFigures>) {
    let ratio = match ka {
        Some(k) if k.cpu_per_min > 0.0 => format!("{:.2}", f.cpu_per_min / k.cpu_per_min),
        _ => "-".into(),
    };
    let ring = if f.ring_dropped > 0 {
        format!(" (tcpdump ring dropped {}, counted)", f.ring_dropped)
    } else {
        String::new()
    };
    println!(
        "{name:<11} {role:<6} {:>9.3} {ratio:>6} {:>7.1} {:>9.1} {:>4} {:>4} {:>5} {:>6} {:>11} {:>10}{ring}",
        f.cpu_per_min,
        f.rss_kib as f64 / 1024.0,
        f.adverts_per_s,
        f.to_master,
        f.to_backup,
        f.drops.map_or("-".into(), |d| d.to_string()),
        f.sock_drops,
        show(&f.converge),
        show(&f.moved),
    );
    if f.procs == 0 {
        println!("{name:<11} {role:<6} (no process left at the window's end)");
    }
}

fn cells_from_env(default: Vec<Cell>) -> Vec<Cell> {
    match std::env::var("VIPD_BENCH_CELLS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| {
                Cell::parse(s).unwrap_or_else(|| {
                    eprintln!(
                        "scale bench: bad cell {s:?} in VIPD_BENCH_CELLS (N x ms [x interfaces], e.g. 64x20 or 255x20x2; N 1-255, ms a multiple of 10, 1-2 interfaces)"
                    );
                    std::process::exit(2)
                })
            })
            .collect(),
        _ => default,
    }
}

/// CPU time the hypervisor gave to others (steal), all CPUs, from /proc/stat.
fn steal() -> Duration {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8)?.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ticks * 1_000_000_000 / lab::procstat::clock_ticks())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let ka = std::process::Command::new(lab::keepalived_bin())
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&o.stdout).lines())
                .find(|l| l.starts_with("Keepalived"))
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    println!(
        "machine: {nproc} CPUs, load {}, kernel {}, {ka}; {date}",
        loadavg(),
        kernel.trim()
    );
}

fn table(runs: usize, t0: Instant) {
    let cells = cells_from_env(default_cells());
    let daemons = Daemon::compared();
    println!(
        "scale: master (priority {MASTER_PRIO}) and backup ({BACKUP_PRIO}), VRRPv3, {}-s window per cell and daemon, {runs} run(s) each",
        window().as_secs_f64()
    );
    let mut summary: Vec<(String, String, f64, f64)> = Vec::new();
    for cell in &cells {
        for run in 0..runs {
            let label = if runs > 1 {
                format!("{} #{}", cell.label(), run + 1)
            } else {
                cell.label()
            };
            let results: Vec<(&Daemon, Option<Measured>)> = daemons
                .iter()
                .map(|d| (d, guarded(|| measure(d, cell, t0))))
                .collect();
            let ka = results
                .iter()
                .find(|(d, _)| **d == Daemon::Keepalived)
                .and_then(|(_, m)| m.as_ref());
            println!("\ncell {label}: {}", cell.describe());
            header();
            for (d, m) in &results {
                let Some(m) = m else {
                    println!("{:<11} failed (the panic above, on stderr)", d.name());
                    continue;
                };
                let (km, kb) = match (ka, d) {
                    (Some(k), Daemon::Vipd | Daemon::VipdBaseline(_)) => {
                        (Some(&k.master), Some(&k.backup))
                    }
                    _ => (None, None),
                };
                row(d.name(), "master", &m.master, km);
                row(d.name(), "backup", &m.backup, kb);
                summary.push((
                    label.clone(),
                    d.name().to_string(),
                    m.master.cpu_per_min,
                    m.backup.cpu_per_min,
                ));
            }
        }
    }
    println!("\nCPU s/min summary (master / backup):");
    let names: Vec<&str> = daemons.iter().map(|d| d.name()).collect();
    let mut line = format!("{:<12}", "cell");
    for n in &names {
        line.push_str(&format!(" {:>17}", n));
    }
    println!("{line}");
    let mut labels: Vec<&String> = Vec::new();
    for (l, ..) in &summary {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    for l in labels {
        let mut line = format!("{l:<12}");
        for n in &names {
            match summary.iter().find(|(sl, sn, ..)| sl == l && sn == n) {
                Some((.., m, b)) => line.push_str(&format!(" {:>8.3} /{:>7.3}", m, b)),
                None => line.push_str(&format!(" {:>17}", "-")),
            }
        }
        println!("{line}");
    }
}

/// The deletion burst's figures for one daemon.
struct Burst {
    vips: usize,
    deleted: usize,
    adds: Vec<usize>,
    restored: Option<u64>,
    to_master: (u64, u64),
    backup_took: usize,
    all_back: Outcome,
}

fn burst(daemon: &Daemon, cell: &Cell, t0: Instant) -> Burst {
    let tag = format!("{} {} burst", cell.label(), daemon.name());
    let p = pair(daemon, cell, t0);
    let before = (p.r1.counters(), p.r2.counters());
    let batch = p.lab.tmpdir().join("delete-all.batch");
    let lines: String = cell
        .vips()
        .iter()
        .map(|(dev, a)| {
            let len = if a.is_ipv4() { 32 } else { 128 };
            format!("address del {a}/{len} dev {dev}\n")
        })
        .collect();
    std::fs::write(&batch, lines).expect("write the batch file");
    let t_del = now_epoch();
    let out = p.r1.host.exec(&["ip", "-batch", batch.to_str().unwrap()]);
    if !out.status.success() {
        eprintln!(
            "{tag}: ip -batch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let back = wait_until(PATIENCE, POLL, || {
        present(&p.r1.host, cell, &p.vips) == p.vips.len()
            && present(&p.r2.host, cell, &p.vips) == 0
    });
    // Late churn, if any, shows too.
    std::thread::sleep(Duration::from_secs(1));
    let after = (p.r1.counters(), p.r2.counters());
    let events: Vec<_> = p
        .mon1
        .iter()
        .flat_map(|m| addr_events(&m.proc.log()))
        .filter(|e| e.ts >= t_del && p.vips.contains(&e.addr))
        .collect();
    let first_delete = events.iter().filter(|e| !e.added).map(|e| e.ts).min();
    let deleted: HashSet<IpAddr> = events.iter().filter(|e| !e.added).map(|e| e.addr).collect();
    let adds: Vec<usize> = p
        .vips
        .iter()
        .map(|a| events.iter().filter(|e| e.added && e.addr == *a).count())
        .collect();
    let backup_took: HashSet<IpAddr> = p
        .mon2
        .iter()
        .flat_map(|m| addr_events(&m.proc.log()))
        .filter(|e| e.ts >= t_del && e.added && p.vips.contains(&e.addr))
        .map(|e| e.addr)
        .collect();
    let all_back = match (back, first_delete) {
        (true, Some(first)) => all_added_after(&p.mon1, &p.vips, first),
        (false, _) => Err("not all back on the master".into()),
        (true, None) => Err("no delete seen".into()),
    };
    eprintln!("{} {tag}: all back: {}", since_start(t0), show(&all_back));
    Burst {
        vips: p.vips.len(),
        deleted: deleted.len(),
        adds,
        restored: after
            .0
            .restored
            .zip(before.0.restored)
            .map(|(a, b)| a.saturating_sub(b)),
        to_master: (
            after.0.to_master.saturating_sub(before.0.to_master),
            after.1.to_master.saturating_sub(before.1.to_master),
        ),
        backup_took: backup_took.len(),
        all_back,
    }
}

fn burst_table(runs: usize, t0: Instant) {
    let cells = cells_from_env(vec![Cell {
        n: 64,
        interval_ms: 100,
        nics: 1,
    }]);
    let daemons = Daemon::compared();
    println!(
        "deletion burst: all the master's VIPs deleted by one `ip -batch` in its namespace, {runs} run(s) each"
    );
    for cell in &cells {
        // Measured first, printed after: the progress lines go to stderr.
        let results: Vec<(&Daemon, Option<Burst>)> = (0..runs)
            .flat_map(|_| daemons.iter())
            .map(|d| (d, guarded(|| burst(d, cell, t0))))
            .collect();
        println!("\ncell {}: {}", cell.label(), cell.describe());
        println!(
            "{:<11} {:>9} {:>15} {:>11} {:>13} {:>11} {:>11} {:>12}",
            "impl",
            "deleted",
            "adds/VIP m/md/M",
            "adds total",
            "vips_restored",
            "to M r1/r2",
            "backup took",
            "all back ms"
        );
        for (d, b) in results {
            let Some(b) = b else {
                println!("{:<11} failed (the panic above, on stderr)", d.name());
                continue;
            };
            let mut adds = b.adds.clone();
            adds.sort();
            let mmm = format!(
                "{}/{}/{}",
                adds.first().unwrap_or(&0),
                adds.get(adds.len() / 2).unwrap_or(&0),
                adds.last().unwrap_or(&0)
            );
            println!(
                "{:<11} {:>9} {:>15} {:>11} {:>13} {:>11} {:>11} {:>12}",
                d.name(),
                format!("{}/{}", b.deleted, b.vips),
                mmm,
                adds.iter().sum::<usize>(),
                b.restored.map_or("-".into(), |r| format!("+{r}")),
                format!("{}/{}", b.to_master.0, b.to_master.1),
                b.backup_took,
                show(&b.all_back)
            );
        }
    }
}

fn main() {
    let Some(runs) = lab::compared::bench_runs("scale", 1) else {
        return;
    };
    let t0 = Instant::now();
    let steal0 = steal();
    machine();
    match std::env::var("VIPD_BENCH_MODE").as_deref() {
        Ok("burst") => burst_table(runs, t0),
        Ok("") | Ok("table") | Err(_) => table(runs, t0),
        Ok(other) => {
            eprintln!("scale bench: VIPD_BENCH_MODE={other:?}: table (default) or burst");
            std::process::exit(2);
        }
    }
    println!(
        "\nran {:.0} s; load now {}; VM steal during the run {:.1} s",
        t0.elapsed().as_secs_f64(),
        loadavg(),
        steal().saturating_sub(steal0).as_secs_f64()
    );
}

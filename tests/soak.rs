//! Soak: two vipd routers, each on its own systemd-networkd, and an observer
//! on a lab bridge, and a random but seeded stream of faults: VIP deletions,
//! link flaps, SIGSTOP/SIGCONT, SIGKILL + restart of either daemon, valid and
//! invalid reloads, malformed VRRP packets, `networkctl reconfigure` and
//! networkd restarts. Invariants are checked after every event and over the whole
//! run; the figures (events per kind, takeovers, the longest dual-master
//! window, RSS per daemon) are printed, and the test fails on any violation.
//! Run as root. docs/soak.md has the details.
//!
//! Environment:
//! - `VIPD_SOAK_EVENTS=N` (default 30): events to inject;
//! - `VIPD_SOAK_SECONDS=S` (default 60): stop injecting after S seconds
//!   (whichever bound comes first);
//! - `VIPD_SOAK_SEED=S` (default: from the clock, printed): the seed, to
//!   replay a run;
//! - `VIPD_SOAK_KINDS=a,b` (default: all): draw only these event kinds
//!   (names as in the printed table).
//!
//! Invariants:
//! 1. At rest (after each event, once the fault is undone): r1 (priority
//!    150, preempting) is MASTER and holds the VIP, r2 is BACKUP and does
//!    not, and the observer reaches the VIP at r1's MAC; reached within
//!    `REST_TIMEOUT`, else a violation.
//! 2. Both routers hold the VIP at once (from `ip monitor` timelines of
//!    both) for no longer than one advert interval plus the backup's skew
//!    time (plus `MEASURE_SLACK` for scheduling on a loaded machine), except
//!    while a daemon is stopped (SIGSTOP) or dead (SIGKILL until its
//!    restart has started).
//! 3. The backup takes over only during events that take the master away
//!    (its daemon stopped or killed, its link down); networkd reconfiguring
//!    or restarting under the master is not such an event. A SIGKILL +
//!    restart of the master that outlasts the backup's Master_Down_Interval
//!    costs a takeover and a preemption back (a quicker one is a warm
//!    restart): allowed and counted, never hidden. One more case is counted on its own line: a backup stopped for
//!    longer than its Master_Down_Interval taking over on SIGCONT (fixed:
//!    the daemon reads queued adverts before a backup's timer fires; the
//!    line should read 0).
//! 4. A reload of a valid file succeeds; of an invalid one fails, and the
//!    daemon keeps running on its old configuration.
//! 5. Malformed packets are dropped and counted (the routers' drop counters
//!    grow by at least the number sent to each) without a role change.
//! 6. At the end, after SIGTERM, no VIP and no device other than those the
//!    lab created is left on either router.
//! 7. RSS flat: a daemon that lived through at least `RSS_MIN_SAMPLES` rest
//!    checks ends within `RSS_SLACK_KIB` of its RSS at its
//!    `RSS_WARMUP`-th check.
//!
//! Each router runs its own dbus-daemon and systemd-networkd in a private
//! mount namespace (tests/lab/networkd.rs); networkd configures eth0's
//! address from a .network file, and vipd runs inside that namespace, so it
//! follows that networkd over D-Bus as on a real host.

mod lab;

use lab::ipmon::AddrMonitor;
use lab::networkd::Networkd;
use lab::vipd::Vipd;
use lab::{Host, Lab, procstat, wait_until};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const VIP: &str = "10.77.0.100";
const VIP_CIDR: &str = "10.77.0.100/24";
const VRID: u8 = 77;
/// Advert interval of both routers.
const INTERVAL: Duration = Duration::from_millis(100);
/// Priorities; r1 preempts back after every takeover.
const PRIO_R1: u8 = 150;
const PRIO_R2: u8 = 100;
/// How long the routers may take to reach rest after an event.
const REST_TIMEOUT: Duration = Duration::from_secs(6);
/// Allowance on top of interval + skew for the measurement itself: the
/// `ip monitor` stamps and two daemons on a loaded 2-core machine.
const MEASURE_SLACK: Duration = Duration::from_millis(100);
const RSS_WARMUP: usize = 5;
const RSS_MIN_SAMPLES: usize = 15;
const RSS_SLACK_KIB: u64 = 2048;

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    VipDelete,
    LinkFlap,
    StopCont,
    KillRestart,
    ReloadValid,
    ReloadInvalid,
    Malformed,
    NetworkdReconfigure,
    NetworkdRestart,
}

const KINDS: [Kind; 9] = [
    Kind::VipDelete,
    Kind::LinkFlap,
    Kind::StopCont,
    Kind::KillRestart,
    Kind::ReloadValid,
    Kind::ReloadInvalid,
    Kind::Malformed,
    Kind::NetworkdReconfigure,
    Kind::NetworkdRestart,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::VipDelete => "vip_delete",
            Kind::LinkFlap => "link_flap",
            Kind::StopCont => "sigstop_sigcont",
            Kind::KillRestart => "sigkill_restart",
            Kind::ReloadValid => "reload_valid",
            Kind::ReloadInvalid => "reload_invalid",
            Kind::Malformed => "malformed_packets",
            Kind::NetworkdReconfigure => "networkd_reconfigure",
            Kind::NetworkdRestart => "networkd_restart",
        }
    }
}

fn config(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    priority: {priority}\n    advert_interval: {}ms\n    vips: [{VIP_CIDR}]\n",
        INTERVAL.as_millis()
    )
}

/// Files `vipctl reload` must refuse, each for another reason.
fn invalid_config(rng: &mut Rng) -> String {
    let all = [
        "instances: [\n".to_string(),
        "instances:\n  - name: web\n    interfce: eth0\n".to_string(),
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: 0\n    vips: [{VIP_CIDR}]\n"
        ),
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    advert_interval: 1ms\n    vips: [{VIP_CIDR}]\n"
        ),
        "\u{0}\u{1}garbage\u{ff}".to_string(),
        String::new(),
    ];
    all[rng.below(all.len() as u64) as usize].clone()
}

/// eth0's .network file: the router's own address, static.
fn network_file(addr: &str) -> String {
    format!(
        "[Match]\nName=eth0\n\n[Network]\nAddress={addr}\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n"
    )
}

/// One router: its host, daemon (restarted on SIGKILL events), its
/// networkd and the priority its file has now. `vipd` is declared before
/// `networkd` so it is stopped first when the router is dropped.
struct Router {
    host: Host,
    vipd: Vipd,
    networkd: Networkd,
    priority: u8,
    /// RSS (KiB) at each rest check, for the current process.
    rss: Vec<u64>,
    /// Per finished process: (pid, samples, RSS at warm-up, RSS at end).
    rss_done: Vec<(u32, usize, u64, u64)>,
}

impl Router {
    fn retire_rss(&mut self) {
        if self.rss.len() > RSS_WARMUP {
            self.rss_done.push((
                self.vipd.proc.pid(),
                self.rss.len(),
                self.rss[RSS_WARMUP - 1],
                *self.rss.last().unwrap_or(&0),
            ));
        }
        self.rss.clear();
    }
}

#[derive(Default)]
struct Figures {
    injected: BTreeMap<Kind, u64>,
    takeovers: BTreeMap<Kind, u64>,
    violations: Vec<String>,
    malformed_sent: u64,
    /// Takeovers by the backup right after its own SIGCONT.
    backup_resume_takeovers: u64,
    rest_wait_max: Duration,
}

/// When the dual-master rule is off: a daemon stopped or dead.
type Exempt = Vec<(Duration, Duration)>;

/// The event kinds to draw from: all, or those `VIPD_SOAK_KINDS` names
/// (comma-separated, as the table prints them), to hammer one fault.
fn soak_kinds() -> Vec<Kind> {
    let Ok(names) = std::env::var("VIPD_SOAK_KINDS") else {
        return KINDS.to_vec();
    };
    names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            KINDS
                .into_iter()
                .find(|k| k.name() == n)
                .unwrap_or_else(|| {
                    panic!(
                        "VIPD_SOAK_KINDS: no event kind {n:?} (have: {})",
                        KINDS.map(Kind::name).join(", ")
                    )
                })
        })
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn soak() {
    let events = env_u64("VIPD_SOAK_EVENTS").unwrap_or(30);
    let budget = Duration::from_secs(env_u64("VIPD_SOAK_SECONDS").unwrap_or(60));
    let seed = env_u64("VIPD_SOAK_SEED").unwrap_or_else(|| lab::now_epoch().as_nanos() as u64);
    println!(
        "soak: seed {seed}, up to {events} events in {budget:?} (replay: VIPD_SOAK_SEED={seed} VIPD_SOAK_EVENTS={events} cargo test --test soak -- --nocapture)"
    );
    let mut rng = Rng(seed);
    let kinds = soak_kinds();
    assert!(!kinds.is_empty(), "VIPD_SOAK_KINDS names no event kind");

    let lab = Lab::new("soak");
    let h1 = lab.add_host("r1", &[]);
    let h2 = lab.add_host("r2", &[]);
    let obs = lab.add_host("obs", &["10.77.0.200/24"]);
    let nd1 = h1.start_networkd(&[("10-eth0.network", &network_file("10.77.0.1/24"))]);
    let nd2 = h2.start_networkd(&[("10-eth0.network", &network_file("10.77.0.2/24"))]);
    let links_before = [links(&h1), links(&h2)];
    let mon1 = h1.start_addr_monitor("eth0");
    let mon2 = h2.start_addr_monitor("eth0");
    let mut r = [
        Router {
            vipd: nd1.start_vipd(&config(PRIO_R1)),
            networkd: nd1,
            host: h1.clone(),
            priority: PRIO_R1,
            rss: Vec::new(),
            rss_done: Vec::new(),
        },
        Router {
            vipd: nd2.start_vipd(&config(PRIO_R2)),
            networkd: nd2,
            host: h2.clone(),
            priority: PRIO_R2,
            rss: Vec::new(),
            rss_done: Vec::new(),
        },
    ];
    let mac1 = h1.mac("eth0");
    let mut fig = Figures::default();
    let mut exempt: Exempt = Vec::new();
    if let Err(e) = at_rest(&mut r, &obs, mac1, &mut fig) {
        panic!(
            "soak: no rest before the first event: {e}\n{}",
            r[0].vipd.proc.log_tail(30)
        );
    }

    let start = Instant::now();
    let mut done = 0;
    while done < events && start.elapsed() < budget {
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let who = rng.below(2) as usize;
        let before = vip_adds(&mon2);
        let ok = inject(kind, who, &mut r, &obs, &mut rng, &mut fig, &mut exempt);
        if let Err(e) = ok {
            fig.violations
                .push(format!("event {done} {} on r{}: {e}", kind.name(), who + 1));
        }
        if let Err(e) = at_rest(&mut r, &obs, mac1, &mut fig) {
            fig.violations.push(format!(
                "event {done} {} on r{}: no rest: {e}",
                kind.name(),
                who + 1
            ));
        }
        *fig.injected.entry(kind).or_default() += 1;
        if vip_adds(&mon2) > before {
            *fig.takeovers.entry(kind).or_default() += 1;
            // Invariant 3: only an event taking the master away may move
            // it. A backup resumed after a SIGSTOP longer than its
            // Master_Down_Interval takes over too today: its expired timer
            // fires before the master's queued adverts are read (one
            // takeover and a preemption back). Allowed and counted
            // separately, so it stays visible (docs/soak.md).
            let master_away =
                who == 0 && matches!(kind, Kind::LinkFlap | Kind::StopCont | Kind::KillRestart);
            if who == 1 && kind == Kind::StopCont {
                fig.backup_resume_takeovers += 1;
            } else if !master_away {
                // The daemons' own account of the moment, while it is
                // still in their logs' tails.
                fig.violations.push(format!(
                    "event {done} {} on r{}: the backup took over\n    r1:\n{}\n    r2:\n{}",
                    kind.name(),
                    who + 1,
                    r[0].vipd.proc.log_tail(40),
                    r[1].vipd.proc.log_tail(40)
                ));
            }
        }
        done += 1;
    }
    let elapsed = start.elapsed();

    // Invariant 2 over the whole run.
    let windows = dual_master_windows(&mon1, &mon2, &exempt);
    let skew = INTERVAL * u32::from(256 - u16::from(PRIO_R2)) / 256;
    let bound = INTERVAL + skew + MEASURE_SLACK;
    let longest = windows.iter().max().copied().unwrap_or_default();
    for w in &windows {
        if *w > bound {
            fig.violations.push(format!(
                "both routers held the VIP for {w:?} (bound: {INTERVAL:?} interval + {skew:?} skew + {MEASURE_SLACK:?} slack)"
            ));
        }
    }

    // Invariant 7.
    for x in r.iter_mut() {
        x.retire_rss();
    }
    let mut rss_lines = Vec::new();
    for (i, x) in r.iter().enumerate() {
        for &(pid, n, warm, end) in &x.rss_done {
            let flat = n < RSS_MIN_SAMPLES || end <= warm + RSS_SLACK_KIB;
            rss_lines.push(format!(
                "  r{} pid {pid}: {n} samples, RSS {warm} KiB at check {RSS_WARMUP} -> {end} KiB at the last{}",
                i + 1,
                if n < RSS_MIN_SAMPLES { " (too short-lived to judge)" } else if flat { "" } else { "  GROWS" }
            ));
            if !flat {
                fig.violations.push(format!(
                    "r{} pid {pid}: RSS grew from {warm} to {end} KiB over {n} checks",
                    i + 1
                ));
            }
        }
    }

    // Invariant 6.
    for x in &r {
        x.vipd.proc.stop();
    }
    for (i, x) in r.iter().enumerate() {
        if x.host.has_addr("eth0", VIP) {
            fig.violations
                .push(format!("r{}: VIP left on eth0 after SIGTERM", i + 1));
        }
        let now = links(&x.host);
        if now != links_before[i] {
            fig.violations.push(format!(
                "r{}: devices after the run {now:?}, before {:?}",
                i + 1,
                links_before[i]
            ));
        }
    }

    println!(
        "soak: seed {seed}: {done} events in {:.1} s",
        elapsed.as_secs_f64()
    );
    println!("  {:<18} {:>8} {:>10}", "event", "injected", "takeovers");
    for k in KINDS {
        println!(
            "  {:<18} {:>8} {:>10}",
            k.name(),
            fig.injected.get(&k).copied().unwrap_or(0),
            fig.takeovers.get(&k).copied().unwrap_or(0)
        );
    }
    println!("  malformed packets sent: {}", fig.malformed_sent);
    println!(
        "  takeovers by the backup on its own SIGCONT (known, allowed): {}",
        fig.backup_resume_takeovers
    );
    println!(
        "  dual-master windows outside stopped/dead periods: {} (longest {:?}, bound {bound:?})",
        windows.len(),
        longest
    );
    println!("  longest wait for rest: {:?}", fig.rest_wait_max);
    for l in &rss_lines {
        println!("{l}");
    }
    println!("  violations: {}", fig.violations.len());
    for v in &fig.violations {
        println!("    {v}");
    }
    assert!(
        fig.violations.is_empty(),
        "soak (seed {seed}): {} invariant violations, first: {}\nr1:\n{}\nr2:\n{}",
        fig.violations.len(),
        fig.violations[0],
        r[0].vipd.proc.log_tail(25),
        r[1].vipd.proc.log_tail(25)
    );
}

/// Device names in the host's namespace.
fn links(h: &Host) -> Vec<String> {
    let o = h.exec_ok(&["ip", "-o", "link", "show"]);
    let mut v: Vec<String> = o
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|s| s.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

fn vip_adds(m: &AddrMonitor) -> usize {
    m.events(VIP_CIDR)
        .iter()
        .filter(|(_, added)| *added)
        .count()
}

/// Invariant 1, waited for; also samples RSS.
fn at_rest(
    r: &mut [Router; 2],
    obs: &Host,
    mac1: [u8; 6],
    fig: &mut Figures,
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut why = String::new();
    let ok = wait_until(REST_TIMEOUT, Duration::from_millis(50), || {
        match rest_now(r) {
            Ok(()) => true,
            Err(e) => {
                why = e;
                false
            }
        }
    });
    if !ok {
        return Err(why);
    }
    // The observer's view: the VIP answers, from r1's MAC.
    let vip: IpAddr = VIP.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !obs.ping(vip, 3) {
        return Err("the observer gets no answer from the VIP".into());
    }
    let neigh = obs.exec_ok(&["ip", "neigh", "show", VIP, "dev", "eth0"]);
    let want = lab::format_mac(&mac1);
    if !neigh.to_lowercase().contains(&want) {
        return Err(format!(
            "the observer reaches the VIP at {neigh:?}, not at r1's {want}"
        ));
    }
    // Stable for one more interval: no dual master, no flapping.
    std::thread::sleep(INTERVAL * 2);
    rest_now(r)?;
    fig.rest_wait_max = fig.rest_wait_max.max(t0.elapsed());
    for x in r.iter_mut() {
        x.rss.push(procstat::rss_kib(x.vipd.proc.pid()));
    }
    Ok(())
}

fn rest_now(r: &[Router; 2]) -> Result<(), String> {
    for (i, x) in r.iter().enumerate() {
        if !x.vipd.proc.is_running() {
            return Err(format!(
                "r{}: vipd exited:\n{}",
                i + 1,
                x.vipd.proc.log_tail(20)
            ));
        }
    }
    let s1 = state(&r[0].vipd);
    let s2 = state(&r[1].vipd);
    let v1 = r[0].host.has_addr("eth0", VIP_CIDR);
    let v2 = r[1].host.has_addr("eth0", VIP_CIDR);
    if (s1.as_str(), s2.as_str(), v1, v2) == ("MASTER", "BACKUP", true, false) {
        Ok(())
    } else {
        Err(format!(
            "r1 {s1} (VIP {}), r2 {s2} (VIP {})",
            if v1 { "held" } else { "absent" },
            if v2 { "held" } else { "absent" }
        ))
    }
}

/// The instance's state, or why there is none (a status that fails is not
/// a panic here: the rest check retries).
fn state(v: &Vipd) -> String {
    let out = v.vipctl(&["status", "--json"]);
    if !out.status.success() {
        return "unreachable".into();
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|s| {
            s["instances"]
                .as_array()?
                .iter()
                .find(|i| i["name"] == "web")?["state"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// All drops a router has counted (per instance and unmatched).
fn drops(v: &Vipd) -> u64 {
    let out = v.vipctl(&["status", "--json"]);
    let Ok(s) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return 0;
    };
    let sum = |m: &serde_json::Value| -> u64 {
        m.as_object()
            .map(|o| o.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0)
    };
    let inst: u64 = s["instances"]
        .as_array()
        .map(|a| a.iter().map(|i| sum(&i["drops"])).sum())
        .unwrap_or(0);
    inst + sum(&s["unmatched_drops"])
}

#[allow(clippy::too_many_arguments)]
fn inject(
    kind: Kind,
    who: usize,
    r: &mut [Router; 2],
    obs: &Host,
    rng: &mut Rng,
    fig: &mut Figures,
    exempt: &mut Exempt,
) -> Result<(), String> {
    let x = &mut r[who];
    match kind {
        Kind::VipDelete => {
            // On the backup there is nothing to delete: a no-op, counted.
            let _ = x.host.exec(&["ip", "addr", "del", VIP_CIDR, "dev", "eth0"]);
        }
        Kind::LinkFlap => {
            x.host.link_down();
            std::thread::sleep(rng.millis(100, 1500));
            x.host.link_up();
        }
        Kind::StopCont => {
            let from = lab::now_epoch();
            x.vipd.proc.signal(libc::SIGSTOP);
            std::thread::sleep(rng.millis(50, 1500));
            x.vipd.proc.signal(libc::SIGCONT);
            exempt.push((from, lab::now_epoch()));
        }
        Kind::KillRestart => {
            let from = lab::now_epoch();
            x.vipd.proc.kill();
            x.retire_rss();
            std::thread::sleep(rng.millis(0, 1500));
            let yaml = std::fs::read_to_string(&x.vipd.config).unwrap_or_default();
            x.vipd = x.networkd.start_vipd(&yaml);
            // Exempt until the restarted daemon has said it started.
            exempt.push((from, lab::now_epoch()));
        }
        Kind::ReloadValid => {
            // Priorities move but keep r1 above r2 (r1 stays master).
            x.priority = if who == 0 {
                140 + rng.below(60) as u8
            } else {
                50 + rng.below(70) as u8
            };
            x.vipd.rewrite_config(&config(x.priority));
            let out = x.vipd.vipctl(&["reload"]);
            if !out.status.success() {
                return Err(format!(
                    "valid reload refused: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Kind::ReloadInvalid => {
            x.vipd.rewrite_config(&invalid_config(rng));
            let out = x.vipd.vipctl(&["reload"]);
            // The good file back, for later restarts.
            x.vipd.rewrite_config(&config(x.priority));
            if out.status.success() {
                return Err("invalid reload accepted".into());
            }
            if !x.vipd.proc.is_running() {
                return Err("vipd exited on an invalid reload".into());
            }
        }
        Kind::Malformed => {
            let n = 1 + rng.below(20);
            let before = drops(&x.vipd);
            let target = if who == 0 { "10.77.0.1" } else { "10.77.0.2" };
            send_malformed(obs, target, n, rng.next())?;
            fig.malformed_sent += n;
            let counted = wait_until(Duration::from_secs(2), Duration::from_millis(50), || {
                drops(&x.vipd) >= before + n
            });
            if !counted {
                return Err(format!(
                    "{n} malformed packets sent, {} drops counted",
                    drops(&x.vipd).saturating_sub(before)
                ));
            }
        }
        Kind::NetworkdReconfigure => {
            // networkd drops the addresses it did not configure (the VIP)
            // and sets eth0 up again.
            let out = x.networkd.networkctl(&["reconfigure", "eth0"]);
            if !out.status.success() {
                return Err(format!(
                    "networkctl reconfigure failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Kind::NetworkdRestart => {
            // `systemctl restart systemd-networkd`: SIGTERM, a new process
            // that reconfigures eth0, a new bus name owner.
            x.networkd.restart();
        }
    }
    Ok(())
}

/// Sends `n` malformed VRRP messages (IP protocol 112, TTL 255) from the
/// observer to `target`: empty, truncated, bad version, bad type, bad
/// checksum, extra bytes, a count beyond the payload. Python's raw socket,
/// so the packets are built independently of the crate under test.
fn send_malformed(obs: &Host, target: &str, n: u64, seed: u64) -> Result<(), String> {
    let script = format!(
        r#"
import random, socket
random.seed({seed})
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
good = bytes([0x31, {VRID}, 200, 1, 0, 10, 0, 0, 10, 77, 0, 100])
kinds = [
    b"",
    good[:5],
    bytes([0x51]) + good[1:],
    bytes([0x32]) + good[1:],
    good[:6] + b"\xde\xad" + good[8:],
    good + b"\x00\x00\x00\x00",
    good[:3] + b"\x09" + good[4:],
]
for i in range({n}):
    k = random.choice(kinds)
    if random.random() < 0.3:
        k = bytes(random.getrandbits(8) for _ in range(random.randrange(0, 64)))
        if len(k) > 1:
            k = bytes([k[0] & 0x0f | 0x40]) + k[1:]
    s.sendto(k, ("{target}", 0))
"#
    );
    let out = obs.exec(&["python3", "-c", &script]);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "sending malformed packets failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Presence intervals of the VIP from an `ip monitor` timeline (the VIP is
/// absent before the first event; an open interval ends now).
fn presence(m: &AddrMonitor) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut since = None;
    for (ts, added) in m.events(VIP_CIDR) {
        match (since, added) {
            (None, true) => since = Some(ts),
            (Some(s), false) => {
                out.push((s, ts));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, lab::now_epoch()));
    }
    out
}

/// The times both routers held the VIP, minus the exempt periods; each
/// remaining piece's length.
fn dual_master_windows(m1: &AddrMonitor, m2: &AddrMonitor, exempt: &Exempt) -> Vec<Duration> {
    let (p1, p2) = (presence(m1), presence(m2));
    let mut out = Vec::new();
    for &(a1, b1) in &p1 {
        for &(a2, b2) in &p2 {
            let (a, b) = (a1.max(a2), b1.min(b2));
            if a >= b {
                continue;
            }
            // Cut the exempt periods out of [a, b).
            let mut pieces = vec![(a, b)];
            for &(ea, eb) in exempt {
                pieces = pieces
                    .into_iter()
                    .flat_map(|(pa, pb)| {
                        let mut v = Vec::new();
                        if ea >= pb || eb <= pa {
                            v.push((pa, pb));
                        } else {
                            if pa < ea {
                                v.push((pa, ea));
                            }
                            if eb < pb {
                                v.push((eb, pb));
                            }
                        }
                        v
                    })
                    .collect();
            }
            out.extend(pieces.into_iter().map(|(pa, pb)| pb - pa));
        }
    }
    out
}

//! The lab demo: vipd doing its job on a throw-away lab, next to keepalived.
//!
//! Started by `tests/demo.sh` (the README's first command), which installs
//! what is missing, builds this target and runs it with `--demo`. Under plain
//! `cargo test` (no `--demo`) it only says how to run it: the demo takes a
//! minute and is not a pass/fail test of its own (the README test in
//! `.ci/readme-commands` judges its output).
//!
//! Lab (tests/lab/, the same harness as the tests and benchmarks): a switch
//! with dnsmasq as DHCP server, routers r1 (priority 150) and r2 (100), each
//! with its own real systemd-networkd and D-Bus (eth0 by DHCP), and an
//! observer pinging the VIP 10.9.90.100 every 10 ms. VRRPv3, 100 ms adverts.
//! Steps, each measured:
//!   1. election: from starting the daemons to the first observer reply;
//!   2. `networkctl reconfigure eth0` on the master;
//!   3. networkd restart on the master;
//!   4. the master's cable is cut (its switch port goes down): failover;
//!   5. the cable is back: r1 preempts r2 again.
//!
//! Outage = the longest time without an observer reply during the step
//! (`vipctl probe` every 10 ms, kernel receive timestamps). Role changes = how often a router became
//! MASTER during the step (vipd: `became_master` of both routers from
//! `vipctl status --json`; keepalived: "Entering MASTER STATE" in its log).
//! The same five steps run under keepalived when it is installed.
//!
//! Picture: after the table the demo writes an SVG (tests/demo_plot) of the
//! observer's replies during each step, vipd's row above keepalived's on a
//! common time axis, each step's outage shaded: to `VIPD_DEMO_SVG`, or
//! target/tmp/lab-demo.svg; the path is printed. `docs/demo.svg` is one
//! from a real run.
//!
//! Exit status: 0 when the table was printed and vipd did what it claims
//! (steps 2-3 without a role change, failover to r2 in step 4, r1 master
//! again after step 5); 1 otherwise (the reason is printed); 130 after
//! SIGINT/SIGTERM. Outage figures are printed, never judged (they move with
//! the machine's load).
//!
//! Cleanup: the lab (namespaces, networkd, dbus-daemon, dnsmasq, vipd,
//! keepalived, probe) is dropped at the end, on a panic (unwinding) and on
//! SIGINT/SIGTERM: the handler only sets a flag, every wait of the demo
//! checks it and returns, so the lab drops on the normal path. If that takes
//! more than 20 s a watchdog thread kills what is left in the demo's
//! namespaces, deletes them and exits 130. With `VIPD_DEMO_NS_FILE` set, the
//! demo also appends every namespace it creates to that file, so that
//! `tests/demo.sh` can remove them even after a SIGKILL.

mod demo_plot;
mod lab;

use lab::ipmon::{AddrMonitor, outages};
use lab::networkd::Networkd;
use lab::vipd::Vipd;
use lab::{Host, Lab, ProbeObserver, ProbeStats, ProcHandle, now_epoch, wait_until};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
/// Quiet time after a step before its window closes.
const SETTLE: Duration = Duration::from_millis(500);
/// A step that has not settled by then is reported as such.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const PING_MS: u32 = 10;
const SUBNET: &str = "10.9.90";
const VRID: u8 = 90;

// ---------------------------------------------------------------------------
// Interruption (SIGINT / SIGTERM)
// ---------------------------------------------------------------------------

/// Set by the signal handler; every wait of the demo checks it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Namespaces and temp dirs of the labs alive now, for the watchdog.
static LIVE_LABS: Mutex<Vec<(String, Vec<String>, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The demo was interrupted; the caller unwinds to `main`, dropping the lab.
#[derive(Debug)]
struct Interrupted;

fn check() -> Result<(), Interrupted> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Interrupted)
    } else {
        Ok(())
    }
}

/// `wait_until` that gives up when the demo is interrupted.
fn wait(timeout: Duration, mut f: impl FnMut() -> bool) -> Result<bool, Interrupted> {
    let ok = wait_until(timeout, Duration::from_millis(20), || {
        INTERRUPTED.load(Ordering::SeqCst) || f()
    });
    check()?;
    Ok(ok)
}

fn sleep(d: Duration) -> Result<(), Interrupted> {
    wait(d, || false).map(|_| ())
}

fn install_signal_handlers() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic. Installing a handler
        // also undoes an inherited SIG_IGN (bash ignores SIGINT for
        // background jobs), and children get SIG_DFL at exec.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            eprintln!("lab demo: cannot install a {sig} handler: {e}");
        }
    }
}

/// Kills whatever is left in the live labs' namespaces and deletes them
/// (the watchdog's last resort; the normal path is the lab's Drop).
fn force_cleanup() {
    let labs = LIVE_LABS.lock().map(|l| l.clone()).unwrap_or_default();
    for (id, nss, tmpdir) in labs {
        eprintln!("lab demo: force-removing lab {id}");
        for ns in &nss {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill(2) on a process inside the demo's namespace.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for ns in &nss {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(tmpdir);
    }
}

/// Once interrupted, gives `main` 20 s to drop the lab itself.
fn spawn_watchdog() {
    std::thread::spawn(|| {
        while !INTERRUPTED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(20 * SEC);
        eprintln!("lab demo: still not cleaned up 20 s after the signal");
        force_cleanup();
        std::process::exit(130);
    });
}

/// Keeps `LIVE_LABS` (and `VIPD_DEMO_NS_FILE`) up to date for one lab;
/// removes the entry when dropped. Declare it before the `Lab` so that it
/// drops after it.
struct Tracker(Option<String>);

impl Tracker {
    fn track(&mut self, lab: &Lab) {
        let nss = lab.namespaces();
        if let Ok(path) = std::env::var("VIPD_DEMO_NS_FILE")
            && let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path)
        {
            let _ = writeln!(f, "{}", nss.join("\n"));
        }
        if let Ok(mut l) = LIVE_LABS.lock() {
            l.retain(|(id, _, _)| id != lab.id());
            l.push((lab.id().to_owned(), nss, lab.tmpdir()));
        }
        self.0 = Some(lab.id().to_owned());
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let (Some(me), Ok(mut l)) = (&self.0, LIVE_LABS.lock()) {
            l.retain(|(id, _, _)| id != me);
        }
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

static T0: Mutex<Option<Instant>> = Mutex::new(None);

/// A progress line, with the time since the demo started.
fn say(msg: &str) {
    let t = T0
        .lock()
        .ok()
        .and_then(|t| *t)
        .map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!("[{t:6.1}s] {msg}");
    let _ = std::io::stdout().flush();
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn ms3(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------
// Observer
// ---------------------------------------------------------------------------

/// The reachability observer on the observer host: `vipctl probe` every
/// 10 ms on an absolute schedule, replies stamped by the kernel
/// (tests/lab/probe.rs); everything the demo needs from it goes through
/// `start_observer`, `replies_so_far` and `stop`.
struct Observer(ProbeObserver);

/// What the observer saw (reply timestamps since the epoch, its own start
/// and stop).
struct Replies(ProbeStats);

fn start_observer(obs: &Host, target: IpAddr) -> Observer {
    Observer(obs.probe_observer(target, PING_MS))
}

impl Observer {
    fn replies_so_far(&self) -> usize {
        self.0.replies_so_far()
    }

    fn stop(self) -> Replies {
        Replies(self.0.stop())
    }
}

impl Replies {
    /// Longest time without a reply across `[from, to]`, and from which
    /// reply to which (see `ProbeStats::longest_gap_in`).
    fn longest_gap(&self, from: Duration, to: Duration) -> (Duration, Duration, Duration) {
        self.0.longest_gap_in(from, to)
    }

    fn stopped(&self) -> Duration {
        self.0.stopped
    }

    /// First reply at or after `t`.
    fn first_after(&self, t: Duration) -> Option<Duration> {
        self.0.replies.iter().find(|r| **r >= t).copied()
    }
}

// ---------------------------------------------------------------------------
// The lab
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Vipd,
    Keepalived,
}

impl Impl {
    fn label(self) -> &'static str {
        match self {
            Impl::Vipd => "vipd",
            Impl::Keepalived => "keepalived",
        }
    }
}

fn vip() -> IpAddr {
    format!("{SUBNET}.100").parse().expect("VIP literal")
}

fn vip_cidr() -> String {
    format!("{SUBNET}.100/24")
}

const NETWORK_FILE: &str =
    "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n";

fn vipd_yaml(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    version: 3\n    \
         priority: {priority}\n    advert_interval: 100ms\n    vips: [{}]\n",
        vip_cidr()
    )
}

fn keepalived_conf(name: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id {name}\n    vrrp_version 3\n}}\nvrrp_instance web {{\n    \
         interface eth0\n    state BACKUP\n    virtual_router_id {VRID}\n    priority {priority}\n    \
         advert_int 0.1\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
        vip_cidr()
    )
}

enum Daemon {
    Vipd(Vipd),
    Keepalived(ProcHandle),
}

struct Router {
    host: Host,
    nd: Networkd,
    daemon: Option<Daemon>,
}

impl Router {
    /// A counter of vipd's instance from `vipctl status --json` (None:
    /// keepalived, or no answer).
    fn vipd_counter(&self, field: &str) -> Option<u64> {
        let Some(Daemon::Vipd(v)) = &self.daemon else {
            return None;
        };
        let out = v.vipctl(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        json["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == "web")?[field]
            .as_u64()
    }

    /// How often this router has become MASTER so far (None: no answer).
    fn became_master(&self) -> Option<u64> {
        match self.daemon.as_ref()? {
            Daemon::Vipd(_) => self.vipd_counter("became_master"),
            Daemon::Keepalived(p) => Some(p.log().matches("Entering MASTER STATE").count() as u64),
        }
    }

    fn has_vip(&self) -> bool {
        Command::new("ip")
            .args([
                "-n",
                &self.host.ns,
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                "eth0",
            ])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(&format!(" inet {} ", vip_cidr()))
            })
    }

    fn configured(&self) -> bool {
        matches!(self.nd.try_link_state("eth0"), Some((a, _)) if a == "configured")
    }

    /// How many DHCP leases networkd has taken for eth0 so far (its debug
    /// log: "eth0: DHCPv4 address A/N, gateway G acquired from S"). After a
    /// reconfigure or a restart this comes once networkd is done with eth0
    /// (it has removed foreign addresses before).
    fn leases_taken(&self) -> usize {
        self.nd.log().matches("eth0: DHCPv4 address ").count()
    }
}

/// One step's figures.
struct StepResult {
    outage: Duration,
    role_changes: Option<u64>,
    /// vipd only: how often r1's vipd put a deleted VIP back (`vips_restored`).
    restored: Option<u64>,
    /// Steps 2-5: how often the VIP was deleted on r1 and how long it was
    /// gone in total (kernel notifications, `ip -ts monitor`; a delete not
    /// followed by an add counts up to the end of the step).
    deleted: Option<(usize, Duration)>,
    /// What went wrong, if anything (empty: the step did what it should).
    problem: String,
    /// The observer's replies during the step, for the picture.
    trace: Trace,
}

/// What the observer saw during one step, in ms relative to the moment the
/// step fired (step 1: the daemons started).
struct Trace {
    replies: Vec<f64>,
    window: (f64, f64),
    /// The outage the table reports: from the last reply before it to the
    /// first after it.
    outage: (f64, f64),
}

impl Trace {
    fn new(r: &Replies, start: Duration, outage: (Duration, Duration)) -> Trace {
        let rel = |t: Duration| (t.as_secs_f64() - start.as_secs_f64()) * 1000.0;
        Trace {
            replies: r.0.replies.iter().map(|t| rel(*t)).collect(),
            window: (rel(r.0.started), rel(r.0.stopped)),
            outage: (rel(outage.0), rel(outage.1)),
        }
    }
}

const STEPS: [&str; 5] = [
    "1 election",
    "2 networkctl reconfigure",
    "3 networkd restart",
    "4 cut master's link",
    "5 restore link",
];

/// The lab for one implementation. Fields drop in order: routers (their
/// networkds) first, the lab itself (every process, the namespaces) after,
/// the tracker last.
struct Rig {
    r1: Router,
    r2: Router,
    obs: Host,
    imp: Impl,
    /// `ip -ts monitor address dev eth0` on r1.
    ipmon: AddrMonitor,
    lab: Lab,
    _tracker: Tracker,
}

fn build(imp: Impl) -> Result<Rig, Interrupted> {
    let who = imp.label();
    let mut tracker = Tracker(None);
    let lab = Lab::new(&format!("lab_demo_{who}"));
    tracker.track(&lab);
    say(&format!(
        "{who}: building lab {} (namespaces {}-*): switch with dnsmasq (DHCP), routers r1 and r2 \
         each with systemd-networkd + D-Bus, observer",
        lab.id(),
        lab.id()
    ));
    let dhcp = lab.start_dhcp(
        &format!("{SUBNET}.254/24"),
        &format!("{SUBNET}.10,{SUBNET}.50"),
        120,
    );
    let h1 = lab.add_host("r1", &[]);
    tracker.track(&lab);
    let h2 = lab.add_host("r2", &[]);
    tracker.track(&lab);
    let obs = lab.add_host("obs", &[&format!("{SUBNET}.200/24")]);
    tracker.track(&lab);
    check()?;
    let nd1 = h1.start_networkd(&[("10-eth0.network", NETWORK_FILE)]);
    let nd2 = h2.start_networkd(&[("10-eth0.network", NETWORK_FILE)]);
    check()?;
    let a1 = h1.wait_lease_addr(&dhcp, "eth0", 20 * SEC);
    let a2 = h2.wait_lease_addr(&dhcp, "eth0", 20 * SEC);
    say(&format!(
        "{who}: lab up: r1 eth0 {} and r2 eth0 {} by DHCP from dnsmasq, networkd says \
         r1 {:?}, r2 {:?}",
        a1.addr,
        a2.addr,
        nd1.try_link_state("eth0").map(|s| s.0).unwrap_or_default(),
        nd2.try_link_state("eth0").map(|s| s.0).unwrap_or_default(),
    ));
    let ipmon = h1.start_addr_monitor("eth0");
    Ok(Rig {
        ipmon,
        r1: Router {
            host: h1,
            nd: nd1,
            daemon: None,
        },
        r2: Router {
            host: h2,
            nd: nd2,
            daemon: None,
        },
        obs,
        imp,
        lab,
        _tracker: tracker,
    })
}

impl Rig {
    fn masters(&self) -> Option<u64> {
        Some(self.r1.became_master()? + self.r2.became_master()?)
    }

    fn holder(&self) -> &'static str {
        match (self.r1.has_vip(), self.r2.has_vip()) {
            (true, false) => "r1",
            (false, true) => "r2",
            (true, true) => "r1 AND r2",
            (false, false) => "nobody",
        }
    }

    fn start_daemon(&self, r: &Router, priority: u8) -> Daemon {
        match self.imp {
            Impl::Vipd => Daemon::Vipd(r.nd.start_vipd(&vipd_yaml(priority))),
            Impl::Keepalived => Daemon::Keepalived(
                r.host
                    .start_keepalived(&keepalived_conf(&r.host.name, priority)),
            ),
        }
    }

    /// Step 1: start both daemons; outage = time until the VIP answers.
    fn election(&mut self) -> Result<StepResult, Interrupted> {
        let who = self.imp.label();
        say(&format!(
            "{who}: step 1: starting {who} on r1 (priority 150) and r2 (100); the observer pings \
             {} every {PING_MS} ms",
            vip()
        ));
        let observer = start_observer(&self.obs, vip());
        let start = now_epoch();
        self.r1.daemon = Some(self.start_daemon(&self.r1, 150));
        self.r2.daemon = Some(self.start_daemon(&self.r2, 100));
        let settled = wait(STEP_TIMEOUT, || {
            observer.replies_so_far() > 0 && self.r1.has_vip() && !self.r2.has_vip()
        })?;
        sleep(SETTLE)?;
        let replies = observer.stop();
        let first = replies.first_after(start).unwrap_or(replies.stopped());
        let outage = first.saturating_sub(start);
        let trace = Trace::new(&replies, start, (start, first));
        let mut problem = String::new();
        if !settled {
            problem = format!(
                "r1 did not become the reachable master within {STEP_TIMEOUT:?} (VIP on {})",
                self.holder()
            );
        }
        Ok(StepResult {
            outage,
            role_changes: self.masters(),
            restored: None,
            deleted: None,
            problem,
            trace,
        })
    }

    /// A step after the election: `fire`, wait for `done`, settle; outage =
    /// the longest gap in the observer's replies across the step.
    fn step(
        &self,
        fire: impl FnOnce(),
        done: impl Fn(usize) -> bool,
    ) -> Result<StepResult, Interrupted> {
        let observer = start_observer(&self.obs, vip());
        if !wait(3 * SEC, || observer.replies_so_far() >= 5)? {
            say(&format!(
                "{}: (the observer got no replies before the step; VIP on {})",
                self.imp.label(),
                self.holder()
            ));
        }
        let before = self.masters();
        let restored_before = self.r1.vipd_counter("vips_restored");
        let start = now_epoch();
        fire();
        let settled = wait(STEP_TIMEOUT, || done(observer.replies_so_far()))?;
        sleep(SETTLE)?;
        let end = now_epoch();
        let replies = observer.stop();
        let role_changes = self.masters().zip(before).map(|(a, b)| a.saturating_sub(b));
        let restored = self
            .r1
            .vipd_counter("vips_restored")
            .zip(restored_before)
            .map(|(a, b)| a.saturating_sub(b));
        let problem = if settled {
            String::new()
        } else {
            format!(
                "not settled within {STEP_TIMEOUT:?} (VIP on {}, r1 eth0 (setup, oper) {:?}, \
                 DHCP leases taken by r1 {})",
                self.holder(),
                self.r1.nd.try_link_state("eth0"),
                self.r1.leases_taken()
            )
        };
        let (outage, gap_from, gap_to) = replies.longest_gap(start, end);
        Ok(StepResult {
            outage,
            role_changes,
            restored,
            deleted: Some(self.vip_deleted_on_r1(start, end)),
            problem,
            trace: Trace::new(&replies, start, (gap_from, gap_to)),
        })
    }

    /// How often the VIP was deleted from r1 with a delete in `[from, to]`,
    /// and for how long in total.
    fn vip_deleted_on_r1(&self, from: Duration, to: Duration) -> (usize, Duration) {
        let outs = outages(&self.ipmon.events(&vip_cidr()));
        let mine: Vec<Duration> = outs
            .iter()
            .filter(|o| o.deleted >= from && o.deleted <= to)
            .map(|o| o.added.unwrap_or(to).saturating_sub(o.deleted))
            .collect();
        (mine.len(), mine.iter().sum())
    }

    /// r1 holds the VIP alone and networkd has eth0 configured.
    fn r1_master_configured(&self) -> bool {
        self.r1.has_vip() && !self.r2.has_vip() && self.r1.configured()
    }

    fn run(&mut self) -> Result<Vec<StepResult>, Interrupted> {
        let who = self.imp.label();
        let mut results = Vec::new();
        let report = |i: usize, r: &StepResult, holder: &str| {
            say(&format!(
                "{who}: step {}: outage {} ms, role changes {}, VIP now on {holder}{}{}",
                STEPS[i],
                ms(r.outage),
                r.role_changes
                    .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
                match (r.deleted, r.restored) {
                    // Steps 2-3 (where the VIP should stay on r1).
                    (Some((n, gone)), restored) if (1..=2).contains(&i) && n > 0 => format!(
                        "; networkd deleted the VIP on r1 {n} time(s), gone {} ms in total \
                         (ip monitor){}",
                        ms3(gone),
                        restored.map_or_else(String::new, |k| format!(
                            ", vipd put it back in place (vips_restored +{k})"
                        ))
                    ),
                    (Some((0, _)), _) if (1..=2).contains(&i) => {
                        "; the VIP was never deleted on r1".to_owned()
                    }
                    _ => String::new(),
                },
                if r.problem.is_empty() {
                    String::new()
                } else {
                    format!(" -- {}", r.problem)
                }
            ));
        };

        let r = self.election()?;
        report(0, &r, self.holder());
        results.push(r);

        say(&format!(
            "{who}: step 2: networkctl reconfigure eth0 on the master r1"
        ));
        let leases = self.r1.leases_taken();
        let r = self.step(
            || {
                self.r1.nd.networkctl_ok(&["reconfigure", "eth0"]);
            },
            |_| self.r1.leases_taken() > leases && self.r1_master_configured(),
        )?;
        report(1, &r, self.holder());
        results.push(r);

        say(&format!(
            "{who}: step 3: restarting systemd-networkd on the master r1"
        ));
        let leases = self.r1.leases_taken();
        let r = self.step(
            || self.r1.nd.restart(),
            |_| self.r1.leases_taken() > leases && self.r1_master_configured(),
        )?;
        report(2, &r, self.holder());
        results.push(r);

        say(&format!(
            "{who}: step 4: cutting r1's cable (its switch port goes down): r2 must take over"
        ));
        let seen = std::cell::Cell::new(None);
        let r = self.step(
            || self.r1.host.link_down(),
            |replies| {
                // Failed over once r2 holds the VIP and the observer gets
                // answers again.
                if self.holder() != "r2" {
                    return false;
                }
                let base = seen.get().unwrap_or(replies);
                seen.set(Some(base));
                replies >= base + 3
            },
        )?;
        report(3, &r, self.holder());
        results.push(r);

        say(&format!(
            "{who}: step 5: restoring r1's cable: r1 (priority 150) must take the VIP back"
        ));
        let seen = std::cell::Cell::new(None);
        let r = self.step(
            || self.r1.host.link_up(),
            |replies| {
                if !self.r1_master_configured() {
                    return false;
                }
                let base = seen.get().unwrap_or(replies);
                seen.set(Some(base));
                replies >= base + 3
            },
        )?;
        report(4, &r, self.holder());
        results.push(r);
        Ok(results)
    }
}

/// Builds the lab for `imp`, runs the five steps, drops the lab.
fn scenario(imp: Impl) -> Result<Vec<StepResult>, Interrupted> {
    let mut rig = build(imp)?;
    let results = rig.run();
    say(&format!(
        "{}: removing the lab {} (namespaces, networkd, dbus-daemon, dnsmasq, daemons, probe)",
        imp.label(),
        rig.lab.id()
    ));
    drop(rig);
    results
}

/// vipd's claims, checked on its results: what is wrong (empty: all held).
fn vipd_misses(v: &[StepResult]) -> Vec<String> {
    let mut m = Vec::new();
    for (i, r) in v.iter().enumerate() {
        if !r.problem.is_empty() {
            m.push(format!("step {}: {}", STEPS[i], r.problem));
        }
    }
    for i in [1, 2] {
        match v[i].role_changes {
            Some(0) => {}
            Some(n) => m.push(format!(
                "step {}: {n} role changes (vipd should keep the master)",
                STEPS[i]
            )),
            None => m.push(format!("step {}: role changes unknown", STEPS[i])),
        }
    }
    m
}

fn print_table(vipd: &[StepResult], ka: Option<&[StepResult]>) {
    let cell = |r: Option<&StepResult>| -> (String, String) {
        match r {
            None => ("n/a".into(), "n/a".into()),
            Some(r) => (
                ms(r.outage),
                r.role_changes
                    .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            ),
        }
    };
    println!();
    println!(
        "{:<26} | {:>14} | {:>17} | {:>20} | {:>23}",
        "step",
        "vipd outage ms",
        "vipd role changes",
        "keepalived outage ms",
        "keepalived role changes"
    );
    println!(
        "{:-<26}-|-{:->14}-|-{:->17}-|-{:->20}-|-{:->23}",
        "", "", "", "", ""
    );
    for (i, name) in STEPS.iter().enumerate() {
        let (vo, vr) = cell(vipd.get(i));
        let (ko, kr) = cell(ka.and_then(|k| k.get(i)));
        println!("{name:<26} | {vo:>14} | {vr:>17} | {ko:>20} | {kr:>23}");
    }
    println!();
}

/// Where the picture goes: `VIPD_DEMO_SVG`, or target/tmp/lab-demo.svg.
fn picture_path() -> PathBuf {
    std::env::var_os("VIPD_DEMO_SVG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-demo.svg"))
}

/// The observer's replies of every step as an SVG (tests/demo_plot), vipd
/// above keepalived; the path is printed. A picture that cannot be written
/// is said so, and changes nothing else: the table is the result.
fn write_picture(vipd: &[StepResult], ka: Option<&[StepResult]>) {
    let row = |name: &'static str, r: &StepResult| demo_plot::Row {
        name,
        replies: r.trace.replies.clone(),
        window: r.trace.window,
        outage: Some(r.trace.outage),
        role_changes: r.role_changes,
    };
    let steps: Vec<demo_plot::Step> = STEPS
        .iter()
        .enumerate()
        .map(|(i, name)| demo_plot::Step {
            name: name.to_string(),
            rows: vipd
                .get(i)
                .map(|r| row("vipd", r))
                .into_iter()
                .chain(ka.and_then(|k| k.get(i)).map(|r| row("keepalived", r)))
                .collect(),
        })
        .collect();
    let title = format!(
        "vipd lab demo: the observer's replies from the VIP {} (VRRPv3, 100 ms adverts, real systemd-networkd)",
        vip()
    );
    let path = picture_path();
    let written = demo_plot::render_svg(&title, &steps, f64::from(PING_MS)).and_then(|svg| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, svg).map_err(|e| e.to_string())
    });
    match written {
        Ok(()) => println!(
            "Picture of the observer's replies per step (vipd above keepalived): {}",
            path.display()
        ),
        Err(e) => println!("Picture not written ({}): {e}", path.display()),
    }
}

fn run_demo() -> Result<i32, Interrupted> {
    say(&format!(
        "vipd lab demo: two routers with real systemd-networkd, VRRPv3 (100 ms adverts), VIP \
         {}; an observer pings it every {PING_MS} ms",
        vip_cidr()
    ));
    let with_keepalived = lab::keepalived::find_keepalived().is_some();
    if !with_keepalived {
        say("keepalived is not installed: only vipd runs (apt-get install keepalived to compare)");
    }
    let vipd = scenario(Impl::Vipd)?;
    let ka = if with_keepalived {
        Some(scenario(Impl::Keepalived)?)
    } else {
        None
    };
    println!(
        "\nOutage: longest time without a reply to the observer's probes (`vipctl probe` \
         every {PING_MS} ms, kernel receive timestamps) during the step; step 1: from starting the daemons to the first \
         reply. Role changes: how often a router became MASTER during the step."
    );
    print_table(&vipd, ka.as_deref());
    if !with_keepalived {
        println!("keepalived: not installed, not measured (n/a).");
    }
    write_picture(&vipd, ka.as_deref());
    if let Some(ka) = &ka {
        for (i, r) in ka.iter().enumerate() {
            if !r.problem.is_empty() {
                println!("keepalived step {}: {}", STEPS[i], r.problem);
            }
        }
    }
    let misses = vipd_misses(&vipd);
    if misses.is_empty() {
        println!(
            "vipd: kept the master through networkctl reconfigure and a networkd restart \
             (0 role changes), failed over to r2 when r1's cable was cut and back to r1 when it \
             returned."
        );
        Ok(0)
    } else {
        for m in &misses {
            println!("vipd MISSED: {m}");
        }
        Ok(1)
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--demo") {
        println!(
            "lab_demo: not a test; run the demo with `tests/demo.sh` (as root), \
             which installs what is missing, builds and runs it"
        );
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!(
            "lab demo: needs root (it builds network namespaces and runs systemd-networkd in \
             them); run it as root"
        );
        std::process::exit(1);
    }
    if let Ok(mut t) = T0.lock() {
        *t = Some(Instant::now());
    }
    install_signal_handlers();
    spawn_watchdog();
    // A harness panic after Ctrl-C (the terminal signals the lab's processes
    // too, so a daemon the harness waits for dies) is part of the
    // interruption, not news: keep it quiet, and silence stderr for the rest
    // of the run so the lab's failure diagnostics (printed while it drops
    // during the unwind) do not bury the "interrupted" line on stdout.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !INTERRUPTED.load(Ordering::SeqCst) {
            default_hook(info);
        } else if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: dup2 onto fd 2; `null` stays open until the dup is made.
            unsafe {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2);
            }
        }
    }));
    let outcome = std::panic::catch_unwind(run_demo);
    if INTERRUPTED.load(Ordering::SeqCst) {
        println!("lab demo: interrupted; the lab has been removed");
        std::process::exit(130);
    }
    match outcome {
        Ok(Ok(code)) => std::process::exit(code),
        Ok(Err(Interrupted)) => std::process::exit(130),
        Err(_) => {
            eprintln!("lab demo: failed (see above); the lab has been removed");
            std::process::exit(1);
        }
    }
}

//! networkd triggers benchmark: how long the VIP is gone from the master, and
//! how long an observer goes without replies, when systemd-networkd is told
//! to reconfigure the VIP's interface. vipd, vipd with its generated
//! KeepConfiguration drop-in, keepalived, keepalived with a hand-written
//! KeepConfiguration drop-in and keepalived with `use_vmac` side by side, in
//! one run.
//!
//! Lab (one per setup and addressing, same topology every time): routers r1
//! (priority 150, master) and r2 (100), each with its own real
//! systemd-networkd (tests/lab/networkd.rs), VRRPv3 with 100 ms adverts, VIP
//! .100/24 on eth0, and an observer host probing the VIP every 10 ms with
//! `vipctl probe` (src/probe/).
//!   - static addressing: `[Network] Address=...` .network files;
//!   - DHCP addressing: `DHCP=ipv4` from dnsmasq on the switch, with a short
//!     T1 (renewal timer) so that timer renewals can be measured too.
//!
//! Setups (rows):
//!   - `vipd`: no networkd files from vipd: networkd purges the VIP, vipd
//!     puts it back;
//!   - `vipd+keep`: `vipctl networkd install` (KeepConfiguration=static
//!     drop-in) on both routers and `networkctl reload` before measuring;
//!   - `keepalived`: keepalived 2.2.x, no KeepConfiguration, same VRID,
//!     priorities, interval and VIP.
//!   - `ka+keep`: `keepalived` plus the drop-in an operator would write by
//!     hand, `10-eth0.network.d/50-keep.conf` with `[Network]
//!     KeepConfiguration=static` (systemd >= 243; the value vipd's own
//!     drop-in uses: `static` keeps static foreign addresses -- a VIP has an
//!     infinite lifetime, so it counts as static -- without also keeping
//!     DHCP leases past their end as `yes` would; older systemd: `[DHCP]
//!     CriticalConnection=yes`, as vipd writes there) on both routers and
//!     `networkctl reload` before measuring;
//!   - `ka+vmac`: `keepalived` with `use_vmac`: keepalived creates a MACVLAN
//!     `vrrp.<VRID>` with the virtual MAC on eth0 and puts the VIP there; no
//!     .network matches it, so networkd leaves it unmanaged. The VIP's
//!     absence is measured on that device (`ip monitor address dev
//!     vrrp.<VRID>`), the triggers still act on eth0.
//!
//! Why the two keepalived variants still re-elect on some triggers (seen in
//! keepalived's log, systemd 252): `networkctl reconfigure` (also the netplan
//! flow) removes and re-adds networkd's *own* address on eth0 even with
//! `KeepConfiguration=static`, and without the drop-in so do the edit +
//! reload and the restart; keepalived logs "Deassigned address ... from
//! interface eth0", goes FAULT, sends priority 0 and removes the VIP itself
//! (from eth0, or from the `use_vmac` device that networkd never touched).
//! vipd keeps advertising from a VIP while the interface has no address of
//! its own.
//!
//! Triggers, each fired N times on the master r1 (N = VIPD_BENCH_RUNS,
//! default 10), in this order: `networkctl reconfigure eth0`; edit the
//! .network (a comment) + `networkctl reload`; networkd restart (stop +
//! start); the netplan flow (generate + reload + reconfigure, see
//! `Networkd::apply_netplan`); `ip addr flush dev eth0` + `networkctl
//! reconfigure eth0` (last: the flush also removes eth0's IPv6 link-local,
//! which the kernel does not re-create, so networkd 252 stays `configuring`
//! afterwards); on DHCP: `networkctl renew eth0` and the T1 timer renewal (no
//! command: wait for dnsmasq's next ACK for r1, T1 = 3 s).
//! After each firing: wait (at most 3 s) until networkd has set its addresses
//! again ("eth0: Addresses set" in its debug log; it removes foreign
//! addresses before that) -- for the DHCP triggers: until dnsmasq ACKed r1 --
//! and the VIP is on r1 and networkd says `configured` (after a flush:
//! networkd's own address is back), then a 300 ms settle. A firing's window
//! runs from just before the trigger to the end of the settle.
//!
//! Measurements:
//!   - VIP absence: `ip -ts monitor address dev eth0` runs in r1's namespace
//!     for the whole lab (SCHED_FIFO through `chrt` when allowed, so that it is
//!     not scheduled late and does not read a delete and the re-add in one
//!     batch, which would show a too short absence). Each "Deleted ... VIP/24"
//!     is paired with the next add of the VIP; a firing's absence is the sum of
//!     those intervals starting in its window (a flush can delete it several
//!     times: `ip addr flush` repeats its rounds while vipd restores it, and
//!     gives up after 10 -- a failed trigger command is printed below the
//!     table), 0 when there was no delete. The timestamps are taken by `ip`
//!     when it reads the notification, not by the kernel (netlink has none):
//!     a lone notification is stamped after `ip`'s wake-up (~0.1-0.2 ms
//!     typical here with SCHED_FIFO, tail ~2 ms), and a burst (flush, or
//!     networkd dropping its own address with the VIP) is read in one go and
//!     stamped within microseconds, so a very short absence inside a burst can
//!     read shorter than it was. A VIP not back on r1 at the end of the window
//!     is "lost" (its absence still counts, up to the re-add or the end of the
//!     lab).
//!   - Observer gap: one `vipctl probe --interval-ms 10 --realtime` per
//!     (setup, trigger) on the observer (tests/lab/probe.rs): requests on an
//!     absolute timerfd grid, replies stamped by the kernel (SO_TIMESTAMPNS),
//!     so neither ms rounding nor the observer's own wake-up delay counts
//!     (iputils `ping -i 0.01`, used before, managed ~16 ms and showed
//!     33-140 ms gaps with nothing happening). A firing's gap is the longest
//!     interval between successive replies that overlap its window (from the
//!     last reply before the window to the first after it). The probe's
//!     achieved mean request interval is printed ("probe iv"), and the gap
//!     target is judged against it. Before a trigger's firings the probe runs
//!     1 s with nothing happening: its longest gap there is "idle gap" (the
//!     observer's and the VM's own jitter). Under the table, every firing
//!     whose gap exceeds 2 probe intervals is put down to a cause: requests
//!     lost inside the gap (the VIP did not answer; with or without a VIP
//!     delete inside the gap) or no request lost (every request answered):
//!     then either the probe sent the two requests around the gap more than
//!     2 intervals apart ("probe late": the observer was not run in time,
//!     see its skipped slots and worst send delay) or sent them on time and
//!     the closing reply's round trip made the gap ("reply late"). Each such
//!     firing is listed with the VM's steal time during it (/proc/stat: CPU
//!     time the hypervisor gave to others; 10 ms ticks), since a probe run
//!     with SCHED_FIFO that still misses its slots was not run by the host.
//!   - Role changes: how often either router entered MASTER during the
//!     trigger's firings (vipd: `became_master` of both routers from `vipctl
//!     status --json`; keepalived: its "Entering MASTER STATE" log lines).
//!
//! vipd targets (keepalived is measured, not judged): VIP absence median
//! < 1 ms and max < 5 ms where the VIP gets deleted (`vipd`); 0 ms where the
//! generated KeepConfiguration keeps it (`vipd+keep`, every networkd
//! trigger); observer gap <= 2 probe intervals; no role change; nothing
//! lost. `ip addr flush dev eth0` is measured and printed but has no target
//! ("none [1]"): it is not a networkd trigger but an operator deleting every
//! address, and iproute2 repeats its rounds (up to 10) while vipd re-adds the
//! VIP, so a firing sums several deletes; each delete -> re-add is printed
//! under the table for that row.
//!
//! Run as root:
//!     cargo bench --bench networkd_triggers    (VIPD_BENCH_RUNS=N to change the run count)
//! VIPD_BENCH_SETUPS / VIPD_BENCH_TRIGGERS (comma-separated labels as printed,
//! e.g. `vipd,keepalived` / `reconfigure,dhcp renew`) run a part only.

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::dhcp::{dhcp_acks, dhcp_t1_t2};
use lab::ipmon::{AddrMonitor, Outage, outages, vip_events};
use lab::networkd::Networkd;
use lab::vipd::{Vipd, vipctl_bin};
use lab::{Host, Lab, ProbeStats, ProcHandle, now_epoch, wait_until};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
/// After a firing: networkd `configured` and the VIP on r1 within this.
const BACK_WAIT: Duration = Duration::from_secs(3);
const SETTLE: Duration = Duration::from_millis(300);
const PROBE_MS: u32 = 10;
/// Before a trigger's firings: the observer runs this long with nothing
/// happening, so that its own jitter (VM, scheduling) is measured too.
const IDLE: Duration = Duration::from_secs(1);
/// DHCP renewal (T1) and rebinding (T2) times handed out by dnsmasq, s.
const T1: u32 = 3;
const T2: u32 = 6;
const NETWORK_FILE: &str = "/etc/systemd/network/10-eth0.network";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    Vipd,
    VipdKeep,
    Keepalived,
    KeepalivedKeep,
    KeepalivedVmac,
}

impl Setup {
    const ALL: [Setup; 5] = [
        Setup::Vipd,
        Setup::VipdKeep,
        Setup::Keepalived,
        Setup::KeepalivedKeep,
        Setup::KeepalivedVmac,
    ];
    fn label(self) -> &'static str {
        match self {
            Setup::Vipd => "vipd",
            Setup::VipdKeep => "vipd+keep",
            Setup::Keepalived => "keepalived",
            Setup::KeepalivedKeep => "ka+keep",
            Setup::KeepalivedVmac => "ka+vmac",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Setup::Vipd => "vipd",
            Setup::VipdKeep => "keep",
            Setup::Keepalived => "ka",
            Setup::KeepalivedKeep => "kakeep",
            Setup::KeepalivedVmac => "kavmac",
        }
    }
    /// vipd's rows are judged against its targets; keepalived's are measured.
    fn daemon(self) -> DaemonKind {
        match self {
            Setup::Vipd | Setup::VipdKeep => DaemonKind::Vipd,
            Setup::Keepalived | Setup::KeepalivedKeep | Setup::KeepalivedVmac => {
                DaemonKind::Keepalived
            }
        }
    }
    /// Where the VIP lives on a router: keepalived's `use_vmac` MACVLAN, else
    /// eth0.
    fn vip_dev(self, net: Net) -> String {
        match self {
            Setup::KeepalivedVmac => format!("vrrp.{}", net.vrid()),
            _ => "eth0".to_owned(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DaemonKind {
    Vipd,
    Keepalived,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trigger {
    Reconfigure,
    EditReload,
    Restart,
    FlushReconfigure,
    Netplan,
    Renew,
    T1Renewal,
}

impl Trigger {
    /// Flush last: it leaves eth0 `configuring` for good (see `Rig::ready`).
    const STATIC: [Trigger; 5] = [
        Trigger::Reconfigure,
        Trigger::EditReload,
        Trigger::Restart,
        Trigger::Netplan,
        Trigger::FlushReconfigure,
    ];
    const DHCP: [Trigger; 2] = [Trigger::Renew, Trigger::T1Renewal];
    fn label(self) -> &'static str {
        match self {
            Trigger::Reconfigure => "reconfigure",
            Trigger::EditReload => "edit+reload",
            Trigger::Restart => "nd restart",
            Trigger::FlushReconfigure => "flush+reconf",
            Trigger::Netplan => "netplan",
            Trigger::Renew => "dhcp renew",
            Trigger::T1Renewal => "dhcp T1 timer",
        }
    }
    fn order(self) -> usize {
        Trigger::STATIC
            .iter()
            .chain(&Trigger::DHCP)
            .position(|t| *t == self)
            .unwrap()
    }
}

/// Addressing of a lab: subnet 10.9.<subnet>.0/24, VRID = subnet.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Net {
    subnet: u8,
    dhcp: bool,
}

const STATIC_NET: Net = Net {
    subnet: 80,
    dhcp: false,
};
const DHCP_NET: Net = Net {
    subnet: 81,
    dhcp: true,
};

impl Net {
    fn addr(self, host: u8) -> String {
        format!("10.9.{}.{host}", self.subnet)
    }
    fn cidr(self, host: u8) -> String {
        format!("{}/24", self.addr(host))
    }
    fn vip(self) -> IpAddr {
        self.addr(100).parse().unwrap()
    }
    fn vip_cidr(self) -> String {
        self.cidr(100)
    }
    fn vrid(self) -> u8 {
        self.subnet
    }
    fn tag(self) -> &'static str {
        if self.dhcp { "dhcp" } else { "static" }
    }
    /// networkd's .network for router `host` (1 or 2).
    fn network_file(self, host: u8) -> String {
        let addressing = if self.dhcp {
            "DHCP=ipv4".to_owned()
        } else {
            format!("Address={}", self.cidr(host))
        };
        format!(
            "[Match]\nName=eth0\n\n[Network]\n{addressing}\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n"
        )
    }
    /// The netplan equivalent of `network_file` (static only).
    fn netplan_yaml(self, host: u8) -> String {
        format!(
            "network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [{}]\n      link-local: [ipv6]\n      accept-ra: false\n",
            self.cidr(host)
        )
    }
    fn vipd_yaml(self, priority: u8) -> String {
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {}\n    version: 3\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [{}]\n",
            self.vrid(),
            self.vip_cidr()
        )
    }
    /// keepalived.conf for router `name`; `use_vmac` puts the VIP on
    /// keepalived's MACVLAN `vrrp.<VRID>` with the virtual MAC.
    fn keepalived_conf(self, name: &str, priority: u8, vmac: Vmac) -> String {
        let use_vmac = match vmac {
            Vmac::Off => "",
            Vmac::On => "    use_vmac\n",
        };
        format!(
            "global_defs {{\n    router_id {name}\n    vrrp_version 3\n}}\nvrrp_instance web {{\n    interface eth0\n{use_vmac}    state BACKUP\n    virtual_router_id {}\n    priority {priority}\n    advert_int 0.1\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
            self.vrid(),
            self.vip_cidr()
        )
    }
}

/// keepalived's `use_vmac` in its configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Vmac {
    Off,
    On,
}

/// The hand-written drop-in of the `ka+keep` rows, for `version` of systemd:
/// what an operator would put next to keepalived (the same key and value as
/// vipd's generated drop-in, see src/networkd/mod.rs).
fn keep_dropin(version: u32) -> &'static str {
    if version >= vipd::networkd::KEEP_CONFIGURATION_SINCE {
        "[Network]\nKeepConfiguration=static\n"
    } else {
        "[DHCP]\nCriticalConnection=yes\n"
    }
}

enum Daemon {
    Vipd(Vipd),
    Keepalived(ProcHandle),
}

struct Router {
    host: Host,
    nd: Networkd,
    daemon: Daemon,
}

impl Router {
    /// How often this router has entered MASTER so far.
    fn entered_master(&self) -> u64 {
        match &self.daemon {
            Daemon::Vipd(v) => v.instance("web")["became_master"].as_u64().unwrap_or(0),
            Daemon::Keepalived(p) => p.log().matches("Entering MASTER STATE").count() as u64,
        }
    }
    fn vips_restored(&self) -> Option<u64> {
        match &self.daemon {
            Daemon::Vipd(v) => v.instance("web")["vips_restored"].as_u64(),
            Daemon::Keepalived(_) => None,
        }
    }
    fn log_tail(&self, n: usize) -> String {
        match &self.daemon {
            Daemon::Vipd(v) => v.proc.log_tail(n),
            Daemon::Keepalived(p) => p.log_tail(n),
        }
    }
}

/// One lab with its routers running `setup`. Fields drop in order: the
/// routers' networkds first, the lab (every process, the namespaces) last.
struct Rig {
    r1: Router,
    r2: Router,
    obs: Host,
    dhcp: Option<ProcHandle>,
    /// r1's own (networkd) address, without prefix.
    r1_ip: String,
    /// The device holding the VIP on the routers (eth0, or keepalived's
    /// `use_vmac` MACVLAN).
    vip_dev: String,
    monitor: ProcHandle,
    monitor_started: Duration,
    net: Net,
    _lab: Lab,
}

fn rig(setup: Setup, net: Net) -> Rig {
    let lab = Lab::new(&format!("bench_nd_{}_{}", setup.tag(), net.tag()));
    let dhcp = net.dhcp.then(|| {
        let t = dhcp_t1_t2(T1, T2);
        let extra: Vec<&str> = t.iter().map(String::as_str).collect();
        let range = format!("{},{}", net.addr(10), net.addr(50));
        lab.start_dhcp_with(&net.cidr(254), &range, 120, &extra)
    });
    let h1 = lab.add_host("r1", &[]);
    let h2 = lab.add_host("r2", &[]);
    let obs = lab.add_host("obs", &[&net.cidr(200)]);
    let nd1 = h1.start_networkd(&[("10-eth0.network", &net.network_file(1))]);
    let nd2 = h2.start_networkd(&[("10-eth0.network", &net.network_file(2))]);
    let r1_ip = match &dhcp {
        Some(srv) => {
            h2.wait_lease_addr(srv, "eth0", 20 * SEC);
            h1.wait_lease_addr(srv, "eth0", 20 * SEC).addr.to_string()
        }
        None => net.addr(1),
    };
    let vmac = if setup == Setup::KeepalivedVmac {
        Vmac::On
    } else {
        Vmac::Off
    };
    let start = |h: &Host, nd: &Networkd, prio: u8| match setup.daemon() {
        DaemonKind::Vipd => Daemon::Vipd(nd.start_vipd(&net.vipd_yaml(prio))),
        DaemonKind::Keepalived => {
            Daemon::Keepalived(h.start_keepalived(&net.keepalived_conf(&h.name, prio, vmac)))
        }
    };
    let vip_dev = setup.vip_dev(net);
    let d1 = start(&h1, &nd1, 150);
    assert!(
        h1.wait_addr(&vip_dev, net.vip_cidr(), true, 10 * SEC),
        "r1 did not become master"
    );
    let d2 = start(&h2, &nd2, 100);
    match (&d1, &d2) {
        (Daemon::Vipd(v1), Daemon::Vipd(v2)) => {
            v1.expect_state("web", "MASTER", 3 * SEC);
            v2.expect_state("web", "BACKUP", 3 * SEC);
        }
        (Daemon::Keepalived(k1), Daemon::Keepalived(k2)) => {
            assert!(
                k2.wait_for_log("Entering BACKUP STATE", 5 * SEC),
                "keepalived r2 not BACKUP:\n{}",
                k2.log_tail(20)
            );
            assert!(
                k1.log().contains("Entering MASTER STATE"),
                "keepalived r1 not MASTER:\n{}",
                k1.log_tail(20)
            );
        }
        _ => unreachable!(),
    }
    let r1 = Router {
        host: h1,
        nd: nd1,
        daemon: d1,
    };
    let r2 = Router {
        host: h2,
        nd: nd2,
        daemon: d2,
    };
    if setup == Setup::VipdKeep {
        for r in [&r1, &r2] {
            let Daemon::Vipd(v) = &r.daemon else {
                unreachable!()
            };
            let mut reconfigured = LogCounter::new(
                r.nd.log_path(),
                &["eth0: Configuring with ", "eth0: Reconfiguring with "],
            );
            let out = r.nd.exec_ok(&[
                vipctl_bin(),
                "networkd",
                "install",
                "--config",
                v.config.to_str().unwrap(),
            ]);
            r.nd.networkctl_ok(&["reload"]);
            // The reload reconfigures eth0 with the new drop-in (vipd puts the
            // VIP back if that purged it): wait for it before measuring.
            if !wait_until(5 * SEC, Duration::from_millis(20), || {
                reconfigured.poll() > 0
            }) {
                eprintln!(
                    "  {}: networkd did not reconfigure eth0 after the reload",
                    r.host.name
                );
            }
            let dropin = r.nd.outside_path(&format!("{NETWORK_FILE}.d"));
            let keeps = std::fs::read_dir(&dropin)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    std::fs::read_to_string(e.path())
                        .is_ok_and(|c| c.contains("KeepConfiguration=static"))
                });
            assert!(
                keeps,
                "{}: no KeepConfiguration=static drop-in in {NETWORK_FILE}.d after \
                 vipctl networkd install:\n{out}",
                r.host.name
            );
            eprintln!(
                "  {}: vipctl networkd install: {}",
                r.host.name,
                out.trim().replace('\n', "; ")
            );
        }
    }
    if setup == Setup::KeepalivedKeep {
        for r in [&r1, &r2] {
            let mut reconfigured = LogCounter::new(
                r.nd.log_path(),
                &["eth0: Configuring with ", "eth0: Reconfiguring with "],
            );
            let dropin = keep_dropin(r.nd.version());
            r.nd.write_file(&format!("{NETWORK_FILE}.d/50-keep.conf"), dropin);
            r.nd.networkctl_ok(&["reload"]);
            // As for vipd+keep: the reload reconfigures eth0 with the drop-in
            // (keepalived re-elects if that purged the VIP); `rig_ready` below
            // waits for the VIP back on r1.
            if !wait_until(5 * SEC, Duration::from_millis(20), || {
                reconfigured.poll() > 0
            }) {
                eprintln!(
                    "  {}: networkd did not reconfigure eth0 after the reload",
                    r.host.name
                );
            }
            eprintln!(
                "  {}: drop-in {NETWORK_FILE}.d/50-keep.conf: {}",
                r.host.name,
                dropin.trim().replace('\n', " ")
            );
        }
    }
    let rig_ready = |r: &Router| {
        wait_until(10 * SEC, Duration::from_millis(50), || {
            has_cidr(&r.host, &vip_dev, &net.vip_cidr()) && configured(&r.nd)
        })
    };
    assert!(
        rig_ready(&r1),
        "r1 not configured with the VIP:\n{}",
        r1.log_tail(20)
    );
    std::thread::sleep(SETTLE);

    let AddrMonitor {
        proc: monitor,
        started: monitor_started,
    } = r1.host.start_addr_monitor(&vip_dev);
    Rig {
        r1,
        r2,
        obs,
        dhcp,
        r1_ip,
        vip_dev,
        monitor,
        monitor_started,
        net,
        _lab: lab,
    }
}

/// True if `cidr` (IPv4) is on the host's `dev`. `ip -n` instead of the lab's
/// `ip netns exec` (which sets up a mount namespace and remounts /sys every
/// time): the bench polls this every 20 ms and must not load the 2 CPUs.
fn has_cidr(h: &Host, dev: &str, cidr: &str) -> bool {
    Command::new("ip")
        .args(["-n", &h.ns, "-o", "-4", "addr", "show", "dev", dev])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" inet {cidr} ")))
}

fn configured(nd: &Networkd) -> bool {
    matches!(nd.try_link_state("eth0"), Some((a, _)) if a == "configured")
}

/// Counts the lines starting with one of `prefixes` appended to a log file since
/// `new` (reads only what was appended: networkd's debug log grows).
struct LogCounter {
    path: PathBuf,
    prefixes: &'static [&'static str],
    offset: u64,
    partial: String,
    count: usize,
}

impl LogCounter {
    fn new(path: &Path, prefixes: &'static [&'static str]) -> LogCounter {
        LogCounter {
            path: path.to_owned(),
            prefixes,
            offset: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            partial: String::new(),
            count: 0,
        }
    }

    fn poll(&mut self) -> usize {
        let mut buf = Vec::new();
        if let Ok(mut f) = File::open(&self.path)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
            && let Ok(n) = f.read_to_end(&mut buf)
        {
            self.offset += n as u64;
        }
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(i) = self.partial.find('\n') {
            if self
                .prefixes
                .iter()
                .any(|p| self.partial[..i].starts_with(p))
            {
                self.count += 1;
            }
            self.partial.drain(..=i);
        }
        self.count
    }
}

/// One firing: its window and whether the VIP was on r1 at its end.
struct Firing {
    start: Duration,
    end: Duration,
    vip_at_end: bool,
    /// CPU time the hypervisor took from this VM (all CPUs) during the
    /// firing: /proc/stat `steal`, 10 ms ticks.
    steal: Duration,
}

/// The VM's total steal time so far (/proc/stat, all CPUs); zero if unknown.
fn steal_now() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The firings of one trigger on one setup.
struct TriggerRun {
    trigger: Trigger,
    firings: Vec<Firing>,
    probe: ProbeStats,
    /// The idle window before the first firing (see `IDLE`).
    idle: (Duration, Duration),
    /// Trigger commands that failed (one entry per firing).
    failures: Vec<String>,
    role_changes: u64,
    vips_restored: Option<u64>,
}

impl Rig {
    /// r1 is done with a firing of `t`: the VIP is on eth0 and networkd says
    /// `configured`; after `ip addr flush` networkd's own address is back
    /// instead (the flush also removes the IPv6 link-local, which the kernel
    /// does not re-create, and networkd 252 then stays `configuring`, waiting
    /// for IPv6LL, until the link goes down and up).
    fn ready(&self, t: Trigger) -> bool {
        let h = &self.r1.host;
        has_cidr(h, &self.vip_dev, &self.net.vip_cidr())
            && if t == Trigger::FlushReconfigure {
                has_cidr(h, "eth0", &format!("{}/24", self.r1_ip))
            } else {
                configured(&self.r1.nd)
            }
    }

    fn why_not_ready(&self) -> String {
        format!(
            "eth0 (setup, oper) {:?}, VIP on r1 {}, on r2 {}",
            self.r1.nd.try_link_state("eth0"),
            has_cidr(&self.r1.host, &self.vip_dev, &self.net.vip_cidr()),
            has_cidr(&self.r2.host, &self.vip_dev, &self.net.vip_cidr())
        )
    }

    fn masters(&self) -> u64 {
        self.r1.entered_master() + self.r2.entered_master()
    }

    /// Fires `t` on r1. Returns what went wrong with a command that may fail
    /// for a reason worth reporting (`ip addr flush` gives up after 10 rounds
    /// when the VIP keeps coming back between them).
    fn fire(&self, t: Trigger, i: usize) -> Option<String> {
        let nd = &self.r1.nd;
        match t {
            Trigger::Reconfigure => {
                nd.networkctl_ok(&["reconfigure", "eth0"]);
            }
            Trigger::EditReload => {
                nd.write_file(
                    NETWORK_FILE,
                    &format!("# edit {i}\n{}", self.net.network_file(1)),
                );
                nd.networkctl_ok(&["reload"]);
            }
            Trigger::Restart => nd.restart(),
            Trigger::FlushReconfigure => {
                let o = self.r1.host.exec(&["ip", "addr", "flush", "dev", "eth0"]);
                nd.networkctl_ok(&["reconfigure", "eth0"]);
                if !o.status.success() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    return Some(format!(
                        "`ip addr flush dev eth0` failed ({}): {}",
                        o.status,
                        err.trim()
                    ));
                }
            }
            Trigger::Netplan => {
                nd.apply_netplan(&self.net.netplan_yaml(1));
            }
            Trigger::Renew => {
                let srv = self.dhcp.as_ref().expect("renew needs DHCP");
                let acks = dhcp_acks(srv, &self.r1_ip);
                nd.networkctl_ok(&["renew", "eth0"]);
                let renewed = wait_until(BACK_WAIT, Duration::from_millis(20), || {
                    dhcp_acks(srv, &self.r1_ip) > acks
                });
                if !renewed {
                    eprintln!("  renew #{i}: no DHCPACK within {BACK_WAIT:?}");
                }
            }
            Trigger::T1Renewal => {
                let srv = self.dhcp.as_ref().expect("T1 renewal needs DHCP");
                let acks = dhcp_acks(srv, &self.r1_ip);
                let renewed = wait_until(
                    Duration::from_secs(u64::from(T1) + 3),
                    Duration::from_millis(20),
                    || dhcp_acks(srv, &self.r1_ip) > acks,
                );
                if !renewed {
                    eprintln!("  T1 renewal #{i}: no DHCPACK within {}s", T1 + 3);
                }
            }
        }
        None
    }

    fn run_trigger(&self, t: Trigger, runs: usize) -> TriggerRun {
        let vip_cidr = self.net.vip_cidr();
        if !wait_until(10 * SEC, Duration::from_millis(50), || self.ready(t)) {
            eprintln!(
                "  {}: r1 not ready (configured + VIP) before starting: {}",
                t.label(),
                self.why_not_ready()
            );
        }
        let observer = self.obs.probe_observer(self.net.vip(), PROBE_MS);
        if !observer.wait_replies(5, 3 * SEC) {
            eprintln!("  {}: observer gets no replies before starting", t.label());
        }
        let idle_start = now_epoch();
        std::thread::sleep(IDLE);
        let idle = (idle_start, now_epoch());
        let masters = self.masters();
        let restored = self.r1.vips_restored();
        let mut firings = Vec::with_capacity(runs);
        let mut failures = Vec::new();
        for i in 0..runs {
            if !self.ready(t) && !wait_until(10 * SEC, Duration::from_millis(50), || self.ready(t))
            {
                eprintln!(
                    "  {} #{i}: r1 not ready (configured + VIP) 10 s after the last firing: {}",
                    t.label(),
                    self.why_not_ready()
                );
            }
            // networkd acts on most triggers after the command returned: the
            // firing is over once it has set its addresses again (that comes
            // after it removed foreign ones), then `ready`. The DHCP triggers
            // wait for dnsmasq's ACK in `fire` instead.
            let mut addresses_set =
                LogCounter::new(self.r1.nd.log_path(), &["eth0: Addresses set"]);
            let start = now_epoch();
            let steal0 = steal_now();
            if let Some(e) = self.fire(t, i) {
                failures.push(e);
            }
            let via_networkd = !matches!(t, Trigger::Renew | Trigger::T1Renewal);
            let done = wait_until(BACK_WAIT, Duration::from_millis(20), || {
                (!via_networkd || addresses_set.poll() > 0) && self.ready(t)
            });
            if !done {
                eprintln!(
                    "  {} #{i}: not done {BACK_WAIT:?} after the trigger (networkd set its \
                     addresses again: {}): {}",
                    t.label(),
                    addresses_set.poll() > 0,
                    self.why_not_ready()
                );
            }
            std::thread::sleep(SETTLE);
            let vip_at_end = has_cidr(&self.r1.host, &self.vip_dev, &vip_cidr);
            firings.push(Firing {
                start,
                end: now_epoch(),
                vip_at_end,
                steal: steal_now().saturating_sub(steal0),
            });
        }
        let probe = observer.stop();
        TriggerRun {
            trigger: t,
            firings,
            probe,
            idle,
            failures,
            role_changes: self.masters() - masters,
            vips_restored: self.r1.vips_restored().zip(restored).map(|(a, b)| a - b),
        }
    }
}

/// Figures of one (setup, trigger).
struct Row {
    setup: Setup,
    trigger: Trigger,
    runs: usize,
    /// Firings with at least one delete of the VIP.
    purged: usize,
    lost: usize,
    absence: Vec<Duration>,
    /// Every delete -> re-add of the row on its own (a firing may have more).
    outages: Vec<Duration>,
    gap: Vec<Duration>,
    /// The probe's achieved mean request interval.
    probe_interval: Duration,
    /// Longest gap in the idle window before the firings (nothing happening).
    idle_gap: Duration,
    /// Firings whose gap exceeds 2 probe intervals, by cause: requests lost
    /// inside the gap (the VIP really did not answer), of those how many
    /// had a VIP delete inside the gap; and gaps without any lost request,
    /// split by what made them: the probe sent its two requests more than 2
    /// intervals apart (the observer was not run in time: skipped slots),
    /// or the closing reply came late (its round trip: r1 or the path).
    long_gaps: usize,
    long_gaps_lost: usize,
    long_gaps_deleted: usize,
    long_gaps_send_late: usize,
    long_gaps_reply_late: usize,
    /// Largest round trip of a reply closing a lost-free long gap.
    long_gap_max_rtt: Duration,
    /// One line per firing whose gap exceeds 2 probe intervals.
    long_gap_details: Vec<String>,
    /// VM steal time summed over the firings, and over those with a long gap.
    steal: Duration,
    steal_long_gaps: Duration,
    /// Requests reported lost inside firing windows.
    lost_requests: usize,
    /// Most requests lost inside one firing's window: what the VIP's
    /// reachability cost in probe slots, whatever the observer's own timing
    /// (one lost request = a gap of two probe intervals).
    max_lost_per_firing: usize,
    max_send_late: Duration,
    skipped_slots: u32,
    role_changes: u64,
    vips_restored: Option<u64>,
    failures: Vec<String>,
}

fn analyse(setup: Setup, tr: &TriggerRun, outs: &[Outage], lab_end: Duration) -> Row {
    let mut purged = 0;
    let mut lost = 0;
    let mut absence = Vec::new();
    let mut outage_times = Vec::new();
    let mut gap = Vec::new();
    let p = &tr.probe;
    let iv = p.interval;
    let (mut long_gaps, mut long_gaps_lost, mut long_gaps_deleted) = (0, 0, 0);
    let (mut long_gaps_send_late, mut long_gaps_reply_late) = (0, 0);
    let mut long_gap_max_rtt = Duration::ZERO;
    let mut long_gap_details = Vec::new();
    let (mut steal, mut steal_long_gaps) = (Duration::ZERO, Duration::ZERO);
    let mut lost_requests = 0;
    let mut max_lost_per_firing = 0;
    for (i, f) in tr.firings.iter().enumerate() {
        steal += f.steal;
        let mine: Vec<&Outage> = outs
            .iter()
            .filter(|o| o.deleted >= f.start && o.deleted < f.end)
            .collect();
        if !mine.is_empty() {
            purged += 1;
        }
        let late = mine.iter().any(|o| o.added.is_none_or(|a| a > f.end));
        if late || !f.vip_at_end {
            lost += 1;
        }
        let times: Vec<Duration> = mine
            .iter()
            .map(|o| o.added.unwrap_or(lab_end).saturating_sub(o.deleted))
            .collect();
        absence.push(times.iter().sum());
        outage_times.extend(times);
        let lost_here = p
            .lost_sent
            .iter()
            .filter(|s| **s >= f.start && **s < f.end)
            .count();
        lost_requests += lost_here;
        max_lost_per_firing = max_lost_per_firing.max(lost_here);
        let (g, from, to) = p.longest_gap_in(f.start, f.end);
        gap.push(g);
        if g > 2 * iv {
            long_gaps += 1;
            steal_long_gaps += f.steal;
            let lost_in = p
                .lost_sent
                .iter()
                .filter(|s| **s > from && **s < to)
                .count();
            let deletes_in = outs
                .iter()
                .filter(|o| o.deleted + iv >= from && o.deleted <= to)
                .count();
            let k = p
                .replies
                .iter()
                .position(|r| *r == to)
                .filter(|k| *k > 0 && p.replies[k - 1] == from && p.reply_sent.len() > *k);
            let (spacing, rtt) = k.map_or((Duration::ZERO, Duration::ZERO), |k| {
                (
                    p.reply_sent[k].saturating_sub(p.reply_sent[k - 1]),
                    p.replies[k].saturating_sub(p.reply_sent[k]),
                )
            });
            long_gap_details.push(format!(
                "#{i}: gap {} ms, {lost_in} requests lost in it, {deletes_in} VIP deletes in it, \
                 its requests sent {} ms apart, closing rtt {} ms, VM steal during the firing {} ms",
                ms(g, 2),
                ms(spacing, 2),
                ms(rtt, 2),
                ms(f.steal, 0)
            ));
            if lost_in > 0 {
                long_gaps_lost += 1;
                if outs
                    .iter()
                    .any(|o| o.deleted + iv >= from && o.deleted <= to)
                {
                    long_gaps_deleted += 1;
                }
            } else {
                // gap = (send spacing of the two requests) + (rtt change).
                let k = p.replies.iter().position(|r| *r == to);
                match k.filter(|k| *k > 0 && p.replies[k - 1] == from) {
                    Some(k) if p.reply_sent.len() == p.replies.len() => {
                        let spacing = p.reply_sent[k].saturating_sub(p.reply_sent[k - 1]);
                        let rtt = p.replies[k].saturating_sub(p.reply_sent[k]);
                        long_gap_max_rtt = long_gap_max_rtt.max(rtt);
                        if spacing > 2 * iv {
                            long_gaps_send_late += 1;
                        } else {
                            long_gaps_reply_late += 1;
                        }
                    }
                    _ => long_gaps_reply_late += 1,
                }
            }
        }
    }
    Row {
        setup,
        trigger: tr.trigger,
        runs: tr.firings.len(),
        purged,
        lost,
        absence,
        outages: outage_times,
        gap,
        probe_interval: iv,
        idle_gap: p.longest_gap_in(tr.idle.0, tr.idle.1).0,
        long_gaps,
        long_gaps_lost,
        long_gaps_deleted,
        long_gaps_send_late,
        long_gaps_reply_late,
        long_gap_max_rtt,
        long_gap_details,
        steal,
        steal_long_gaps,
        lost_requests,
        max_lost_per_firing,
        max_send_late: p.max_send_late,
        skipped_slots: p.skipped_slots,
        role_changes: tr.role_changes,
        vips_restored: tr.vips_restored,
        failures: tr.failures.clone(),
    }
}

/// Runs every trigger of `net` against `setup` in one fresh lab.
fn measure(setup: Setup, net: Net, triggers: &[Trigger], runs: usize) -> Vec<Row> {
    let t0 = Instant::now();
    let rig = rig(setup, net);
    let runs_done: Vec<TriggerRun> = triggers
        .iter()
        .map(|&t| {
            let tr = rig.run_trigger(t, runs);
            eprintln!(
                "  {} / {}: done ({} replies of {} requests, VIPs restored by vipd {})",
                setup.label(),
                t.label(),
                tr.probe.received,
                tr.probe.sent,
                tr.vips_restored
                    .map_or_else(|| "-".to_owned(), |n| n.to_string())
            );
            tr
        })
        .collect();
    std::thread::sleep(SETTLE);
    let lab_end = now_epoch();
    let events = vip_events(&rig.monitor.log(), &net.vip_cidr());
    for (ts, _) in &events {
        assert!(
            *ts + 5 * SEC >= rig.monitor_started && *ts <= lab_end + 5 * SEC,
            "ip monitor timestamp {ts:?} outside the lab's lifetime ({:?}..{lab_end:?}): \
             clock/timezone mismatch",
            rig.monitor_started
        );
    }
    let outs = outages(&events);
    eprintln!(
        "  {} ({}): {} VIP deletes seen on r1, lab took {:.0?}",
        setup.label(),
        net.tag(),
        outs.len(),
        t0.elapsed()
    );
    runs_done
        .iter()
        .map(|tr| analyse(setup, tr, &outs, lab_end))
        .collect()
}

fn ms(d: Duration, decimals: usize) -> String {
    format!("{:.*}", decimals, d.as_secs_f64() * 1000.0)
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn max(v: &[Duration]) -> Duration {
    v.iter().max().copied().unwrap_or_default()
}

/// vipd's targets for a row: None for keepalived and for `ip addr flush`
/// (not a networkd trigger: see the footnote printed under the table), else
/// the list of misses (empty: met).
fn misses(r: &Row) -> Option<Vec<String>> {
    if r.setup.daemon() == DaemonKind::Keepalived || r.trigger == Trigger::FlushReconfigure {
        return None;
    }
    let mut m = Vec::new();
    let (med, mx) = (median(&r.absence), max(&r.absence));
    if r.setup == Setup::VipdKeep {
        if mx > Duration::ZERO {
            m.push(format!(
                "VIP absent {} ms (max) although KeepConfiguration should keep it ({} of {} firings purged)",
                ms(mx, 3),
                r.purged,
                r.runs
            ));
        }
    } else {
        if med >= Duration::from_millis(1) {
            m.push(format!("absence median {} ms >= 1 ms", ms(med, 3)));
        }
        if mx >= Duration::from_millis(5) {
            m.push(format!("absence max {} ms >= 5 ms", ms(mx, 3)));
        }
    }
    let gmax = max(&r.gap);
    if gmax > 2 * r.probe_interval {
        m.push(format!(
            "observer gap max {} ms > 2 x probe interval {} ms",
            ms(gmax, 2),
            ms(r.probe_interval, 2)
        ));
    }
    if r.role_changes > 0 {
        m.push(format!("{} role changes", r.role_changes));
    }
    if r.lost > 0 {
        m.push(format!("VIP lost in {} firings", r.lost));
    }
    Some(m)
}

fn main() {
    let Some(runs) = lab::compared::bench_runs("networkd_triggers", 10) else {
        return;
    };
    // Optional filters (comma-separated labels), for working on one part.
    let only = |var: &str| -> Option<Vec<String>> {
        std::env::var(var)
            .ok()
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
    };
    let (only_setups, only_triggers) = (only("VIPD_BENCH_SETUPS"), only("VIPD_BENCH_TRIGGERS"));
    let t0 = Instant::now();
    let steal0 = steal_now();
    let mut rows = Vec::new();
    for setup in Setup::ALL {
        if only_setups
            .as_ref()
            .is_some_and(|o| !o.iter().any(|s| s == setup.label()))
        {
            continue;
        }
        for (net, triggers) in [
            (STATIC_NET, &Trigger::STATIC[..]),
            (DHCP_NET, &Trigger::DHCP[..]),
        ] {
            let triggers: Vec<Trigger> = triggers
                .iter()
                .copied()
                .filter(|t| {
                    only_triggers
                        .as_ref()
                        .is_none_or(|o| o.iter().any(|s| s == t.label()))
                })
                .collect();
            if triggers.is_empty() {
                continue;
            }
            eprintln!("== {} on {} addressing", setup.label(), net.tag());
            rows.extend(measure(setup, net, &triggers, runs));
        }
    }
    rows.sort_by_key(|r| (r.trigger.order(), r.setup as usize));

    println!(
        "\nVIP on the master across systemd-networkd triggers ({runs} firings each; VRRPv3 100 ms, \
         observer `vipctl probe` every {PROBE_MS} ms)"
    );
    println!(
        "absence: VIP delete -> re-add on r1 (ip -ts monitor), summed per firing; gap: longest \
         time without an observer reply per firing (kernel receive timestamps); probe iv: the \
         probe's achieved mean request interval; idle gap: longest gap in {IDLE:?} with nothing \
         happening before the firings; lost pr: most probe requests lost in one firing (one \
         lost request = a gap of two probe intervals, counted in probe slots rather than \
         milliseconds, so the observer's own scheduling delays do not count)"
    );
    println!(
        "setups: vipd+keep = vipd with `vipctl networkd install` (KeepConfiguration=static \
         drop-in); ka+keep = keepalived with a hand-written KeepConfiguration=static drop-in; \
         ka+vmac = keepalived with use_vmac (VIP on its MACVLAN vrrp.VRID, absence measured \
         there)"
    );
    println!(
        "vipd target: absence med < 1 ms and max < 5 ms where the VIP is deleted, 0 ms where \
         KeepConfiguration keeps it (vipd+keep); gap max <= 2 probe intervals; 0 role changes; \
         0 lost\n"
    );
    println!(
        "{:<11} {:<14} {:>4} {:>6} {:>4} {:>14} {:>14} {:>10} {:>10} {:>7} {:>11} {:>11} {:>12}  {:<6}",
        "setup",
        "trigger",
        "runs",
        "purged",
        "lost",
        "absence med ms",
        "absence max ms",
        "gap med ms",
        "gap max ms",
        "lost pr",
        "probe iv ms",
        "idle gap ms",
        "role changes",
        "target"
    );
    let mut missed = Vec::new();
    let mut judged = 0;
    for r in &rows {
        let target = match misses(r) {
            None if r.trigger == Trigger::FlushReconfigure => "none [1]",
            None => "-",
            Some(m) => {
                judged += 1;
                if m.is_empty() {
                    "met"
                } else {
                    missed.push((r.setup, r.trigger, m));
                    "MISSED"
                }
            }
        };
        println!(
            "{:<11} {:<14} {:>4} {:>6} {:>4} {:>14} {:>14} {:>10} {:>10} {:>7} {:>11} {:>11} {:>12}  {}",
            r.setup.label(),
            r.trigger.label(),
            r.runs,
            r.purged,
            r.lost,
            ms(median(&r.absence), 3),
            ms(max(&r.absence), 3),
            ms(median(&r.gap), 2),
            ms(max(&r.gap), 2),
            r.max_lost_per_firing,
            ms(r.probe_interval, 2),
            ms(r.idle_gap, 1),
            r.role_changes,
            target
        );
    }
    if rows.iter().any(|r| r.trigger == Trigger::FlushReconfigure) {
        println!(
            "\n[1] `ip addr flush dev eth0` is not a networkd trigger and has no target: it is an \
             operator deleting every address. iproute2 repeats its flush rounds while addresses \
             are left (at most 10, then it gives up with an error, listed below if it happened), \
             and vipd re-adds the VIP after each round, so one flush deletes the VIP several \
             times and the per-firing absence sums those deletes. What vipd controls is each \
             delete -> re-add:"
        );
        for r in rows
            .iter()
            .filter(|r| r.trigger == Trigger::FlushReconfigure)
        {
            println!(
                "    {} / flush: {} deletes in {} firings; each delete -> re-add: median {} ms, \
                 max {} ms",
                r.setup.label(),
                r.outages.len(),
                r.runs,
                ms(median(&r.outages), 3),
                ms(max(&r.outages), 3)
            );
        }
    }
    println!(
        "\nobserver gaps > 2 probe intervals, by cause (per firing's longest gap; \"probe late\": \
         its two requests were sent > 2 intervals apart, the observer was not run in time; \
         \"reply late\": sent on time, the closing reply's round trip made the gap):"
    );
    for r in rows.iter().filter(|r| r.long_gaps > 0) {
        println!(
            "    {:<11} {:<14} {:>2} of {:>2} firings: {:>2} with requests lost in the gap ({} \
             with a VIP delete in it); without a lost request: {} probe late, {} reply late \
             (max rtt {} ms); probe: max send delay {} ms, {} skipped slots; VM steal {} ms in \
             these firings, {} ms in all {}",
            r.setup.label(),
            r.trigger.label(),
            r.long_gaps,
            r.runs,
            r.long_gaps_lost,
            r.long_gaps_deleted,
            r.long_gaps_send_late,
            r.long_gaps_reply_late,
            ms(r.long_gap_max_rtt, 1),
            ms(r.max_send_late, 1),
            r.skipped_slots,
            ms(r.steal_long_gaps, 0),
            ms(r.steal, 0),
            r.runs
        );
        for d in &r.long_gap_details {
            println!("        {d}");
        }
    }
    println!(
        "    (rows not listed: no firing's gap exceeded 2 probe intervals; requests lost in \
         firing windows per row: {})",
        rows.iter()
            .map(|r| format!(
                "{} {}: {}",
                r.setup.label(),
                r.trigger.label(),
                r.lost_requests
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let restored: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.vips_restored
                .map(|n| format!("{} {}: {n}", r.setup.label(), r.trigger.label()))
        })
        .collect();
    println!("\nvipd vips_restored per row: {}", restored.join(", "));
    for r in rows
        .iter()
        .filter(|r| r.outages.len() > r.purged && r.trigger != Trigger::FlushReconfigure)
    {
        println!(
            "{} / {}: {} deletes in {} firings; each delete -> re-add: median {} ms, max {} ms",
            r.setup.label(),
            r.trigger.label(),
            r.outages.len(),
            r.purged,
            ms(median(&r.outages), 3),
            ms(max(&r.outages), 3)
        );
    }
    for r in rows.iter().filter(|r| !r.failures.is_empty()) {
        let mut kinds = r.failures.clone();
        kinds.sort();
        kinds.dedup();
        println!(
            "{} / {}: trigger command failed in {} of {} firings: {}",
            r.setup.label(),
            r.trigger.label(),
            r.failures.len(),
            r.runs,
            kinds.join(" | ")
        );
    }
    for (s, t, m) in &missed {
        println!("MISSED {} / {}: {}", s.label(), t.label(), m.join("; "));
    }
    let vipd_rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.setup.daemon() == DaemonKind::Vipd && r.trigger != Trigger::FlushReconfigure)
        .collect();
    println!(
        "\nobserver in probe slots: {} of {} vipd rows lost at most one probe request in every \
         firing (a gap of at most two probe intervals as the VIP's side of it)",
        vipd_rows
            .iter()
            .filter(|r| r.max_lost_per_firing <= 1)
            .count(),
        vipd_rows.len()
    );
    println!(
        "\nVM steal time during the whole run: {} ms (all CPUs)",
        ms(steal_now().saturating_sub(steal0), 0)
    );
    println!(
        "\nvipd targets {} ({} of {judged} vipd rows met); whole run {:.0?}",
        if missed.is_empty() {
            "met in every row"
        } else {
            "MISSED"
        },
        judged - missed.len(),
        t0.elapsed()
    );
}

//! vipd and FRR's vrrpd (Debian package frr, 8.4) in one VRRP group, both
//! directions: VRRPv3 over IPv4 (both checksum forms), VRRPv3 over IPv6 and
//! VRRPv2. Each FRR router runs its own zebra and vrrpd in the host's
//! namespace, with a private state and vty directory, as user frr; the
//! macvlan devices with the virtual MAC that FRR needs are made for it. The
//! scenario: election, cut link, preemption back, priority 0 on stop, an
//! observer probing the VIP. Run as root; fails naming the package without FRR.

mod lab;

use lab::peer::{PeerNet, neighbour_mac};
use lab::{Host, Lab, ProcHandle, wait_until};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(20);
/// Master_Down_Interval at 1 s and priority 100 is 3.61 s; with margin.
const TAKEOVER: Duration = Duration::from_secs(6);
/// Skew_Time at priority 100 is 0.61 s: a takeover this fast needed the
/// priority-0 advert.
const PRIORITY_ZERO_TAKEOVER: Duration = Duration::from_millis(2500);

const ZEBRA: &str = "/usr/lib/frr/zebra";
const VRRPD: &str = "/usr/lib/frr/vrrpd";

fn frr_missing() -> Option<String> {
    for bin in [ZEBRA, VRRPD] {
        if !Path::new(bin).is_file() {
            return Some(format!("{bin} is missing (Debian package frr)"));
        }
    }
    let frr_user = std::process::Command::new("id")
        .args(["-nG", "frr"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("frrvty"))
        .unwrap_or(false);
    (!frr_user).then(|| "user frr (in group frrvty) is missing (Debian package frr)".into())
}

#[derive(Clone, Copy)]
struct Case {
    version: u8,
    /// v3 IPv4: FRR's `checksum-with-ipv4-pseudoheader` (its default).
    pseudo_header: bool,
    vrid: u8,
    /// 10.9.<vrid>.0/24 or fd00:9:<vrid>::/64.
    net: PeerNet,
}

impl Case {
    fn vipd_yaml(&self, priority: u8) -> String {
        let checksum = if self.version == 3 && !self.net.ipv6 && !self.pseudo_header {
            "    v3_ipv4_checksum: message_only\n"
        } else {
            ""
        };
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {}\n    version: {}\n    priority: {priority}\n    advert_interval: 1s\n    vips: [\"{}\"]\n{checksum}",
            self.vrid,
            self.version,
            self.net.cidr(100)
        )
    }
}

/// One FRR router: zebra and vrrpd in a host's namespace.
struct Frr {
    zebra: ProcHandle,
    vrrpd: ProcHandle,
    dir: PathBuf,
    /// The macvlan FRR drives (it carries the VIP).
    macvlan: String,
}

impl Frr {
    /// Makes the macvlan with the virtual MAC (RFC 5798 7.3) and the VIP,
    /// writes vrrpd.conf, starts zebra, then vrrpd, and waits for vrrpd to
    /// start the virtual router.
    fn start(host: &Host, c: &Case, priority: u8) -> Frr {
        let (fam, mac_kind) = if c.net.ipv6 { (6, 2) } else { (4, 1) };
        let macvlan = format!("vrrp{fam}-{}", c.vrid);
        host.exec_ok(&[
            "ip", "link", "add", &macvlan, "link", "eth0", "type", "macvlan", "mode", "bridge",
        ]);
        // Both routers' macvlans carry the same MAC: a random link-local
        // keeps them from failing DAD against each other.
        host.exec_ok(&[
            "ip",
            "link",
            "set",
            "dev",
            &macvlan,
            "addrgenmode",
            "random",
        ]);
        host.exec_ok(&[
            "ip",
            "link",
            "set",
            "dev",
            &macvlan,
            "address",
            &format!("00:00:5e:00:0{mac_kind}:{:02x}", c.vrid),
        ]);
        let nodad: &[&str] = if c.net.ipv6 { &["nodad"] } else { &[] };
        let vip = c.net.cidr(100);
        let mut add = vec!["ip", "addr", "add", vip.as_str(), "dev", macvlan.as_str()];
        add.extend_from_slice(nodad);
        host.exec_ok(&add);
        host.exec_ok(&["ip", "link", "set", "dev", &macvlan, "up"]);

        // vrrpd keeps the VIP on the macvlan and sets it protodown while
        // Backup; the address stays local to the host, so without this
        // eth0 would answer ARP for it with its own MAC (ARP flux) and
        // the backup would draw the VIP's traffic.
        host.sysctl("net.ipv4.conf.all.arp_ignore", "1");
        host.sysctl("net.ipv4.conf.eth0.arp_ignore", "1");
        let dir = host.tmpdir().join(format!("frr-{}", host.name));
        std::fs::create_dir_all(&dir).expect("frr dir");
        let ip_kw = if c.net.ipv6 { "ipv6" } else { "ip" };
        let checksum = if c.pseudo_header { "" } else { "no" };
        let conf = format!(
            "interface eth0\n vrrp {v} version {ver}\n vrrp {v} priority {priority}\n vrrp {v} advertisement-interval 1000\n vrrp {v} {ip_kw} {addr}\n{cs}!\n",
            v = c.vrid,
            ver = c.version,
            addr = c.net.addr(100),
            cs = if checksum.is_empty() {
                String::new()
            } else {
                format!(" no vrrp {} checksum-with-ipv4-pseudoheader\n", c.vrid)
            }
        );
        std::fs::write(dir.join("vrrpd.conf"), conf).expect("vrrpd.conf");
        let d = dir.to_string_lossy().into_owned();
        host.exec_ok(&["chown", "-R", "frr:frr", &d]);
        let common = |name: &str| -> Vec<String> {
            vec![
                "-u".into(),
                "frr".into(),
                "-g".into(),
                "frr".into(),
                "--vty_socket".into(),
                d.clone(),
                "-z".into(),
                format!("{d}/zserv.api"),
                "-i".into(),
                format!("{d}/{name}.pid"),
                "--log".into(),
                "stdout".into(),
                "--log-level".into(),
                "debug".into(),
            ]
        };
        let mut zargs = vec![ZEBRA.to_string()];
        zargs.extend(common("zebra"));
        zargs.extend(["-f".into(), "/dev/null".into()]);
        let zargs: Vec<&str> = zargs.iter().map(String::as_str).collect();
        let zebra = host.spawn(&zargs, dir.join("zebra.log"));
        assert!(
            wait_until(5 * SEC, POLL, || dir.join("zserv.api").exists()),
            "zebra did not come up:\n{}",
            zebra.log_tail(20)
        );
        let mut vargs = vec![VRRPD.to_string()];
        vargs.extend(common("vrrpd"));
        vargs.extend(["-f".into(), format!("{d}/vrrpd.conf")]);
        let vargs: Vec<&str> = vargs.iter().map(String::as_str).collect();
        let vrrpd = host.spawn(&vargs, dir.join("vrrpd.log"));
        let frr = Frr {
            zebra,
            vrrpd,
            dir,
            macvlan,
        };
        assert!(
            frr.vrrpd
                .wait_for_log(&format!("[VRID {}]", c.vrid), 5 * SEC),
            "vrrpd did not start the virtual router:\n{}",
            frr.vrrpd.log_tail(30)
        );
        frr
    }

    /// The state FRR's vrrpd last logged for the family ("Master",
    /// "Backup", "Initialize"), from its `A -> B` lines.
    fn state(&self, c: &Case) -> String {
        let fam = if c.net.ipv6 { "[IPv6]" } else { "[IPv4]" };
        let tag = format!("[VRID {}] {fam}", c.vrid);
        self.vrrpd
            .log()
            .lines()
            .rfind(|l| l.contains(&tag) && l.contains(" -> "))
            .and_then(|l| l.rsplit(" -> ").next())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// Every `A -> B` line vrrpd logged for the family, in order.
    fn transitions(&self, c: &Case) -> Vec<String> {
        let fam = if c.net.ipv6 { "[IPv6]" } else { "[IPv4]" };
        let tag = format!("[VRID {}] {fam}", c.vrid);
        self.vrrpd
            .log()
            .lines()
            .filter(|l| l.contains(&tag) && l.contains(" -> "))
            .filter_map(|l| l.split(fam).nth(1).map(|t| t.trim().to_string()))
            .collect()
    }

    fn wait_state(&self, c: &Case, state: &str, timeout: Duration) -> bool {
        wait_until(timeout, POLL, || self.state(c) == state)
    }
}

/// Fails (never passes silently) when FRR is not installed, naming the
/// package; refuses the message-only cases on an FRR that cannot send them
/// (tests/run-all.sh runs those #[ignore]d tests only where it can).
fn require_frr(c: &Case) {
    if let Some(why) = frr_missing() {
        panic!("lab: {why}; .ci/install-deps test installs it");
    }
    // `checksum-with-ipv4-pseudoheader` came after FRR 8.4, which only
    // sums with the pseudo-header.
    let knows = std::fs::read(VRRPD)
        .map(|b| {
            let kw = b"checksum-with-ipv4-pseudoheader";
            b.windows(kw.len()).any(|w| w == kw)
        })
        .unwrap_or(false);
    assert!(
        c.pseudo_header || knows,
        "this vrrpd ({VRRPD}) has no `checksum-with-ipv4-pseudoheader` (FRR 8.4 always sums with the pseudo-header): tests/run-all.sh runs this #[ignore]d test only where it has"
    );
}

/// vipd (150) master, FRR (100) backup.
fn vipd_master_frr_backup(c: Case, name: &str) {
    require_frr(&c);
    let lab = Lab::new(name);
    let (r1, r2, obs) = c.net.hosts(&lab);
    let v = r1.start_vipd(&c.vipd_yaml(150));
    v.expect_state("web", "MASTER", TAKEOVER);
    let frr = Frr::start(&r2, &c, 100);
    // Election: FRR hears vipd and stays backup.
    assert!(
        frr.wait_state(&c, "Backup", 3 * SEC),
        "FRR backup:\n{}",
        frr.vrrpd.log_tail(30)
    );
    std::thread::sleep(TAKEOVER);
    assert_eq!(frr.state(&c), "Backup", "{}", frr.vrrpd.log_tail(30));
    assert_eq!(v.state("web"), "MASTER");
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");
    // vipd answered, not FRR's backup (whose macvlan keeps the VIP).
    assert_eq!(
        neighbour_mac(&obs, &c.net.addr(100)),
        Some(r1.mac("eth0")),
        "the observer sends to vipd"
    );

    // Cut link: FRR takes over.
    r1.link_down();
    assert!(
        frr.wait_state(&c, "Master", TAKEOVER),
        "FRR takes over:\n{}",
        frr.vrrpd.log_tail(30)
    );
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on FRR");

    // Preemption back.
    r1.link_up();
    v.expect_state("web", "MASTER", TAKEOVER);
    assert!(
        frr.wait_state(&c, "Backup", TAKEOVER),
        "FRR yields to vipd:\n{}",
        frr.vrrpd.log_tail(30)
    );
    assert!(obs.ping(c.net.vip(), 3));

    // Priority 0 on stop.
    let stop = Instant::now();
    v.proc.stop();
    assert!(
        frr.wait_state(&c, "Master", PRIORITY_ZERO_TAKEOVER),
        "FRR takes over on vipd's priority 0:\n{}",
        frr.vrrpd.log_tail(30)
    );
    eprintln!(
        "{name}: FRR took over {:.0} ms after vipd's stop",
        stop.elapsed().as_secs_f64() * 1000.0
    );
    assert!(obs.ping(c.net.vip(), 3));
    let log = frr.vrrpd.log();
    for bad in ["checksum", "Checksum"] {
        assert!(
            !log.lines().any(|l| l.contains(bad) && l.contains("nvalid")),
            "FRR refused an advert:\n{}",
            frr.vrrpd.log_tail(40)
        );
    }
    let _ = (&frr.zebra, &frr.dir, &frr.macvlan);
}

/// FRR (150) master, vipd (100) backup.
fn frr_master_vipd_backup(c: Case, name: &str) {
    require_frr(&c);
    let lab = Lab::new(name);
    let (r1, r2, obs) = c.net.hosts(&lab);
    let frr = Frr::start(&r1, &c, 150);
    assert!(
        frr.wait_state(&c, "Master", TAKEOVER),
        "FRR master:\n{}",
        frr.vrrpd.log_tail(30)
    );
    let v = r2.start_vipd(&c.vipd_yaml(100));
    v.expect_state("web", "BACKUP", 2 * SEC);
    std::thread::sleep(TAKEOVER);
    let st = v.instance("web");
    assert_eq!(st["state"], "BACKUP", "vipd must follow FRR: {st}");
    assert_eq!(st["master_priority"], 150);
    assert_eq!(
        st["drops"].as_object().map(|d| d.len()),
        Some(0),
        "vipd dropped FRR's adverts: {st}"
    );
    assert!(obs.ping(c.net.vip(), 3));

    r1.link_down();
    v.expect_state("web", "MASTER", TAKEOVER);
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");

    r1.link_up();
    let up = Instant::now();
    v.expect_state("web", "BACKUP", TAKEOVER);
    assert_eq!(
        v.instance("web")["last_transition"]["reason"],
        "higher_priority_master"
    );
    // FRR's vrrpd does not follow its link: it stayed Master through the
    // cut and announces nothing when the link returns, so the observer
    // reaches it once its neighbour entry for vipd's MAC fails and is
    // resolved again: up to the neighbour entry's reachable time (15-45 s
    // on Linux) plus its probes, 53 s at most (printed, not asserted to
    // be fast).
    let back = wait_until(75 * SEC, POLL, || obs.ping(c.net.vip(), 1));
    eprintln!(
        "{name}: after preemption back to FRR the observer reached the VIP again {:.1} s after the link came back; FRR's transitions: {:?}",
        up.elapsed().as_secs_f64(),
        frr.transitions(&c)
    );
    assert!(back, "observer reaches the VIP on FRR");

    let stop = Instant::now();
    frr.vrrpd.stop();
    v.expect_state("web", "MASTER", PRIORITY_ZERO_TAKEOVER);
    let st = v.instance("web");
    assert_eq!(
        st["last_transition"]["reason"], "priority_zero_seen",
        "{st}"
    );
    eprintln!(
        "{name}: vipd took over {:.0} ms after vrrpd's stop",
        stop.elapsed().as_secs_f64() * 1000.0
    );
    assert!(obs.ping(c.net.vip(), 3));
}

const V3_IPV4: Case = Case {
    version: 3,
    pseudo_header: true,
    vrid: 81,
    net: PeerNet {
        ipv6: false,
        subnet: 81,
    },
};
const V3_IPV4_MESSAGE_ONLY: Case = Case {
    version: 3,
    pseudo_header: false,
    vrid: 82,
    net: PeerNet {
        ipv6: false,
        subnet: 82,
    },
};
const V3_IPV6: Case = Case {
    version: 3,
    pseudo_header: true,
    vrid: 83,
    net: PeerNet {
        ipv6: true,
        subnet: 83,
    },
};
const V2_IPV4: Case = Case {
    version: 2,
    pseudo_header: true,
    vrid: 84,
    net: PeerNet {
        ipv6: false,
        subnet: 84,
    },
};

#[test]
fn v3_ipv4_vipd_master_frr_backup() {
    vipd_master_frr_backup(V3_IPV4, "frr_v3v4_a");
}
#[test]
fn v3_ipv4_frr_master_vipd_backup() {
    frr_master_vipd_backup(V3_IPV4, "frr_v3v4_b");
}
#[test]
#[ignore = "needs an FRR with checksum-with-ipv4-pseudoheader (not 8.4); tests/run-all.sh runs it where there is one"]
fn v3_ipv4_message_only_vipd_master_frr_backup() {
    vipd_master_frr_backup(V3_IPV4_MESSAGE_ONLY, "frr_v3mo_a");
}
#[test]
#[ignore = "needs an FRR with checksum-with-ipv4-pseudoheader (not 8.4); tests/run-all.sh runs it where there is one"]
fn v3_ipv4_message_only_frr_master_vipd_backup() {
    frr_master_vipd_backup(V3_IPV4_MESSAGE_ONLY, "frr_v3mo_b");
}
#[test]
fn v3_ipv6_vipd_master_frr_backup() {
    vipd_master_frr_backup(V3_IPV6, "frr_v3v6_a");
}
#[test]
fn v3_ipv6_frr_master_vipd_backup() {
    frr_master_vipd_backup(V3_IPV6, "frr_v3v6_b");
}
#[test]
fn v2_ipv4_vipd_master_frr_backup() {
    vipd_master_frr_backup(V2_IPV4, "frr_v2v4_a");
}
#[test]
fn v2_ipv4_frr_master_vipd_backup() {
    frr_master_vipd_backup(V2_IPV4, "frr_v2v4_b");
}

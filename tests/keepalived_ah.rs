//! VRRPv2 with `auth_type AH` between vipd and keepalived 2.2.x, both
//! directions: election, cut link failover, preemption back, priority 0 on
//! stop, an observer reaching the VIP throughout; the seed 003
//! configuration imported by `vipctl import-keepalived` and run against
//! keepalived on the other half of the same write-up; a wrong password and
//! a replayed advert dropped, counted by reason and never obeyed; and
//! tshark's decoding of vipd's AH adverts. Run as root with keepalived,
//! tshark and python3 (the replay injector) installed; a missing one fails
//! the test naming its package, as the lab does for keepalived.

mod lab;

use lab::peer::{PeerNet, import_keepalived_fixture};
use lab::vipd::Vipd;
use lab::{Frame, Lab, ProcHandle, wait_until};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const PASSWORD: &str = "s3cret";

/// One lab's addresses: 10.9.<subnet>.0/24, VIP .100.
#[derive(Clone, Copy)]
struct Case {
    vrid: u8,
    net: PeerNet,
}

impl Case {
    fn vipd_yaml(&self, priority: u8, password: &str) -> String {
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {}\n    version: 2\n    priority: {priority}\n    advert_interval: 1s\n    auth_type: ah\n    auth_pass: {password}\n    vips: [\"{}\"]\n",
            self.vrid,
            self.net.cidr(100)
        )
    }

    fn keepalived_conf(&self, priority: u8) -> String {
        format!(
            "global_defs {{\n    router_id ka\n}}\nvrrp_instance web {{\n    interface eth0\n    state BACKUP\n    virtual_router_id {}\n    priority {priority}\n    advert_int 1\n    authentication {{\n        auth_type AH\n        auth_pass {PASSWORD}\n    }}\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
            self.vrid,
            self.net.cidr(100)
        )
    }
}

/// Master-down time for a v2 backup at 1 s adverts (3 s + skew), with
/// margin for a loaded CI machine.
const TAKEOVER: Duration = Duration::from_secs(6);

/// An AH-wrapped VRRPv2 advert as seen on the wire, decoded here (not with
/// the crate under test).
#[derive(Debug, Clone)]
struct AhAdvert {
    /// Capture time (the bridge's clock, the same for every frame).
    ts: Duration,
    src: Ipv4Addr,
    ttl: u8,
    next_header: u8,
    payload_len: u8,
    spi: u32,
    seq: u32,
    vrid: u8,
    priority: u8,
    auth_type: u8,
    /// The IPv4 datagram, header included (what a replay re-sends).
    datagram: Vec<u8>,
}

fn ah_adverts(frames: &[Frame]) -> Vec<AhAdvert> {
    frames
        .iter()
        .filter_map(|f| {
            let (et, p) = f.l3()?;
            if et != 0x0800 || p.len() < 20 || p[9] != 51 {
                return None;
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            let ah = p.get(ihl..ihl + 24)?;
            let v = p.get(ihl + 24..total)?;
            Some(AhAdvert {
                ts: f.ts,
                src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
                ttl: p[8],
                next_header: ah[0],
                payload_len: ah[1],
                spi: u32::from_be_bytes(ah[4..8].try_into().unwrap()),
                seq: u32::from_be_bytes(ah[8..12].try_into().unwrap()),
                vrid: *v.get(1)?,
                priority: *v.get(2)?,
                auth_type: *v.get(4)?,
                datagram: p[..total].to_vec(),
            })
        })
        .collect()
}

/// Checks what keepalived's AH code would check on `from`'s adverts
/// besides the ICV (which keepalived verified: it followed them): AH around
/// VRRP, 96-bit ICV, SPI = source, TTL 255, sequence numbers rising.
fn assert_well_formed(adverts: &[AhAdvert], from: Ipv4Addr) {
    let ours: Vec<_> = adverts.iter().filter(|a| a.src == from).collect();
    assert!(!ours.is_empty(), "no AH adverts from {from}");
    for a in &ours {
        assert_eq!(
            (a.next_header, a.payload_len, a.ttl, a.auth_type),
            (112, 4, 255, 2),
            "{a:?}"
        );
        assert_eq!(a.spi, u32::from(from), "SPI = source: {a:?}");
    }
    for w in ours.windows(2) {
        assert!(
            w[1].seq > w[0].seq,
            "sequence numbers rise: {} then {}",
            w[0].seq,
            w[1].seq
        );
    }
}

/// From `from`'s priority 0 advert to the first advert of the router that
/// took over, on the wire.
fn handover(adverts: &[AhAdvert], from: Ipv4Addr) -> Duration {
    let zero = adverts
        .iter()
        .find(|a| a.src == from && a.priority == 0)
        .expect("a priority 0 advert");
    let next = adverts
        .iter()
        .find(|a| a.src != from && a.ts > zero.ts)
        .expect("an advert of the new master");
    next.ts - zero.ts
}

fn drops(v: &Vipd) -> serde_json::Value {
    v.instance("web")["drops"].clone()
}

fn drop_count(v: &Vipd, inst: &str, key: &str) -> u64 {
    v.instance(inst)["drops"][key].as_u64().unwrap_or(0)
}

/// keepalived found no fault in vipd's AH: no bad ICV, SPI or header. (A
/// sequence number "already processed" can happen once when a cut link
/// heals: both sides counted on alone, as two keepalived do.)
fn no_ah_complaints(ka: &ProcHandle) {
    let log = ka.log();
    for complaint in [
        "invalid IPSEC HMAC-MD5",
        "invalid IPSEC SPI",
        "AH header but auth type",
        "No AH header",
    ] {
        assert!(
            !log.contains(complaint),
            "keepalived rejected vipd's AH ({complaint}):\n{}",
            ka.log_tail(30)
        );
    }
}

/// vipd (150) master, keepalived (100) backup: keepalived follows vipd's
/// AH adverts; a cut link hands the VIP over, the restored link takes it
/// back (preemption), and vipd's stop (priority 0) hands it over at once.
#[test]
fn ah_vipd_master_keepalived_backup() {
    let c = Case {
        vrid: 61,
        net: PeerNet::v4(61),
    };
    let lab = Lab::new("ka_ah_a");
    let (r1, r2, obs) = c.net.hosts(&lab);
    let cap = lab.capture("ip proto 51 or ip proto 112");
    let v = r1.start_vipd(&c.vipd_yaml(150, PASSWORD));
    let ka = r2.start_keepalived(&c.keepalived_conf(100));
    v.expect_state("web", "MASTER", TAKEOVER);
    std::thread::sleep(TAKEOVER);
    assert_eq!(v.state("web"), "MASTER");
    assert!(
        !r2.has_addr("eth0", c.net.cidr(100)),
        "keepalived must follow vipd's AH adverts:\n{}",
        ka.log_tail(20)
    );
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");

    // Cut link: keepalived takes over.
    r1.link_down();
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER),
        "keepalived takes over:\n{}",
        ka.log_tail(20)
    );
    assert!(
        obs.ping(c.net.vip(), 3),
        "observer reaches the VIP on keepalived"
    );

    // Link back: vipd (higher priority) preempts, keepalived accepts its
    // sequence numbers and steps down.
    r1.link_up();
    v.expect_state("web", "MASTER", TAKEOVER);
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), false, TAKEOVER),
        "keepalived gives the VIP back:\n{}",
        ka.log_tail(20)
    );
    assert!(
        obs.ping(c.net.vip(), 3),
        "observer reaches the VIP on vipd again"
    );
    let st = v.instance("web");
    assert!(st["adverts_received"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(
        st["drops"].as_object().map(|d| d.len()),
        Some(0),
        "vipd dropped keepalived's AH adverts: {st}"
    );

    // Stop: priority 0, keepalived takes over well before master-down.
    let stopped = std::time::Instant::now();
    v.proc.stop();
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), true, Duration::from_millis(2500)),
        "keepalived takes over on vipd's priority 0:\n{}",
        ka.log_tail(20)
    );
    let took = stopped.elapsed();
    assert!(obs.ping(c.net.vip(), 3));

    let pcap = cap.path().to_path_buf();
    let frames = cap.stop();
    let adverts = ah_adverts(&frames);
    let r1_addr: Ipv4Addr = c.net.addr(1).parse().unwrap();
    assert_well_formed(&adverts, r1_addr);
    assert!(
        adverts.iter().any(|a| a.src == r1_addr && a.priority == 0),
        "vipd's priority 0 advert on stop"
    );
    assert!(
        adverts
            .iter()
            .filter(|a| a.src == r1_addr)
            .all(|a| a.vrid == c.vrid),
        "VRID"
    );
    no_ah_complaints(&ka);
    println!(
        "vipd master / keepalived backup: {} AH adverts from vipd, {} from keepalived; vipd's priority 0 -> keepalived's first advert {:?} on the wire (VIP on keepalived {took:?} after SIGTERM)",
        adverts.iter().filter(|a| a.src == r1_addr).count(),
        adverts.iter().filter(|a| a.src != r1_addr).count(),
        handover(&adverts, r1_addr)
    );

    tshark_decodes(&pcap, r1_addr);
}

/// keepalived (150) master, vipd (100) backup: vipd follows keepalived's AH
/// adverts; a cut link hands the VIP to vipd, the restored link takes it
/// back (keepalived accepts vipd's sequence numbers, then vipd its), and
/// keepalived's stop (priority 0) hands it to vipd at once.
#[test]
fn ah_keepalived_master_vipd_backup() {
    let c = Case {
        vrid: 62,
        net: PeerNet::v4(62),
    };
    let lab = Lab::new("ka_ah_b");
    let (r1, r2, obs) = c.net.hosts(&lab);
    let cap = lab.capture("ip proto 51 or ip proto 112");
    let ka = r1.start_keepalived(&c.keepalived_conf(150));
    assert!(
        r1.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER),
        "keepalived master:\n{}",
        ka.log_tail(20)
    );
    let v = r2.start_vipd(&c.vipd_yaml(100, PASSWORD));
    v.expect_state("web", "BACKUP", 2 * SEC);
    std::thread::sleep(TAKEOVER);
    let st = v.instance("web");
    assert_eq!(
        st["state"],
        "BACKUP",
        "vipd must follow keepalived: {st}\n{}",
        v.proc.log_tail(20)
    );
    assert_eq!(st["master_priority"], 150);
    assert!(st["adverts_received"].as_u64().unwrap() > 0);
    assert_eq!(
        st["drops"].as_object().map(|d| d.len()),
        Some(0),
        "vipd dropped keepalived's AH adverts: {st}"
    );
    assert!(!r2.has_addr("eth0", c.net.cidr(100)));
    assert!(obs.ping(c.net.vip(), 3));

    r1.link_down();
    v.expect_state("web", "MASTER", TAKEOVER);
    assert!(r2.wait_addr("eth0", c.net.cidr(100), true, SEC));
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");

    r1.link_up();
    v.expect_state("web", "BACKUP", TAKEOVER);
    assert!(
        r1.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER),
        "keepalived preempts back:\n{}",
        ka.log_tail(20)
    );
    assert!(r2.wait_addr("eth0", c.net.cidr(100), false, SEC));
    assert!(
        obs.ping(c.net.vip(), 3),
        "observer reaches the VIP on keepalived"
    );

    let stopped = std::time::Instant::now();
    ka.stop();
    v.expect_state("web", "MASTER", Duration::from_millis(2500));
    let took = stopped.elapsed();
    assert!(obs.ping(c.net.vip(), 3));
    let st = v.instance("web");
    assert_eq!(
        st["drops"].as_object().map(|d| d.len()),
        Some(0),
        "vipd dropped keepalived's AH adverts: {st}"
    );

    let adverts = ah_adverts(&cap.stop());
    let r2_addr: Ipv4Addr = c.net.addr(2).parse().unwrap();
    assert_well_formed(&adverts, r2_addr);
    let r1_addr: Ipv4Addr = c.net.addr(1).parse().unwrap();
    assert!(
        adverts.iter().any(|a| a.src == r1_addr && a.priority == 0),
        "keepalived's priority 0 advert on stop"
    );
    no_ah_complaints(&ka);
    println!(
        "keepalived master / vipd backup: keepalived's priority 0 -> vipd's first advert {:?} on the wire (vipd MASTER {took:?} after SIGTERM, keepalived's exit included)",
        handover(&adverts, r1_addr)
    );
}

/// Unicast AH (keepalived zeroes the TTL in the ICV there, as a router on
/// the way may change it): vipd (150) and keepalived (100) each name the
/// other as their only peer; keepalived follows vipd, vipd's stop hands
/// the VIP over, and the restarted vipd follows keepalived's adverts until
/// it preempts.
#[test]
fn ah_unicast_vipd_master_keepalived_backup() {
    let c = Case {
        vrid: 67,
        net: PeerNet::v4(67),
    };
    let lab = Lab::new("ka_ah_uni");
    let (r1, r2, obs) = c.net.hosts(&lab);
    let cap = lab.capture("ip proto 51 or ip proto 112");
    let yaml =
        c.vipd_yaml(150, PASSWORD) + &format!("    unicast: {{peers: [{}]}}\n", c.net.addr(2));
    let conf = c.keepalived_conf(100).replace(
        "    advert_int 1\n",
        &format!(
            "    advert_int 1\n    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
            c.net.addr(2),
            c.net.addr(1)
        ),
    );
    let v = r1.start_vipd(&yaml);
    let ka = r2.start_keepalived(&conf);
    v.expect_state("web", "MASTER", TAKEOVER);
    std::thread::sleep(TAKEOVER);
    assert_eq!(v.state("web"), "MASTER");
    assert!(
        !r2.has_addr("eth0", c.net.cidr(100)),
        "keepalived must follow vipd's unicast AH adverts:\n{}",
        ka.log_tail(20)
    );
    assert!(obs.ping(c.net.vip(), 3));
    v.proc.stop();
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), true, Duration::from_millis(2500)),
        "keepalived takes over on vipd's priority 0:\n{}",
        ka.log_tail(20)
    );
    assert!(obs.ping(c.net.vip(), 3));

    // vipd restarts (its counter from 0): it verifies keepalived's unicast
    // AH adverts (TTL zeroed in their ICV), takes their sequence numbers
    // over, and preempts with numbers keepalived accepts.
    drop(v);
    let v = r1.start_vipd(&yaml);
    // Same log file and socket path as the first run: wait for the new one.
    assert!(wait_until(5 * SEC, Duration::from_millis(50), || v
        .vipctl(&["status", "--json"])
        .status
        .success()));
    v.expect_state("web", "MASTER", TAKEOVER);
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), false, TAKEOVER),
        "keepalived steps down for the restarted vipd:\n{}",
        ka.log_tail(20)
    );
    let st = v.instance("web");
    assert!(
        st["adverts_received"].as_u64().unwrap() > 0,
        "vipd heard keepalived's unicast AH adverts: {st}"
    );
    assert_eq!(st["drops"].as_object().map(|d| d.len()), Some(0), "{st}");
    assert!(obs.ping(c.net.vip(), 3));

    let adverts = ah_adverts(&cap.stop());
    let r1_addr: Ipv4Addr = c.net.addr(1).parse().unwrap();
    assert_well_formed(&adverts, r1_addr);
    assert!(
        adverts
            .iter()
            .filter(|a| a.src == r1_addr)
            .all(|a| a.datagram[16..20] == c.net.addr(2).parse::<Ipv4Addr>().unwrap().octets()),
        "unicast to the peer"
    );
    no_ah_complaints(&ka);
}

/// Migrating a vipd from `auth_type: pass` to `ah` next to a keepalived AH
/// group by reload: before, vipd hears nothing it accepts (keepalived's
/// adverts are AH, protocol 51) and both are master; after `vipctl reload`
/// (an in-place update that opens the AH socket), vipd follows keepalived.
#[test]
fn reload_from_pass_to_ah_joins_the_group() {
    let c = Case {
        vrid: 68,
        net: PeerNet::v4(68),
    };
    let lab = Lab::new("ka_ah_reload");
    let (r1, r2, obs) = c.net.hosts(&lab);
    let ka = r1.start_keepalived(&c.keepalived_conf(150));
    assert!(r1.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER));
    let ah = c.vipd_yaml(100, PASSWORD);
    let v = r2.start_vipd(&ah.replace("auth_type: ah", "auth_type: pass"));
    v.expect_state("web", "MASTER", TAKEOVER);
    // Split: keepalived listens on protocol 51 only and never sees vipd's
    // plain adverts either.
    assert!(r1.has_addr("eth0", c.net.cidr(100)) && r2.has_addr("eth0", c.net.cidr(100)));
    assert_eq!(v.instance("web")["adverts_received"], 0);

    v.rewrite_config(&ah);
    let out = v.vipctl(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 updated in place") && text.contains("auth_type"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v.expect_state("web", "BACKUP", TAKEOVER);
    assert!(r2.wait_addr("eth0", c.net.cidr(100), false, SEC));
    let received = v.instance("web")["adverts_received"].as_u64().unwrap();
    std::thread::sleep(3 * SEC);
    let st = v.instance("web");
    assert_eq!(st["state"], "BACKUP", "{st}");
    assert!(st["adverts_received"].as_u64().unwrap() > received, "{st}");
    assert!(r1.has_addr("eth0", c.net.cidr(100)));
    assert!(obs.ping(c.net.vip(), 3));
    no_ah_complaints(&ka);
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keepalived")
            .join(name),
    )
    .unwrap()
}

/// Seed 003 as its operator wrote it: one half of the write-up imported by
/// `vipctl import-keepalived` and run by vipd, the other half run by
/// keepalived, both ways round. The higher priority (the notes' MASTER,
/// 100 over 99) wins whichever program runs it, and the observer reaches
/// 1.2.3.4 on the winner.
#[test]
fn seed003_imported_ah_against_keepalived() {
    let vip: IpAddr = "1.2.3.4".parse().unwrap();
    for (round, vipd_half, ka_half, vipd_wins) in [
        (0u8, "seed003_backup.conf", "seed003_master.conf", false),
        (1u8, "seed003_master.conf", "seed003_backup.conf", true),
    ] {
        let yaml = import_keepalived_fixture(vipd_half);
        assert!(
            yaml.contains("auth_type: ah") && yaml.contains("auth_pass: '12345678'"),
            "{vipd_half}: AH carried over:\n{yaml}"
        );
        let lab = Lab::new(&format!("seed003ah{round}"));
        let subnet = 63 + round;
        let (a, b) = (format!("10.9.{subnet}.1/24"), format!("10.9.{subnet}.2/24"));
        let hv = lab.add_host("v", &[&a]);
        let hk = lab.add_host("k", &[&b]);
        let obs = lab.add_host("obs", &[&format!("10.9.{subnet}.200/24")]);
        obs.sh_ok("ip route add 1.2.3.4/32 dev eth0");
        // keepalived -t exits 5 on the MASTER half ("Initial state master
        // is incompatible with AH authentication - clearing"), then runs it.
        let ka = hk.start_keepalived_unchecked(&fixture(ka_half));
        let v = hv.start_vipd(&yaml);
        let (winner, loser) = if vipd_wins { (&hv, &hk) } else { (&hk, &hv) };
        assert!(
            winner.wait_addr("eth0", "1.2.3.4/32", true, 2 * TAKEOVER),
            "{vipd_half} on vipd / {ka_half} on keepalived: the higher priority holds 1.2.3.4\nvipd: {}\n{}\nkeepalived:\n{}",
            v.instance("DIENST1"),
            v.proc.log_tail(20),
            ka.log_tail(20)
        );
        std::thread::sleep(TAKEOVER);
        assert!(winner.has_addr("eth0", "1.2.3.4/32"));
        assert!(
            !loser.has_addr("eth0", "1.2.3.4/32"),
            "only one master:\nvipd: {}\nkeepalived:\n{}",
            v.instance("DIENST1"),
            ka.log_tail(20)
        );
        let st = v.instance("DIENST1");
        assert_eq!(
            st["state"],
            if vipd_wins { "MASTER" } else { "BACKUP" },
            "{st}"
        );
        assert_eq!(
            st["drops"].as_object().map(|d| d.len()),
            Some(0),
            "vipd dropped keepalived's adverts: {st}"
        );
        assert!(obs.ping(vip, 3), "observer reaches 1.2.3.4");
        no_ah_complaints(&ka);
    }
}

/// A vipd with another password hears keepalived's higher-priority AH
/// adverts, drops every one as `ah_icv_mismatch` and never follows them.
#[test]
fn wrong_password_is_dropped_and_counted() {
    let c = Case {
        vrid: 65,
        net: PeerNet::v4(65),
    };
    let lab = Lab::new("ka_ah_pw");
    let (r1, r2, _obs) = c.net.hosts(&lab);
    let ka = r1.start_keepalived(&c.keepalived_conf(150));
    assert!(r1.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER));
    let cap = r2.capture("ip proto 51");
    let v = r2.start_vipd(&c.vipd_yaml(100, "wrong"));
    // Never obeyed: vipd hears nothing valid, so it becomes master itself
    // (a misconfigured group splits, as two keepalived would).
    v.expect_state("web", "MASTER", TAKEOVER);
    std::thread::sleep(3 * SEC);
    let st = v.instance("web");
    assert_eq!(st["state"], "MASTER", "{st}");
    assert_eq!(st["adverts_received"], 0, "nothing accepted: {st}");
    let bad = drop_count(&v, "web", "ah_icv_mismatch");
    let r1_addr: Ipv4Addr = c.net.addr(1).parse().unwrap();
    let sent = ah_adverts(&cap.frames())
        .iter()
        .filter(|a| a.src == r1_addr)
        .count() as u64;
    // Every advert of keepalived that reached vipd's port is counted (one
    // may be on the wire while the status is read). keepalived 2.2.7 stops
    // advertising while it receives an invalid advert every second (its
    // master timer restarts on each packet read), so there are few.
    assert!(
        bad >= 3 && bad + 1 >= sent && bad <= sent,
        "every advert counted as ah_icv_mismatch: {bad} of {sent} sent: {st}"
    );
    assert_eq!(
        drops(&v).as_object().map(|d| d.len()),
        Some(1),
        "and nothing else: {st}"
    );
    // keepalived, for its part, rejects vipd's adverts.
    assert!(
        ka.wait_for_log("IPSEC-AH : invalid", 3 * SEC),
        "keepalived must reject the wrong ICV too:\n{}",
        ka.log_tail(20)
    );
    // `vipctl status` shows the reason.
    let text = v.vipctl(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("ah_icv_mismatch"), "{text}");
    println!("wrong password: {bad} of keepalived's {sent} adverts dropped as ah_icv_mismatch");
}

/// keepalived's captured AH advert (priority 150) re-sent after keepalived
/// stopped and vipd (100) took over: dropped as `ah_replay`, and vipd stays
/// master although the advert outranks it.
#[test]
fn replayed_advert_is_dropped_and_counted() {
    let python = which("python3").expect(
        "lab: python3 (the packet injector) not found (Debian: apt-get install python3; .ci/install-deps does)",
    );
    let c = Case {
        vrid: 66,
        net: PeerNet::v4(66),
    };
    let lab = Lab::new("ka_ah_replay");
    let (r1, r2, obs) = c.net.hosts(&lab);
    let cap = lab.capture("ip proto 51");
    let ka = r1.start_keepalived(&c.keepalived_conf(150));
    assert!(r1.wait_addr("eth0", c.net.cidr(100), true, TAKEOVER));
    let v = r2.start_vipd(&c.vipd_yaml(100, PASSWORD));
    v.expect_state("web", "BACKUP", 2 * SEC);
    std::thread::sleep(3 * SEC);
    assert_eq!(v.state("web"), "BACKUP");
    let received = v.instance("web")["adverts_received"].as_u64().unwrap();
    assert!(received > 0);

    // A real advert of the master, as captured.
    let r1_addr: Ipv4Addr = c.net.addr(1).parse().unwrap();
    let captured = ah_adverts(&cap.frames())
        .into_iter()
        .rfind(|a| a.src == r1_addr && a.priority == 150)
        .expect("a captured keepalived advert");

    ka.stop();
    v.expect_state("web", "MASTER", 3 * SEC);
    let received = v.instance("web")["adverts_received"].as_u64().unwrap();

    // Re-sent from the observer, spoofing keepalived's address, ten times
    // over five seconds: more than vipd's master-down interval.
    let file = lab.tmpdir().join("replay.bin");
    std::fs::write(&file, &captured.datagram).unwrap();
    let inject = "import socket, sys, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')\n\
         d = open(sys.argv[1], 'rb').read()\n\
         for _ in range(10):\n    s.sendto(d, ('224.0.0.18', 0))\n    time.sleep(0.5)\n";
    let out = obs.exec(&[&python, "-c", inject, file.to_str().unwrap()]);
    assert!(out.status.success(), "injector: {out:?}");

    let st = v.instance("web");
    assert_eq!(st["state"], "MASTER", "a replay is never obeyed: {st}");
    assert!(r2.has_addr("eth0", c.net.cidr(100)));
    assert_eq!(
        st["adverts_received"].as_u64().unwrap(),
        received,
        "nothing accepted: {st}"
    );
    assert!(
        wait_until(SEC, Duration::from_millis(50), || drop_count(
            &v,
            "web",
            "ah_replay"
        ) >= 10),
        "each replay counted as ah_replay: {}",
        v.instance("web")
    );
    assert_eq!(drop_count(&v, "web", "ah_replay"), 10);
    let text = v.vipctl(&["status"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("ah_replay"));
    println!(
        "replay: keepalived's advert seq {} re-sent 10 times, 10 dropped as ah_replay",
        captured.seq
    );
}

fn which(tool: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !p.is_empty()).then_some(p)
}

/// `tshark -V` on vipd's AH adverts: AH and VRRP decoded, no malformed
/// packet, the VRRP checksum correct (tshark cannot check the ICV without
/// the key).
fn tshark_decodes(pcap: &Path, from: Ipv4Addr) {
    let tshark = which("tshark")
        .expect("lab: tshark not found (Debian: apt-get install tshark; .ci/install-deps does)");
    let out = Command::new(&tshark)
        .args(["-r", pcap.to_str().unwrap(), "-V", "-Y"])
        .arg(format!("ip.src == {from} && ah"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tshark failed: {out:?}");
    assert!(text.contains("Authentication Header"), "{text}");
    assert!(text.contains("Next header: VRRP (112)"), "{text}");
    assert!(text.contains("Length: 4 (24 bytes)"), "{text}");
    assert!(
        text.contains(&format!("AH SPI: 0x{:08x}", u32::from(from))),
        "SPI = source: {text}"
    );
    assert!(
        text.contains("Virtual Router Redundancy Protocol"),
        "{text}"
    );
    assert!(
        text.contains("Auth Type: IP Authentication Header"),
        "{text}"
    );
    assert!(text.contains("[correct]"), "VRRP checksum: {text}");
    for bad in [
        "Malformed",
        "[incorrect",
        "Expert Info (Warn",
        "Expert Info (Error",
    ] {
        assert!(!text.contains(bad), "tshark reports {bad}:\n{text}");
    }
    let n = text.matches("Authentication Header\n").count();
    println!("tshark -V decoded {n} of vipd's AH adverts without a warning");
}

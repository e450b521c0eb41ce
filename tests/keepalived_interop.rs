//! vipd and keepalived 2.2.x in one VRRP group, both directions: the right
//! side wins the election, a cut link fails over, and an observer keeps
//! reaching the VIP. Run as root with keepalived installed.

mod lab;

use lab::Lab;
use lab::capture::vrrp_packets;
use lab::peer::PeerNet;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

#[derive(Clone, Copy)]
struct Case {
    version: u8,
    /// Advert interval in centiseconds.
    interval_cs: u16,
    vrid: u8,
    net: PeerNet,
}

impl Case {
    fn vipd_yaml(&self, priority: u8) -> String {
        let auth = if self.version == 2 {
            "    auth_pass: s3cret\n"
        } else {
            ""
        };
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {}\n    version: {}\n    priority: {priority}\n    advert_interval: {}ms\n    vips: [\"{}\"]\n{auth}",
            self.vrid,
            self.version,
            u32::from(self.interval_cs) * 10,
            self.net.cidr(100)
        )
    }

    fn keepalived_conf(&self, priority: u8) -> String {
        let auth = if self.version == 2 {
            "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n"
        } else {
            ""
        };
        let interval = f64::from(self.interval_cs) / 100.0;
        format!(
            "global_defs {{\n    router_id ka\n    vrrp_version {}\n}}\nvrrp_instance web {{\n    interface eth0\n    state BACKUP\n    virtual_router_id {}\n    priority {priority}\n    advert_int {interval}\n{auth}    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
            self.version,
            self.vrid,
            self.net.cidr(100)
        )
    }
}

/// Master-down time for the backup, with margin for a loaded CI machine.
fn takeover_budget(c: &Case) -> Duration {
    Duration::from_millis(u64::from(c.interval_cs) * 10 * 4) + 2 * SEC
}

/// vipd (priority 150) against keepalived (100): vipd is master; cutting
/// vipd's link hands the VIP to keepalived.
fn vipd_master_keepalived_backup(c: Case, name: &str) {
    let lab = Lab::new(name);
    let (r1, r2, obs) = c.net.hosts(&lab);
    let cap = lab.capture("");
    let v = r1.start_vipd(&c.vipd_yaml(150));
    let _ka = r2.start_keepalived(&c.keepalived_conf(100));
    v.expect_state("web", "MASTER", takeover_budget(&c) + 2 * SEC);
    // keepalived heard us and stays backup: it never holds the VIP.
    std::thread::sleep(takeover_budget(&c));
    assert_eq!(v.state("web"), "MASTER");
    assert!(r1.has_addr("eth0", c.net.cidr(100)));
    assert!(
        !r2.has_addr("eth0", c.net.cidr(100)),
        "keepalived must stay backup:\n{}",
        _ka.log_tail(20)
    );
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");

    r1.link_down();
    assert!(
        r2.wait_addr("eth0", c.net.cidr(100), true, takeover_budget(&c)),
        "keepalived takes over:\n{}",
        _ka.log_tail(20)
    );
    assert!(
        obs.ping(c.net.vip(), 3),
        "observer reaches the VIP on keepalived"
    );

    // keepalived accepted vipd's adverts: they were well-formed for it.
    let pkts = vrrp_packets(&cap.stop());
    let ours: Vec<_> = pkts.iter().filter(|p| p.priority == 150).collect();
    assert!(!ours.is_empty());
    assert!(
        ours.iter()
            .all(|p| p.checksum_ok && p.version == c.version && p.ttl == 255)
    );
    assert!(
        !_ka.log().contains("invalid"),
        "keepalived complained:\n{}",
        _ka.log_tail(30)
    );
}

/// keepalived (150) against vipd (100): vipd is backup and follows the
/// master; cutting keepalived's link hands the VIP to vipd.
fn keepalived_master_vipd_backup(c: Case, name: &str) {
    let lab = Lab::new(name);
    let (r1, r2, obs) = c.net.hosts(&lab);
    let ka = r1.start_keepalived(&c.keepalived_conf(150));
    assert!(
        r1.wait_addr("eth0", c.net.cidr(100), true, takeover_budget(&c) + 3 * SEC),
        "keepalived master:\n{}",
        ka.log_tail(20)
    );
    let v = r2.start_vipd(&c.vipd_yaml(100));
    v.expect_state("web", "BACKUP", 2 * SEC);
    std::thread::sleep(takeover_budget(&c));
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
        "vipd dropped keepalived's adverts: {st}"
    );
    assert!(!r2.has_addr("eth0", c.net.cidr(100)));
    assert!(obs.ping(c.net.vip(), 3));

    r1.link_down();
    v.expect_state("web", "MASTER", takeover_budget(&c));
    assert!(r2.wait_addr("eth0", c.net.cidr(100), true, SEC));
    assert!(obs.ping(c.net.vip(), 3), "observer reaches the VIP on vipd");
}

const V2_IPV4: Case = Case {
    version: 2,
    interval_cs: 100,
    vrid: 41,
    net: PeerNet {
        ipv6: false,
        subnet: 41,
    },
};
const V3_IPV4: Case = Case {
    version: 3,
    interval_cs: 10,
    vrid: 42,
    net: PeerNet {
        ipv6: false,
        subnet: 42,
    },
};
const V3_IPV6: Case = Case {
    version: 3,
    interval_cs: 10,
    vrid: 43,
    net: PeerNet {
        ipv6: true,
        subnet: 43,
    },
};

#[test]
fn v2_ipv4_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup(V2_IPV4, "ka_v2v4_a");
}
#[test]
fn v2_ipv4_keepalived_master_vipd_backup() {
    keepalived_master_vipd_backup(V2_IPV4, "ka_v2v4_b");
}
#[test]
fn v3_ipv4_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup(V3_IPV4, "ka_v3v4_a");
}
#[test]
fn v3_ipv4_keepalived_master_vipd_backup() {
    keepalived_master_vipd_backup(V3_IPV4, "ka_v3v4_b");
}
#[test]
fn v3_ipv6_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup(V3_IPV6, "ka_v3v6_a");
}
#[test]
fn v3_ipv6_keepalived_master_vipd_backup() {
    keepalived_master_vipd_backup(V3_IPV6, "ka_v3v6_b");
}

//! vipd on real systemd-networkd hosts: the triggers that purge a VIP
//! (reconfigure, reload after an edit, networkd restart, `ip addr flush`,
//! netplan's generate + reload) are repeated on the master while an
//! observer pings the VIP every 10 ms. After each one the VIP is on the
//! master and neither router changed role. Run as root.

mod lab;

use lab::networkd::Networkd;
use lab::vipd::{Vipd, vipd_bin};
use lab::{Host, Lab, wait_until};
use std::net::IpAddr;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const REPEAT: usize = 10;

fn static_network(addr: &str) -> String {
    format!(
        "[Match]\nName=eth0\n\n[Network]\nAddress={addr}\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n"
    )
}

fn vipd_yaml(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 70\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [10.9.70.100/24]\n"
    )
}

/// Starts vipd inside the host's networkd mount namespace, so it reaches
/// that namespace's D-Bus.
fn start_vipd_in(nd: &Networkd, h: &Host, yaml: &str) -> Vipd {
    let dir = h.tmpdir();
    let config = dir.join(format!("vipd-{}.yaml", h.name));
    let socket = dir.join(format!("vipd-{}.sock", h.name));
    std::fs::write(&config, yaml).unwrap();
    let proc = nd.spawn(
        &[
            vipd_bin(),
            "--config",
            config.to_str().unwrap(),
            "--control-socket",
            socket.to_str().unwrap(),
            "--log-level",
            "debug",
        ],
        dir.join(format!("vipd-{}.log", h.name)),
    );
    assert!(
        proc.wait_for_log("vipd started", 10 * SEC),
        "{}",
        proc.log_tail(30)
    );
    Vipd {
        proc,
        socket,
        config,
        host: h.clone(),
    }
}

struct Pair {
    _lab: Lab,
    r1: Host,
    nd1: Networkd,
    v1: Vipd,
    v2: Vipd,
    _nd2: Networkd,
    obs: Host,
}

fn pair(name: &str) -> Pair {
    let lab = Lab::new(name);
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &[]);
    let obs = lab.add_host("obs", &["10.9.70.200/24"]);
    let nd1 = r1.start_networkd(&[("10-eth0.network", &static_network("10.9.70.1/24"))]);
    let nd2 = r2.start_networkd(&[("10-eth0.network", &static_network("10.9.70.2/24"))]);
    let v1 = start_vipd_in(&nd1, &r1, &vipd_yaml(150));
    let v2 = start_vipd_in(&nd2, &r2, &vipd_yaml(100));
    v1.expect_state("web", "MASTER", 3 * SEC);
    v2.expect_state("web", "BACKUP", 3 * SEC);
    Pair {
        _lab: lab,
        r1,
        nd1,
        v1,
        v2,
        _nd2: nd2,
        obs,
    }
}

impl Pair {
    /// Runs `trigger` REPEAT times on the master; after each, the VIP must be
    /// back on r1 and no router may have changed role.
    fn survive(&self, what: &str, mut trigger: impl FnMut(usize)) {
        let vip: IpAddr = "10.9.70.100".parse().unwrap();
        let observer = self.obs.ping_observer(vip, 10);
        assert!(
            observer.wait_replies(5, 3 * SEC),
            "observer reaches the VIP before {what}"
        );
        for i in 0..REPEAT {
            trigger(i);
            let back = wait_until(2 * SEC, Duration::from_millis(5), || {
                self.r1.has_addr("eth0", "10.9.70.100/24")
            });
            assert!(
                back,
                "{what} #{i}: VIP not back on the master\n{}",
                self.v1.proc.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let stats = observer.stop();
        let s1 = self.v1.instance("web");
        let s2 = self.v2.instance("web");
        assert_eq!(s1["state"], "MASTER", "{what}: {s1}");
        assert_eq!(
            s1["became_master"], 1,
            "{what}: the master never left: {s1}"
        );
        assert_eq!(
            s2["became_master"], 0,
            "{what}: the backup never took over: {s2}"
        );
        assert_eq!(s2["state"], "BACKUP");
        eprintln!(
            "{what} x{REPEAT}: observer {} / {} replies, longest gap {:?}, VIPs restored so far {}",
            stats.received, stats.sent, stats.longest_gap, s1["vips_restored"]
        );
    }
}

#[test]
fn vip_survives_networkd_triggers_without_role_change() {
    let p = pair("nd_triggers");
    // networkd is followed over D-Bus inside the namespace.
    assert!(
        wait_until(
            10 * SEC,
            Duration::from_millis(100),
            || p.v1.status()["networkd"] == "connected"
        ),
        "{}",
        p.v1.status()
    );
    let view = &p.v1.instance("web")["networkd"];
    assert_eq!(view["administrative_state"], "configured", "{view}");

    p.survive("networkctl reconfigure", |_| {
        p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
        // Let networkd finish before the next round.
        p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
    });
    p.survive("edit .network + networkctl reload", |i| {
        p.nd1.write_file(
            "/etc/systemd/network/10-eth0.network",
            &format!("# edit {i}\n{}", static_network("10.9.70.1/24")),
        );
        p.nd1.networkctl_ok(&["reload"]);
        p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
    });
    p.survive("systemd-networkd restart", |_| {
        p.nd1.restart();
        p.nd1.wait_state("eth0", &["configured"], 10 * SEC);
    });
    p.survive("ip addr flush dev eth0", |_| {
        p.r1.exec_ok(&["ip", "addr", "flush", "dev", "eth0"]);
        // networkd puts its own address back on reconfigure.
        p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
        p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
    });
    let netplan = "network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [10.9.70.1/24]\n      link-local: [ipv6]\n";
    p.survive("netplan generate + networkctl reload/reconfigure", |_| {
        p.nd1.apply_netplan(netplan);
        p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
    });
    let restored = p.v1.instance("web")["vips_restored"].as_u64().unwrap();
    assert!(
        restored >= 10,
        "networkd did purge the VIP and vipd restored it ({restored} times)"
    );
}

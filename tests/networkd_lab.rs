//! vipd on real systemd-networkd hosts: the triggers that purge a VIP
//! (reconfigure, reload after an edit, networkd restart, `ip addr flush`,
//! netplan's generate + reload) are repeated on the master while an
//! observer probes the VIP every 10 ms (`vipctl probe`). After each one the
//! VIP is on the master and neither router changed role. Run as root.

mod lab;

use lab::networkd::{Networkd, logged_link_transitions, setup_rank};
use lab::vipd::{Vipd, vipctl_bin};
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

/// `top` goes before `instances:`, `extra` at the end of the instance.
fn vipd_yaml_with(priority: u8, top: &str, extra: &str) -> String {
    format!(
        "{top}instances:\n  - name: web\n    interface: eth0\n    vrid: 70\n    priority: {priority}\n    advert_interval: 1s\n    vips: [10.9.70.100/24]\n{extra}"
    )
}

struct Pair {
    lab: Lab,
    lab_dhcp: Option<lab::ProcHandle>,
    r1: Host,
    nd1: Networkd,
    v1: Vipd,
    v2: Vipd,
    _nd2: Networkd,
    obs: Host,
}

fn pair(name: &str) -> Pair {
    pair_with(
        name,
        &static_network("10.9.70.1/24"),
        &static_network("10.9.70.2/24"),
        "",
        "",
        None,
        false,
    )
}

/// Two routers with their own networkd (`net1`, `net2` as eth0's .network)
/// running vipd with `top`/`extra` YAML, and an observer; `dhcp` starts a
/// DHCP server on the bridge first, with these extra dnsmasq arguments.
fn pair_with(
    name: &str,
    net1: &str,
    net2: &str,
    top: &str,
    extra: &str,
    dhcp: Option<&[&str]>,
    preinstall: bool,
) -> Pair {
    let lab = Lab::new(name);
    let lab_dhcp =
        dhcp.map(|args| lab.start_dhcp_with("10.9.70.254/24", "10.9.70.10,10.9.70.50", 120, args));
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &[]);
    let obs = lab.add_host("obs", &["10.9.70.200/24"]);
    let nd1 = r1.start_networkd(&[("10-eth0.network", net1)]);
    let nd2 = r2.start_networkd(&[("10-eth0.network", net2)]);
    if preinstall {
        // Production order: the files first (`vipctl networkd install`, as a
        // package or the operator would), networkd creates the VIP devices,
        // then vipd starts and finds them.
        for (nd, h, prio) in [(&nd1, &r1, 150), (&nd2, &r2, 100)] {
            let cfg = h.tmpdir().join(format!("preinstall-{}.yaml", h.name));
            std::fs::write(&cfg, vipd_yaml_with(prio, top, extra)).unwrap();
            let out = nd.exec(&[
                vipctl_bin(),
                "networkd",
                "install",
                "--config",
                cfg.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            nd.networkctl_ok(&["reconfigure", "eth0"]);
        }
    }
    let v1 = nd1.start_vipd(&vipd_yaml_with(150, top, extra));
    let v2 = nd2.start_vipd(&vipd_yaml_with(100, top, extra));
    v1.expect_state("web", "MASTER", 8 * SEC);
    v2.expect_state("web", "BACKUP", 5 * SEC);
    Pair {
        lab,
        lab_dhcp,
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
    fn survive(&self, what: &str, trigger: impl FnMut(usize)) {
        self.survive_on("eth0", what, trigger)
    }

    fn survive_on(&self, dev: &str, what: &str, mut trigger: impl FnMut(usize)) {
        let vip: IpAddr = "10.9.70.100".parse().unwrap();
        // Role counters before the triggers (startup may have flipped once
        // while the routers came up one after the other).
        let (b1, b2) = (self.v1.instance("web"), self.v2.instance("web"));
        assert_eq!(
            (b1["state"].as_str(), b2["state"].as_str()),
            (Some("MASTER"), Some("BACKUP")),
            "{what}"
        );
        let observer = self.obs.probe_observer(vip, 10);
        assert!(
            observer.wait_replies(5, 3 * SEC),
            "observer reaches the VIP before {what}"
        );
        for i in 0..REPEAT {
            trigger(i);
            let back = wait_until(2 * SEC, Duration::from_millis(5), || {
                self.r1.has_addr(dev, "10.9.70.100/24")
            });
            assert!(
                back,
                "{what} #{i}: VIP not back on the master\n{}\n{}",
                self.r1.exec_ok(&["ip", "-o", "addr"]),
                self.v1.proc.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let stats = observer.stop();
        let s1 = self.v1.instance("web");
        let s2 = self.v2.instance("web");
        assert_eq!(s1["state"], "MASTER", "{what}: {s1}");
        assert_eq!(
            s1["became_master"], b1["became_master"],
            "{what}: the master never left: {s1}"
        );
        assert_eq!(
            s1["last_transition"], b1["last_transition"],
            "{what}: no transition on the master: {s1}"
        );
        assert_eq!(
            s2["became_master"], b2["became_master"],
            "{what}: the backup never took over: {s2}"
        );
        assert_eq!(
            s2["last_transition"], b2["last_transition"],
            "{what}: no transition on the backup: {s2}"
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

#[test]
fn generated_keepconfiguration_keeps_the_vip_so_nothing_needs_restoring() {
    let p = pair_with(
        "nd_keep",
        &static_network("10.9.70.1/24"),
        &static_network("10.9.70.2/24"),
        "networkd: {manage_files: true}\n",
        "",
        None,
        false,
    );
    let dropin = "/etc/systemd/network/10-eth0.network.d/50-vipd.conf";
    assert!(
        wait_until(5 * SEC, Duration::from_millis(50), || p
            .nd1
            .read_file(dropin)
            .contains("KeepConfiguration=static")),
        "vipd wrote the drop-in at start:\n{}",
        p.v1.proc.log_tail(20)
    );
    assert!(
        p.v1.proc
            .wait_for_log("asked systemd-networkd to reload its files", 5 * SEC),
        "{}",
        p.v1.proc.log_tail(20)
    );
    let before = p.v1.instance("web")["vips_restored"].as_u64().unwrap();
    p.survive(
        "networkctl reconfigure with KeepConfiguration=static",
        |_| {
            p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
            p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
        },
    );
    p.survive(
        "systemd-networkd restart with KeepConfiguration=static",
        |_| {
            p.nd1.restart();
            p.nd1.wait_state("eth0", &["configured"], 10 * SEC);
        },
    );
    let after = p.v1.instance("web")["vips_restored"].as_u64().unwrap();
    assert_eq!(
        after, before,
        "networkd kept the VIP: vipd had nothing to restore"
    );
}

#[test]
fn macvlan_from_the_generated_netdev_survives_reconfigure() {
    let p = pair_with(
        "nd_vmac",
        &static_network("10.9.70.1/24"),
        &static_network("10.9.70.2/24"),
        "networkd: {manage_files: true}\n",
        "    vip_device: {kind: macvlan}\n",
        None,
        true,
    );
    assert!(
        p.nd1
            .read_file("/etc/systemd/network/60-vipd-vrrp.70.netdev")
            .contains("MACAddress=00:00:5e:00:01:46")
    );
    // networkd manages the device with vipd's .network file.
    p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
    assert!(
        wait_until(5 * SEC, Duration::from_millis(100), || {
            p.nd1
                .network_file("vrrp.70")
                .is_some_and(|f| f.ends_with("60-vipd-vrrp.70.network"))
        }),
        "{}",
        p.nd1.status("vrrp.70")
    );
    assert_eq!(p.r1.mac("vrrp.70"), [0, 0, 0x5e, 0, 1, 70]);
    assert!(
        !p.v1.proc.log().contains("created VIP device"),
        "networkd created vrrp.70 from the generated .netdev, not vipd:\n{}",
        p.v1.proc.log_tail(20)
    );
    p.survive_on(
        "vrrp.70",
        "networkctl reconfigure eth0 (VIP on the MACVLAN)",
        |_| {
            p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
            p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
        },
    );
    p.survive_on(
        "vrrp.70",
        "edit .network + reload (VIP on the MACVLAN)",
        |i| {
            p.nd1.write_file(
                "/etc/systemd/network/10-eth0.network",
                &format!("# edit {i}\n{}", static_network("10.9.70.1/24")),
            );
            p.nd1.networkctl_ok(&["reload"]);
            p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
        },
    );
    let neigh = p.obs.exec_ok(&["ip", "neigh", "show", "10.9.70.100"]);
    assert!(
        neigh.contains("00:00:5e:00:01:46"),
        "the observer reaches the VIP at the virtual MAC: {neigh}"
    );
}

#[test]
fn dhcp_renewals_keep_the_vip_and_the_roles() {
    let dhcp =
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n";
    let t1t2 = lab::dhcp::dhcp_t1_t2(4, 6);
    let args: Vec<&str> = t1t2.iter().map(String::as_str).collect();
    let p = pair_with("nd_dhcp", dhcp, dhcp, "", "", Some(&args), false);
    let lease = p.r1.wait_dhcp_addr("eth0", 10 * SEC);
    eprintln!("r1 leased {lease:?}");
    p.survive("networkctl renew", |_| {
        p.nd1.networkctl_ok(&["renew", "eth0"]);
        std::thread::sleep(Duration::from_millis(200));
    });
    // Renewal by the T1 timer (4 s): each round waits for the next DHCPACK
    // of r1's address, so ten rounds are ten lease renewals.
    let srv = p.lab_dhcp.clone().expect("DHCP server");
    let addr = lease.addr.to_string();
    p.survive("DHCP renewal by T1", |i| {
        let before = lab::dhcp::dhcp_acks(&srv, &addr);
        assert!(
            wait_until(8 * SEC, Duration::from_millis(50), || lab::dhcp::dhcp_acks(
                &srv, &addr
            ) > before),
            "renewal #{i} of {addr} did not happen"
        );
    });
    p.survive("networkctl reconfigure (DHCP)", |_| {
        p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
        p.nd1.wait_state("eth0", &["configured"], 10 * SEC);
        p.r1.wait_dhcp_addr("eth0", 10 * SEC);
    });
    let _ = &p.lab;
}

#[test]
#[ignore = "needs IPVLAN in the kernel: tests/run-all.sh runs it with --ignored where `ip link add type ipvlan` works"]
fn ipvlan_from_the_generated_netdev_survives_reconfigure() {
    let p = pair_with(
        "nd_ipvlan",
        &static_network("10.9.70.1/24"),
        &static_network("10.9.70.2/24"),
        "networkd: {manage_files: true}\n",
        "    vip_device: {kind: ipvlan}\n",
        None,
        true,
    );
    assert!(
        p.nd1
            .read_file("/etc/systemd/network/60-vipd-vipd.70.netdev")
            .contains("Kind=ipvlan")
    );
    assert!(
        !p.v1.proc.log().contains("created VIP device"),
        "networkd created vipd.70:\n{}",
        p.v1.proc.log_tail(20)
    );
    assert_eq!(
        p.r1.mac("vipd.70"),
        p.r1.mac("eth0"),
        "IPVLAN shares the parent's MAC"
    );
    p.survive_on(
        "vipd.70",
        "networkctl reconfigure eth0 (VIP on the IPVLAN)",
        |_| {
            p.nd1.networkctl_ok(&["reconfigure", "eth0"]);
            p.nd1.wait_state("eth0", &["configured"], 5 * SEC);
        },
    );
}

#[test]
fn stopped_networkd_is_reported_and_its_restart_resyncs_the_masters() {
    let p = pair("nd_bus");
    let bus = |v: &Vipd| v.status()["networkd_bus"].clone();
    assert!(
        wait_until(10 * SEC, Duration::from_millis(50), || bus(&p.v1)["state"]
            == "running"),
        "{}",
        p.v1.status()
    );
    let first = bus(&p.v1);
    // The version comes from the owner's libsystemd-shared; networkctl
    // (same systemd) is the independent source.
    assert_eq!(
        first["version"].as_u64(),
        Some(u64::from(p.nd1.version())),
        "{first}"
    );
    let features: Vec<&str> = first["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    if p.nd1.version() >= 249 {
        assert_eq!(features, ["Reload", "ReconfigureLink", "Describe"]);
    }
    assert!(
        p.v1.proc
            .log()
            .contains("following systemd-networkd over D-Bus")
            && p.v1
                .proc
                .log()
                .contains(&format!("version={}", p.nd1.version())),
        "version logged at start:\n{}",
        p.v1.proc.log_tail(20)
    );
    let resyncs0 = first["resyncs"].as_u64().unwrap();
    let (b1, b2) = (p.v1.instance("web"), p.v2.instance("web"));
    let mut absent_ms = Vec::new();
    let mut running_ms = Vec::new();
    for round in 1..=3u64 {
        p.nd1.stop();
        let t = std::time::Instant::now();
        let absent = wait_until(5 * SEC, Duration::from_millis(10), || {
            bus(&p.v1)["state"] == "absent"
        });
        assert!(absent, "round {round}: {}", p.v1.status());
        absent_ms.push(t.elapsed().as_millis());
        let st = p.v1.status();
        assert_ne!(st["networkd"], "connected", "{st}");
        assert!(st["networkd_bus"]["owner"].is_null(), "{st}");
        assert!(
            st["instances"][0]["networkd"].is_null(),
            "no link view from a stopped networkd: {st}"
        );
        let text = p.v1.vipctl(&["status"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("systemd-networkd: absent"), "{text}");
        assert!(p.r1.has_addr("eth0", "10.9.70.100/24"));

        let t = std::time::Instant::now();
        p.nd1.start();
        let back = wait_until(10 * SEC, Duration::from_millis(10), || {
            let b = bus(&p.v1);
            b["state"] == "running" && b["resyncs"].as_u64() == Some(resyncs0 + round)
        });
        assert!(back, "round {round}: {}", p.v1.status());
        running_ms.push(t.elapsed().as_millis());
        p.nd1.wait_state("eth0", &["configured"], 10 * SEC);
        assert!(
            wait_until(2 * SEC, Duration::from_millis(5), || p
                .r1
                .has_addr("eth0", "10.9.70.100/24")),
            "round {round}: VIP back on the master\n{}",
            p.v1.proc.log_tail(20)
        );
    }
    let (s1, s2) = (p.v1.instance("web"), p.v2.instance("web"));
    assert_eq!(s1["became_master"], b1["became_master"], "{s1}");
    assert_eq!(s2["became_master"], b2["became_master"], "{s2}");
    assert_eq!(s1["last_transition"], b1["last_transition"], "{s1}");
    let log = p.v1.proc.log();
    assert!(
        log.matches("resynced the masters after systemd-networkd appeared")
            .count()
            >= 4,
        "{}",
        p.v1.proc.log_tail(30)
    );
    // No stale signal replayed: every logged transition moves forward.
    let transitions = logged_link_transitions(&log);
    for (iface, from, to) in &transitions {
        if let (Some(f), Some(t)) = (setup_rank(from), setup_rank(to)) {
            assert!(
                t >= f,
                "stale transition {iface}: {from} -> {to} logged\n{}",
                p.v1.proc.log_tail(40)
            );
        }
    }
    // The bus itself gone: reported as such, the VIP stays.
    p.nd1.dbus_process().kill();
    assert!(
        wait_until(5 * SEC, Duration::from_millis(10), || bus(&p.v1)["state"]
            == "bus_absent"),
        "{}",
        p.v1.status()
    );
    assert!(p.r1.has_addr("eth0", "10.9.70.100/24"));
    assert_eq!(p.v1.state("web"), "MASTER");
    eprintln!(
        "stop -> status absent: {absent_ms:?} ms; start -> running + resync: {running_ms:?} ms; \
         {} link transitions logged, none backwards; dbus-daemon killed -> bus_absent",
        transitions.len()
    );
}

//! vipd against vipd in network-namespace labs: election, failover on a cut
//! link, skew-time takeover on a priority-0 advert, preemption, multicast
//! and unicast, IPv4 and IPv6, reload and shutdown. Run as root.

mod lab;

use lab::capture::{garps, unsolicited_nas, vrrp_packets};
use lab::{Lab, wait_until};
use std::net::IpAddr;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One instance named `web` on eth0; `extra` lines are indented to fit.
fn instance(vrid: u8, priority: u8, interval: &str, vips: &str, extra: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {vrid}\n    priority: {priority}\n    advert_interval: {interval}\n    vips: {vips}\n{extra}"
    )
}

#[test]
fn multicast_ipv4_election_failover_and_preemption() {
    let lab = Lab::new("mcast_v4");
    let r1 = lab.add_host("r1", &["10.9.0.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.0.2/24"]);
    let obs = lab.add_host("obs", &["10.9.0.200/24"]);
    let cap = lab.capture("vrrp or arp");
    let a = r1.start_vipd(&instance(51, 150, "100ms", "[10.9.0.100/24]", ""));
    let b = r2.start_vipd(&instance(51, 100, "100ms", "[10.9.0.100/24]", ""));

    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(r1.has_addr("eth0", "10.9.0.100/24"));
    assert!(
        !r2.has_addr("eth0", "10.9.0.100/24"),
        "backup must not hold the VIP"
    );
    assert!(
        obs.ping(ip("10.9.0.100"), 3),
        "observer reaches the VIP on the master"
    );
    let st = b.instance("web");
    assert_eq!(st["master_address"], "10.9.0.1");
    assert_eq!(st["master_priority"], 150);

    // Cut the master's cable: the backup takes over, the observer follows.
    r1.link_down();
    b.expect_state("web", "MASTER", 2 * SEC);
    a.expect_state("web", "FAULT", 2 * SEC);
    assert!(r2.wait_addr("eth0", "10.9.0.100/24", true, SEC));
    assert!(
        !r1.has_addr("eth0", "10.9.0.100/24"),
        "a router in FAULT releases its VIPs"
    );
    assert!(
        obs.ping(ip("10.9.0.100"), 3),
        "observer reaches the VIP on the new master"
    );

    // Reconnect: preempt (the default) gives the VIP back to priority 150.
    r1.link_up();
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 2 * SEC);
    assert!(r2.wait_addr("eth0", "10.9.0.100/24", false, SEC));

    let frames = cap.stop();
    let adverts = vrrp_packets(&frames);
    assert!(!adverts.is_empty());
    for p in &adverts {
        assert_eq!((p.version, p.kind, p.vrid, p.ttl), (3, 1, 51, 255), "{p:?}");
        assert!(p.checksum_ok, "bad checksum on the wire: {p:?}");
        assert_eq!(p.dst, ip("224.0.0.18"));
        assert_eq!(p.addrs, vec![ip("10.9.0.100")]);
        assert_eq!(p.raw_interval, 10, "100 ms in centiseconds");
    }
    let mac2 = r2.mac("eth0");
    assert!(
        garps(&frames)
            .iter()
            .any(|(_, mac, a)| *mac == mac2 && a.to_string() == "10.9.0.100"),
        "the new master announced the VIP with a gratuitous ARP"
    );
}

#[test]
fn no_preempt_keeps_the_current_master() {
    let lab = Lab::new("nopreempt");
    let r1 = lab.add_host("r1", &["10.9.1.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.1.2/24"]);
    let low = r2.start_vipd(&instance(7, 100, "100ms", "[10.9.1.100/24]", ""));
    low.expect_state("web", "MASTER", 3 * SEC);
    let high = r1.start_vipd(&instance(
        7,
        200,
        "100ms",
        "[10.9.1.100/24]",
        "    preempt: false\n",
    ));
    high.expect_state("web", "BACKUP", 2 * SEC);
    // Several Master_Down_Intervals (~0.33 s each): still no takeover.
    std::thread::sleep(2 * SEC);
    assert_eq!(high.state("web"), "BACKUP");
    assert_eq!(low.state("web"), "MASTER");
    assert_eq!(high.instance("web")["became_master"], 0);

    // The same with preempt on takes over within a Master_Down_Interval.
    let lab2 = Lab::new("preempt");
    let r1 = lab2.add_host("r1", &["10.9.1.1/24"]);
    let r2 = lab2.add_host("r2", &["10.9.1.2/24"]);
    let low = r2.start_vipd(&instance(7, 100, "100ms", "[10.9.1.100/24]", ""));
    low.expect_state("web", "MASTER", 3 * SEC);
    let high = r1.start_vipd(&instance(7, 200, "100ms", "[10.9.1.100/24]", ""));
    high.expect_state("web", "MASTER", 2 * SEC);
    low.expect_state("web", "BACKUP", SEC);
}

#[test]
fn preempt_delay_postpones_takeover() {
    let lab = Lab::new("pdelay");
    let r1 = lab.add_host("r1", &["10.9.2.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.2.2/24"]);
    let low = r2.start_vipd(&instance(8, 100, "100ms", "[10.9.2.100/24]", ""));
    low.expect_state("web", "MASTER", 3 * SEC);
    let high = r1.start_vipd(&instance(
        8,
        200,
        "100ms",
        "[10.9.2.100/24]",
        "    preempt_delay: 2s\n",
    ));
    high.expect_state("web", "BACKUP", SEC);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        high.state("web"),
        "BACKUP",
        "still inside the 2 s preempt delay"
    );
    high.expect_state("web", "MASTER", 3 * SEC);
    assert_eq!(
        high.instance("web")["last_transition"]["reason"],
        "preempt_delay_elapsed"
    );
    low.expect_state("web", "BACKUP", SEC);
}

#[test]
fn priority_zero_on_shutdown_gives_skew_time_takeover() {
    let lab = Lab::new("prio0");
    let r1 = lab.add_host("r1", &["10.9.3.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.3.2/24"]);
    // 1 s adverts: Master_Down_Interval is 3.6 s for priority 100, Skew_Time 0.61 s.
    let a = r1.start_vipd(&instance(9, 200, "1s", "[10.9.3.100/24]", ""));
    a.expect_state("web", "MASTER", 5 * SEC);
    let b = r2.start_vipd(&instance(9, 100, "1s", "[10.9.3.100/24]", ""));
    b.expect_state("web", "BACKUP", 2 * SEC);
    std::thread::sleep(Duration::from_millis(1500));
    let cap = lab.capture("vrrp");
    a.proc.stop();
    assert!(
        !r1.has_addr("eth0", "10.9.3.100/24"),
        "SIGTERM removes the VIPs"
    );
    b.expect_state("web", "MASTER", 3 * SEC);
    assert_eq!(
        b.instance("web")["last_transition"]["reason"],
        "priority_zero_seen"
    );
    let frames = cap.stop();
    let pkts = vrrp_packets(&frames);
    let zero = pkts
        .iter()
        .find(|p| p.priority == 0 && p.src == ip("10.9.3.1"))
        .expect("priority-0 advert on SIGTERM");
    let first_b = pkts
        .iter()
        .find(|p| p.src == ip("10.9.3.2"))
        .expect("new master advertises");
    let takeover = first_b.ts.saturating_sub(zero.ts);
    // Skew_Time (0.61 s) rather than Master_Down_Interval (3.61 s).
    assert!(
        takeover < Duration::from_millis(1500),
        "takeover took {takeover:?}, expected ~Skew_Time"
    );
    assert!(
        takeover >= Duration::from_millis(550),
        "takeover in {takeover:?}: faster than Skew_Time?"
    );
}

#[test]
fn unicast_peers_ipv4_and_ipv6() {
    let lab = Lab::new("unicast");
    let r1 = lab.add_host("r1", &["10.9.4.1/24", "fd00:9:4::1/64"]);
    let r2 = lab.add_host("r2", &["10.9.4.2/24", "fd00:9:4::2/64"]);
    let cfg = |prio: u8, me: &str, peer: &str| {
        instance(
            10,
            prio,
            "100ms",
            "[10.9.4.100/24, \"fd00:9:4::100/64\"]",
            &format!(
                "    unicast:\n      sources: [10.9.4.{me}, \"fd00:9:4::{me}\"]\n      peers: [10.9.4.{peer}, \"fd00:9:4::{peer}\"]\n"
            ),
        )
    };
    let cap = lab.capture("vrrp or ip6 proto 112");
    let a = r1.start_vipd(&cfg(150, "1", "2"));
    let b = r2.start_vipd(&cfg(100, "2", "1"));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(r1.has_addr("eth0", "10.9.4.100/24") && r1.has_addr("eth0", "fd00:9:4::100/64"));
    r1.link_down();
    b.expect_state("web", "MASTER", 2 * SEC);
    assert!(r2.wait_addr("eth0", "fd00:9:4::100/64", true, SEC));
    let frames = cap.stop();
    let pkts = vrrp_packets(&frames);
    assert!(
        pkts.iter()
            .any(|p| p.dst == ip("10.9.4.2") && p.src == ip("10.9.4.1"))
    );
    assert!(
        pkts.iter()
            .any(|p| p.dst == ip("fd00:9:4::2") && p.src == ip("fd00:9:4::1"))
    );
    assert!(
        !pkts.iter().any(|p| p.dst.is_multicast()),
        "unicast mode must not send to the multicast groups"
    );
    // A stranger's advert for the same VRID is not acted on.
    assert_eq!(b.instance("web")["drops"].get("unknown_peer"), None);
}

#[test]
fn ipv6_multicast_election_and_neighbour_advertisements() {
    let lab = Lab::new("mcast_v6");
    let r1 = lab.add_host("r1", &["fd00:9:5::1/64"]);
    let r2 = lab.add_host("r2", &["fd00:9:5::2/64"]);
    let obs = lab.add_host("obs", &["fd00:9:5::200/64"]);
    let cap = lab.capture("ip6");
    let a = r1.start_vipd(&instance(11, 150, "100ms", "[\"fd00:9:5::100/64\"]", ""));
    let b = r2.start_vipd(&instance(11, 100, "100ms", "[\"fd00:9:5::100/64\"]", ""));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(obs.ping(ip("fd00:9:5::100"), 3));
    // The VIP is usable as a source: not deprecated, no DAD.
    let vip = r1
        .addrs("eth0")
        .into_iter()
        .find(|a| a.addr == ip("fd00:9:5::100"))
        .expect("VIP on master");
    assert!(
        !vip.flags
            .iter()
            .any(|f| f == "deprecated" || f == "tentative"),
        "{vip:?}"
    );
    r1.link_down();
    b.expect_state("web", "MASTER", 2 * SEC);
    assert!(obs.ping(ip("fd00:9:5::100"), 3));
    let frames = cap.stop();
    let pkts = vrrp_packets(&frames);
    let ll1 = IpAddr::V6(r1.link_local("eth0"));
    assert!(
        pkts.iter().any(|p| p.src == ll1),
        "IPv6 adverts come from the link-local address"
    );
    for p in &pkts {
        assert_eq!((p.version, p.ttl, p.dst), (3, 255, ip("ff02::12")), "{p:?}");
        assert!(p.checksum_ok);
    }
    assert!(
        unsolicited_nas(&frames)
            .iter()
            .any(|(_, t)| t.to_string() == "fd00:9:5::100"),
        "the new master sent an unsolicited NA"
    );
}

#[test]
fn v2_password_authentication_is_enforced() {
    let lab = Lab::new("v2auth");
    let r1 = lab.add_host("r1", &["10.9.6.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.6.2/24"]);
    let r3 = lab.add_host("r3", &["10.9.6.3/24"]);
    let v2 = |prio: u8, pass: &str| {
        instance(
            12,
            prio,
            "1s",
            "[10.9.6.100/24]",
            &format!("    version: 2\n    auth_pass: {pass}\n"),
        )
    };
    let a = r1.start_vipd(&v2(150, "secret"));
    let b = r2.start_vipd(&v2(100, "secret"));
    a.expect_state("web", "MASTER", 6 * SEC);
    b.expect_state("web", "BACKUP", 2 * SEC);
    // A router with the wrong password is not listened to, and does not listen.
    let c = r3.start_vipd(&v2(250, "wrong"));
    c.expect_state("web", "MASTER", 6 * SEC);
    assert_eq!(
        a.state("web"),
        "MASTER",
        "wrong-password adverts must not preempt"
    );
    let drops = &a.instance("web")["drops"];
    assert!(drops["auth_mismatch"].as_u64().unwrap_or(0) > 0, "{drops}");
}

#[test]
fn mixed_family_instance_moves_both_families_together() {
    let lab = Lab::new("mixed");
    let r1 = lab.add_host("r1", &["10.9.7.1/24", "fd00:9:7::1/64"]);
    let r2 = lab.add_host("r2", &["10.9.7.2/24", "fd00:9:7::2/64"]);
    let vips = "[10.9.7.100/24, \"fd00:9:7::100/64\"]";
    let cap = lab.capture("vrrp or ip6 proto 112");
    let a = r1.start_vipd(&instance(13, 150, "100ms", vips, ""));
    let b = r2.start_vipd(&instance(13, 100, "100ms", vips, ""));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(r1.has_addr("eth0", "10.9.7.100/24") && r1.has_addr("eth0", "fd00:9:7::100/64"));
    r1.link_down();
    b.expect_state("web", "MASTER", 2 * SEC);
    assert!(r2.wait_addr("eth0", "10.9.7.100/24", true, SEC));
    assert!(r2.wait_addr("eth0", "fd00:9:7::100/64", true, SEC));
    let pkts = vrrp_packets(&cap.stop());
    let from_r1: Vec<_> = pkts
        .iter()
        .filter(|p| p.src == ip("10.9.7.1") || p.src.is_ipv6() && p.priority == 150)
        .collect();
    assert!(
        from_r1.iter().any(|p| p.addrs == vec![ip("10.9.7.100")]),
        "IPv4 advert carries the IPv4 VIP"
    );
    assert!(
        from_r1.iter().any(|p| p.addrs == vec![ip("fd00:9:7::100")]),
        "IPv6 advert carries the IPv6 VIP"
    );
}

#[test]
fn master_restores_a_deleted_vip_in_place() {
    let lab = Lab::new("restore");
    let r1 = lab.add_host("r1", &["10.9.8.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.8.2/24"]);
    let a = r1.start_vipd(&instance(14, 150, "100ms", "[10.9.8.100/24]", ""));
    let b = r2.start_vipd(&instance(14, 100, "100ms", "[10.9.8.100/24]", ""));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    for _ in 0..5 {
        r1.exec_ok(&["ip", "addr", "del", "10.9.8.100/24", "dev", "eth0"]);
        assert!(
            r1.wait_addr("eth0", "10.9.8.100/24", true, SEC),
            "VIP restored"
        );
    }
    r1.exec_ok(&["ip", "addr", "flush", "dev", "eth0"]);
    assert!(
        r1.wait_addr("eth0", "10.9.8.100/24", true, SEC),
        "VIP restored after a flush"
    );
    let st = a.instance("web");
    assert_eq!(st["state"], "MASTER");
    assert_eq!(st["became_master"], 1, "restored in place, no re-election");
    assert!(st["vips_restored"].as_u64().unwrap() >= 6, "{st}");
    assert_eq!(
        b.instance("web")["became_master"],
        0,
        "the backup never took over"
    );
}

/// Reload without failover, on the wire: a master's priority, advert
/// interval and VIPs (one added, one removed) change in place. The capture
/// on the bridge shows no priority-0 advert and no advert from the backup
/// (it never became master); the new priority, interval and address list are
/// on the wire right after the reload, the new VIP is announced, the kept
/// one was never removed.
#[test]
fn reload_in_place_keeps_the_master() {
    let lab = Lab::new("reload_hitless");
    let r1 = lab.add_host("r1", &["10.9.7.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.7.2/24"]);
    let conf = |prio: u8, interval: &str, vips: &str| instance(57, prio, interval, vips, "");
    let old_vips = "[10.9.7.100/24, 10.9.7.101/24]";
    let new_vips = "[10.9.7.100/24, 10.9.7.102/24]";
    let a = r1.start_vipd(&conf(200, "1s", old_vips));
    let b = r2.start_vipd(&conf(100, "1s", old_vips));
    a.expect_state("web", "MASTER", 5 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    let cap = lab.capture("vrrp or arp");
    let mon = r1.spawn(
        &["ip", "monitor", "address"],
        lab.tmpdir().join("monitor.log"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before_a = a.instance("web");

    // The master first, then the backup (both with the new address list,
    // so the backup accepts the master's adverts again).
    let reload_at = lab::now_epoch();
    a.rewrite_config(&conf(180, "200ms", new_vips));
    let out = a.vipctl(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 updated in place")
            && text.contains("updated: web (priority, advert_interval, vips)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.rewrite_config(&conf(100, "200ms", new_vips));
    let out = b.vipctl(&["reload"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 updated in place"));
    assert!(r1.wait_addr("eth0", "10.9.7.102/24", true, SEC));
    std::thread::sleep(Duration::from_secs(3));
    mon.stop();
    let frames = cap.stop();

    // No role change anywhere.
    let st_a = a.instance("web");
    let st_b = b.instance("web");
    assert_eq!(st_a["state"], "MASTER");
    assert_eq!(st_a["became_master"], 1);
    assert_eq!(st_a["last_transition"], before_a["last_transition"]);
    assert_eq!(st_b["state"], "BACKUP");
    assert_eq!(st_b["became_master"], 0);
    // The new values took effect.
    assert_eq!(st_a["effective_priority"], 180);
    assert_eq!(st_a["advert_interval_ms"], 200);
    assert_eq!(st_b["master_priority"], 180);
    assert_eq!(
        st_b["advert_interval_ms"], 200,
        "the backup adopted the interval"
    );
    assert!(r1.has_addr("eth0", "10.9.7.100/24"));
    assert!(
        !r1.has_addr("eth0", "10.9.7.101/24"),
        "the removed VIP left"
    );
    assert!(!r2.has_addr("eth0", "10.9.7.102/24"));

    let adverts = vrrp_packets(&frames);
    assert!(
        adverts.iter().all(|p| p.priority != 0),
        "no priority-0 advert: {adverts:?}"
    );
    assert!(
        adverts.iter().all(|p| p.src == ip("10.9.7.1")),
        "only the master advertised (the backup never took over)"
    );
    let after: Vec<_> = adverts.iter().filter(|p| p.ts > reload_at).collect();
    let first = after.first().expect("adverts after the reload");
    assert!(
        first.ts - reload_at < Duration::from_millis(500),
        "the new values were advertised at once, not an interval later"
    );
    assert!(after.len() >= 10, "{} adverts in 3 s", after.len());
    for p in &after {
        assert_eq!((p.priority, p.raw_interval), (180, 20), "{p:?}");
        assert_eq!(p.addrs, vec![ip("10.9.7.100"), ip("10.9.7.102")]);
    }
    let mut gaps: Vec<Duration> = after.windows(2).map(|w| w[1].ts - w[0].ts).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median > Duration::from_millis(150) && median < Duration::from_millis(250),
        "adverts every 200 ms now: median gap {median:?}"
    );
    let mac1 = r1.mac("eth0");
    assert!(
        garps(&frames)
            .iter()
            .any(|(ts, mac, a)| *ts > reload_at && *mac == mac1 && a.to_string() == "10.9.7.102"),
        "the new VIP was announced"
    );
    let log = mon.log();
    let deleted = |vip: &str| {
        log.lines()
            .any(|l| l.starts_with("Deleted") && l.contains(&format!(" {vip}/")))
    };
    assert!(
        !deleted("10.9.7.100"),
        "the kept VIP was never removed:\n{log}"
    );
    assert!(deleted("10.9.7.101"), "the removed VIP was deleted:\n{log}");
}

#[test]
fn reload_keeps_unchanged_instances_untouched() {
    let lab = Lab::new("reload");
    let r1 = lab.add_host("r1", &["10.9.9.1/24"]);
    let two = |second_prio: u8| {
        format!(
            "instances:\n  - name: keep\n    interface: eth0\n    vrid: 20\n    priority: 150\n    advert_interval: 100ms\n    vips: [10.9.9.100/24]\n  - name: change\n    interface: eth0\n    vrid: 21\n    priority: {second_prio}\n    advert_interval: 100ms\n    vips: [10.9.9.101/24]\n"
        )
    };
    let d = r1.start_vipd(&two(100));
    d.expect_state("keep", "MASTER", 3 * SEC);
    d.expect_state("change", "MASTER", 3 * SEC);
    let before = d.instance("keep");
    let mon = r1.spawn(
        &["ip", "monitor", "address"],
        lab.tmpdir().join("monitor.log"),
    );
    std::thread::sleep(Duration::from_millis(200));

    // An invalid file changes nothing and says why.
    d.rewrite_config("instances:\n  - name: keep\n    vrid: 999\n");
    let out = d.vipctl(&["reload"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configuration not reloaded") && err.contains(":3:"),
        "{err}"
    );
    assert_eq!(d.status()["instances"].as_array().unwrap().len(), 2);

    // A priority change is made in place: no restart, no VIP touched.
    d.rewrite_config(&two(120));
    let out = d.vipctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 updated in place, 0 restarted, 1 unchanged")
            && text.contains("updated: change (priority)"),
        "{text}"
    );
    let changed = d.instance("change");
    assert_eq!(changed["priority"], 120);
    assert_eq!(changed["effective_priority"], 120);
    assert_eq!(changed["state"], "MASTER");
    assert_eq!(changed["became_master"], 1, "it never left MASTER");
    let after = d.instance("keep");
    assert_eq!(
        after["last_transition"], before["last_transition"],
        "unchanged instance kept its state"
    );

    // A VRID change restarts the instance.
    d.rewrite_config(&two(120).replace("vrid: 21", "vrid: 22"));
    let out = d.vipctl(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 updated in place, 1 restarted, 1 unchanged")
            && text.contains("restarted: change"),
        "{text}"
    );
    d.expect_state("change", "MASTER", 3 * SEC);
    assert_eq!(d.instance("change")["vrid"], 22);
    std::thread::sleep(Duration::from_millis(200));
    mon.stop();
    let log = mon.log();
    assert!(
        !log.contains("10.9.9.100"),
        "the unchanged instance's VIP was never touched:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("Deleted") && l.contains(" 10.9.9.101/")),
        "the restarted instance's VIP went and came back:\n{log}"
    );

    // SIGHUP reloads too.
    d.rewrite_config(
        &two(120)
            .replace("vrid: 21", "vrid: 22")
            .replace("  - name: change", "  - name: renamed"),
    );
    d.proc.signal(libc::SIGHUP);
    assert!(wait_until(3 * SEC, Duration::from_millis(20), || {
        d.status()["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "renamed")
    }));
}

#[test]
fn control_socket_and_shutdown() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new("ctl");
    let r1 = lab.add_host("r1", &["10.9.10.1/24"]);
    let d = r1.start_vipd(&instance(30, 150, "100ms", "[10.9.10.100/24]", ""));
    d.expect_state("web", "MASTER", 3 * SEC);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket must be 0600");
    let table = String::from_utf8(d.vipctl(&["status"]).stdout).unwrap();
    assert!(table.starts_with("INSTANCE"), "{table}");
    assert!(
        table.contains("MASTER") && table.contains("10.9.10.100/24"),
        "{table}"
    );
    // Resync (what the dispatcher hooks call): everything present, nothing to restore.
    let out = d.vipctl(&["resync", "--interface", "eth0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("resynced 1 instance(s), restored 0")
    );
    let out = d.vipctl(&["resync", "--interface", "eth9"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("resynced 0 instance(s), restored 0")
    );
    // Without networkd on this host, status says so and vipd works regardless.
    let st = d.status();
    assert_ne!(st["networkd"], "connected", "{st}");
    assert!(st["instances"][0]["networkd"].is_null());
    // A second daemon on the same socket refuses to start.
    let second = r1.spawn(
        &[
            lab::vipd::vipd_bin(),
            "--config",
            d.config.to_str().unwrap(),
            "--control-socket",
            d.socket.to_str().unwrap(),
        ],
        lab.tmpdir().join("second.log"),
    );
    let st = second.wait_exit(5 * SEC).expect("second vipd exits");
    assert!(!st.success());
    assert!(
        second.log().contains("already listening"),
        "{}",
        second.log()
    );
    let st = d.proc.stop();
    assert!(st.success(), "clean exit on SIGTERM: {st:?}");
    assert!(!r1.has_addr("eth0", "10.9.10.100/24"));
    assert!(!d.socket.exists(), "socket removed on exit");
}

#[test]
fn macvlan_vip_device_uses_the_virtual_mac() {
    let lab = Lab::new("vmac");
    let r1 = lab.add_host("r1", &["10.9.11.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.11.2/24"]);
    let obs = lab.add_host("obs", &["10.9.11.200/24"]);
    let extra = "    vip_device: {kind: macvlan}\n";
    let a = r1.start_vipd(&instance(15, 150, "100ms", "[10.9.11.100/24]", extra));
    let b = r2.start_vipd(&instance(15, 100, "100ms", "[10.9.11.100/24]", extra));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert_eq!(r1.mac("vrrp.15"), [0, 0, 0x5e, 0, 1, 15]);
    assert!(r1.has_addr("vrrp.15", "10.9.11.100/24"));
    assert!(!r1.has_addr("eth0", "10.9.11.100/24"));
    if !obs.ping(ip("10.9.11.100"), 3) {
        panic!(
            "observer cannot reach the VIP on the MACVLAN:\nobs neigh: {}\nfdb: {}\nr1: {}",
            obs.exec_ok(&["ip", "neigh"]),
            String::from_utf8_lossy(
                &lab.switch_exec(&["bridge", "fdb", "show", "br", "br0"])
                    .stdout
            ),
            r1.exec_ok(&["ip", "-br", "addr"])
        );
    }
    let neigh = obs.exec_ok(&["ip", "neigh", "show", "10.9.11.100"]);
    assert!(
        neigh.contains("00:00:5e:00:01:0f"),
        "observer resolves the VIP to the virtual MAC: {neigh}"
    );
    // The device deleted under the master: recreated, VIP back, no election.
    r1.exec_ok(&["ip", "link", "del", "vrrp.15"]);
    assert!(
        r1.wait_addr("vrrp.15", "10.9.11.100/24", true, SEC),
        "VIP device recreated with its VIP"
    );
    assert_eq!(a.state("web"), "MASTER");
    assert_eq!(a.instance("web")["became_master"], 1);
    assert_eq!(b.state("web"), "BACKUP");
    r1.link_down();
    b.expect_state("web", "MASTER", 2 * SEC);
    assert!(
        obs.ping(ip("10.9.11.100"), 3),
        "same MAC, new port: the observer follows"
    );
    let st = b.proc.stop();
    assert!(st.success());
    assert!(
        !r2.exec(&["ip", "link", "show", "vrrp.15"]).status.success(),
        "device removed on exit"
    );
}

/// A burst of deletions (every VIP of 8 dual-stack instances, one `ip
/// -batch`) is restored once: each VIP added back exactly once (not once per
/// deletion notification), `vips_restored` equal to the VIPs deleted, no
/// role change.
#[test]
fn deletion_burst_restores_each_vip_once() {
    let lab = Lab::new("burst");
    let r1 = lab.add_host("r1", &["10.9.11.1/24", "fd00:9:11::1/64"]);
    let mut yaml = String::from("instances:\n");
    let mut batch = String::new();
    let mut vips = Vec::new();
    for k in 1..=8 {
        let (v4, v6) = (
            format!("10.9.11.{}/32", 100 + k),
            format!("fd00:9:11::{:x}/128", 0x100 + k),
        );
        yaml.push_str(&format!(
            "  - name: i{k}\n    interface: eth0\n    vrid: {k}\n    priority: 150\n    advert_interval: 100ms\n    vips: [{v4}, \"{v6}\"]\n"
        ));
        batch.push_str(&format!(
            "address del {v4} dev eth0\naddress del {v6} dev eth0\n"
        ));
        vips.push(v4);
        vips.push(v6);
    }
    let a = r1.start_vipd(&yaml);
    for k in 1..=8 {
        a.expect_state(&format!("i{k}"), "MASTER", 5 * SEC);
    }
    assert!(wait_until(2 * SEC, Duration::from_millis(20), || vips
        .iter()
        .all(|v| r1.has_addr("eth0", v))));
    let mon = r1.start_addr_monitor("eth0");
    let file = lab.tmpdir().join("burst.batch");
    std::fs::write(&file, batch).unwrap();
    r1.exec_ok(&["ip", "-batch", file.to_str().unwrap()]);
    assert!(
        wait_until(2 * SEC, Duration::from_millis(5), || vips
            .iter()
            .all(|v| r1.has_addr("eth0", v))),
        "every VIP back"
    );
    std::thread::sleep(Duration::from_millis(500));
    for v in &vips {
        let events = mon.events(v);
        let deleted = events.iter().filter(|(_, up)| !up).count();
        let added = events.iter().filter(|(_, up)| *up).count();
        assert_eq!(
            (deleted, added),
            (1, 1),
            "{v}: deleted and added back once: {events:?}"
        );
    }
    let st = a.status();
    let restored: u64 = st["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["vips_restored"].as_u64().unwrap())
        .sum();
    assert_eq!(restored, 16, "counted once per VIP");
    for i in st["instances"].as_array().unwrap() {
        assert_eq!(i["became_master"], 1, "no re-election");
    }
}

/// A master stopped (SIGSTOP) long enough for the backup to take over
/// resumes still MASTER and hears the backup's lower-priority adverts. As
/// keepalived does, it answers at once and announces the VIP again, so the
/// LAN's ARP caches, pointed at the backup by its takeover, come back to
/// the master: the observer's neighbour entry for the VIP is the master's
/// MAC within a second, and the capture has the master's gratuitous ARP
/// after SIGCONT (before this, nothing came until the cache expired).
#[test]
fn resumed_master_reannounces_over_a_lower_priority_master() {
    let lab = Lab::new("resume_garp");
    let r1 = lab.add_host("r1", &["10.9.12.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.12.2/24"]);
    let obs = lab.add_host("obs", &["10.9.12.200/24"]);
    let a = r1.start_vipd(&instance(12, 150, "100ms", "[10.9.12.100/24]", ""));
    let b = r2.start_vipd(&instance(12, 100, "100ms", "[10.9.12.100/24]", ""));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(obs.ping(ip("10.9.12.100"), 3));

    let cap = lab.capture("arp");
    a.proc.signal(libc::SIGSTOP);
    b.expect_state("web", "MASTER", 3 * SEC);
    // The observer follows the backup's gratuitous ARP.
    assert!(
        obs.ping(ip("10.9.12.100"), 3),
        "observer reaches the backup"
    );
    std::thread::sleep(Duration::from_millis(300));
    let resumed = lab::now_epoch();
    a.proc.signal(libc::SIGCONT);
    b.expect_state("web", "BACKUP", SEC);
    let mac1 = lab::format_mac(&r1.mac("eth0"));
    let back = wait_until(SEC, Duration::from_millis(20), || {
        obs.exec_ok(&["ip", "neigh", "show", "10.9.12.100", "dev", "eth0"])
            .contains(&mac1)
    });
    let frames = cap.stop();
    assert!(
        back,
        "observer's neighbour entry still {:?}, not r1's {mac1}",
        obs.exec_ok(&["ip", "neigh", "show", "10.9.12.100"])
    );
    let m1 = r1.mac("eth0");
    assert!(
        garps(&frames)
            .iter()
            .any(|(ts, mac, a)| *ts >= resumed && *mac == m1 && a.to_string() == "10.9.12.100"),
        "no gratuitous ARP from the resumed master"
    );
    assert!(
        obs.ping(ip("10.9.12.100"), 3),
        "observer reaches the master"
    );
}

/// A backup stopped for longer than Master_Down_Interval (SIGSTOP; as a
/// paused VM or a starved CPU would) reads its master's queued adverts
/// before its expired timer may make it master: on SIGCONT it stays
/// BACKUP. Before, the timer won and the backup took over for one advert
/// interval (two role changes; tests/soak.rs counted 39 in 600 events).
#[test]
fn resumed_backup_hears_its_master_before_its_timer() {
    let lab = Lab::new("resume_backup");
    let r1 = lab.add_host("r1", &["10.9.13.1/24"]);
    let r2 = lab.add_host("r2", &["10.9.13.2/24"]);
    let a = r1.start_vipd(&instance(13, 150, "100ms", "[10.9.13.100/24]", ""));
    let b = r2.start_vipd(&instance(13, 100, "100ms", "[10.9.13.100/24]", ""));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    let before = b.instance("web")["became_master"].as_u64().unwrap();
    for _ in 0..5 {
        b.proc.signal(libc::SIGSTOP);
        // Master_Down_Interval is 3 x 100 ms + skew: 1 s is well past it.
        std::thread::sleep(SEC);
        b.proc.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = b.instance("web")["became_master"].as_u64().unwrap();
    assert_eq!(
        after - before,
        0,
        "the resumed backup took over from a master that never stopped\n{}",
        b.proc.log_tail(30)
    );
    assert_eq!(b.instance("web")["state"], "BACKUP");
    assert_eq!(a.instance("web")["state"], "MASTER");
    assert!(!r2.has_addr("eth0", "10.9.13.100/24"));
}

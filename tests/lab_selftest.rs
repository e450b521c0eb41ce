//! Self-tests of the namespace lab harness in tests/lab (no vipd involved):
//! connectivity, keepalived as a reference VRRP pair, capture decoders,
//! ping observer and cleanup.

mod lab;

use lab::{Lab, garps, unsolicited_nas, vrrp_adverts, vrrp_packets, wait_until};
use std::net::IpAddr;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn hosts_ping_each_other_v4_and_v6() {
    let lab = Lab::new("hosts_ping_each_other_v4_and_v6");
    let a = lab.add_host("a", &["10.9.0.1/24", "fd00:9::1/64"]);
    let b = lab.add_host("b", &["10.9.0.2/24", "fd00:9::2/64"]);

    assert!(a.has_addr("eth0", "10.9.0.1/24"));
    assert!(a.has_addr("eth0", ip("fd00:9::1")));
    assert!(!a.has_addr("eth0", "10.9.0.2"));
    assert!(!a.has_addr("eth0", "10.9.0.1/25"));
    assert!(
        !a.addrs("eth0")
            .iter()
            .any(|x| x.flags.iter().any(|f| f == "tentative")),
        "DAD should be off: {:?}",
        a.addrs("eth0")
    );
    let mac_a = a.mac("eth0");
    let ll_a = a.link_local("eth0");
    assert_eq!(mac_a[0] & 1, 0, "unicast MAC");
    assert!(ll_a.segments()[0] == 0xfe80, "{ll_a}");

    let cap = lab.capture("icmp or icmp6");
    assert!(a.ping(ip("10.9.0.2"), 3), "IPv4 a -> b");
    assert!(b.ping(ip("10.9.0.1"), 3), "IPv4 b -> a");
    assert!(a.ping(ip("fd00:9::2"), 3), "IPv6 a -> b");
    assert!(b.ping(ip("fd00:9::1"), 3), "IPv6 b -> a");
    assert!(b.ping(IpAddr::V6(ll_a), 3), "IPv6 link-local b -> a");
    let frames = cap.stop();
    // 5 x 3 requests + replies crossed the bridge, plus NS/NA.
    assert!(frames.len() >= 30, "captured only {} frames", frames.len());
    assert!(
        frames.iter().any(|f| f.src_mac() == Some(mac_a)),
        "no frame from a's MAC"
    );
    // b resolved a's global address: a answered with a solicited NA.
    let nas = lab::neighbor_adverts(&frames);
    assert!(
        nas.iter().any(|n| n.solicited && n.tlla == Some(mac_a)),
        "{nas:?}"
    );
}

#[test]
fn ping_observer_measures_silent_cut_and_link_cut() {
    let lab = Lab::new("ping_observer_measures_silent_cut_and_link_cut");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    let b = lab.add_host("b", &["10.9.0.2/24"]);

    // Baseline: no loss at 10 ms. (ping -i 0.01 only manages ~60/s here.)
    let obs = a.ping_observer(ip("10.9.0.2"), 10);
    assert!(
        obs.wait_replies(1, Duration::from_secs(3)),
        "no first reply"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let st = obs.stop();
    assert!(st.received >= 20, "{st:?}");
    assert!(
        st.sent >= st.received && st.sent - st.received <= 1,
        "{st:?}"
    );
    assert!(
        st.longest_gap < Duration::from_millis(500),
        "gap {:?}\n{}",
        st.longest_gap,
        st.output
    );

    // Silent cut of b for ~1 s: b keeps carrier but hears nothing.
    let obs = a.ping_observer(ip("10.9.0.2"), 10);
    assert!(obs.wait_replies(5, Duration::from_secs(3)), "no replies");
    b.cut_cable_silently();
    let carrier = b.exec_ok(&["cat", "/sys/class/net/eth0/carrier"]);
    assert_eq!(carrier.trim(), "1", "silent cut must keep carrier");
    std::thread::sleep(Duration::from_millis(1000));
    b.restore_cable();
    std::thread::sleep(Duration::from_millis(500));
    let st = obs.stop();
    assert!(
        st.longest_gap >= Duration::from_millis(900)
            && st.longest_gap < Duration::from_millis(2000),
        "gap {:?}\n{}",
        st.longest_gap,
        st.output
    );
    assert!(st.received < st.sent, "{st:?}");

    // Hard cut: b loses carrier.
    b.link_down();
    assert!(
        wait_until(Duration::from_secs(2), POLL, || {
            b.exec_ok(&["cat", "/sys/class/net/eth0/carrier"]).trim() == "0"
        }),
        "b should see NO-CARRIER after link_down"
    );
    assert!(!a.ping(ip("10.9.0.2"), 1));
    b.link_up();
    assert!(
        wait_until(Duration::from_secs(3), POLL, || a.ping(ip("10.9.0.2"), 1)),
        "b unreachable after link_up"
    );
}

fn keepalived_conf(prio: u8, vrid: u8, vip: &str, v3: bool) -> String {
    format!(
        "global_defs {{
    router_id r{prio}
}}
vrrp_instance VI_{vrid} {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority {prio}
    advert_int 1
    {version}
    virtual_ipaddress {{
        {vip} dev eth0
    }}
}}
",
        version = if v3 { "version 3" } else { "" }
    )
}

#[test]
fn keepalived_pair_ipv4_failover() {
    let lab = Lab::new("keepalived_pair_ipv4_failover");
    let a = lab.add_host("ra", &["10.9.0.1/24"]);
    let b = lab.add_host("rb", &["10.9.0.2/24"]);
    let vip = "10.9.0.100";
    let cap = lab.capture("vrrp or arp");

    let ka = a.start_keepalived(&keepalived_conf(150, 51, "10.9.0.100/24", false));
    let _kb = b.start_keepalived(&keepalived_conf(100, 51, "10.9.0.100/24", false));

    assert!(
        a.wait_addr("eth0", vip, true, Duration::from_secs(5)),
        "high priority router did not get the VIP within 5 s"
    );
    // The backup must not hold it (allow a short settling window in case it
    // briefly won the race at startup), and must keep not holding it.
    assert!(b.wait_addr("eth0", vip, false, Duration::from_secs(2)));
    assert!(
        !wait_until(Duration::from_secs(2), POLL, || b.has_addr("eth0", vip)),
        "backup took the VIP while the master is alive"
    );
    assert!(a.has_addr("eth0", "10.9.0.100/24"));

    let frames = cap.frames();
    let adverts = vrrp_adverts(&frames);
    let a_ip = ip("10.9.0.1");
    let from_a: Vec<_> = adverts.iter().filter(|x| x.1 == a_ip).collect();
    assert!(
        from_a.len() >= 2 && from_a.iter().all(|x| x.2 == 51 && x.3 == 150),
        "adverts: {adverts:?}"
    );
    for p in vrrp_packets(&frames) {
        assert_eq!(p.version, 2, "{p:?}");
        assert_eq!(p.ttl, 255, "{p:?}");
        assert_eq!(p.dst, ip("224.0.0.18"), "{p:?}");
        assert!(p.checksum_ok, "{p:?}");
        assert_eq!(p.addrs, vec![ip(vip)], "{p:?}");
        assert_eq!(p.interval, Duration::from_secs(1), "{p:?}");
    }
    let mac_a = a.mac("eth0");
    let g = garps(&frames);
    assert!(
        g.iter().any(|x| x.1 == mac_a && x.2.to_string() == vip),
        "no gratuitous ARP for the VIP from the master: {g:?}"
    );

    // Cut the master's cable: the backup takes over.
    a.link_down();
    let t0 = std::time::Instant::now();
    assert!(
        b.wait_addr("eth0", vip, true, Duration::from_secs(5)),
        "backup did not take the VIP within 5 s of the master's cable cut"
    );
    eprintln!("failover after cable cut took {:?}", t0.elapsed());
    assert!(ka.is_running());

    // Reconnect: the master preempts back.
    a.link_up();
    assert!(
        a.wait_addr("eth0", vip, true, Duration::from_secs(6)),
        "master did not take the VIP back after link_up"
    );
    assert!(b.wait_addr("eth0", vip, false, Duration::from_secs(3)));

    let frames = cap.stop();
    let adverts = vrrp_adverts(&frames);
    assert!(
        adverts
            .iter()
            .any(|x| x.1 == ip("10.9.0.2") && x.2 == 51 && x.3 == 100),
        "no adverts from the backup while it was master: {adverts:?}"
    );
}

#[test]
fn keepalived_pair_ipv6_vrrpv3() {
    let lab = Lab::new("keepalived_pair_ipv6_vrrpv3");
    let a = lab.add_host("ra", &["fd00:9::1/64"]);
    let b = lab.add_host("rb", &["fd00:9::2/64"]);
    let vip = "fd00:9::100";
    let cap = lab.capture("ip6");

    let _ka = a.start_keepalived(&keepalived_conf(150, 61, "fd00:9::100/64", true));
    let _kb = b.start_keepalived(&keepalived_conf(100, 61, "fd00:9::100/64", true));
    assert!(
        a.wait_addr("eth0", vip, true, Duration::from_secs(5)),
        "high priority router did not get the IPv6 VIP within 5 s"
    );
    assert!(b.wait_addr("eth0", vip, false, Duration::from_secs(2)));

    // Let a couple of adverts and the NAs go out.
    let ll_a = IpAddr::V6(a.link_local("eth0"));
    assert!(wait_until(Duration::from_secs(3), POLL, || {
        let f = cap.frames();
        vrrp_adverts(&f).iter().filter(|x| x.1 == ll_a).count() >= 2
            && !unsolicited_nas(&f).is_empty()
    }));
    let frames = cap.stop();
    for p in vrrp_packets(&frames).iter().filter(|p| p.src == ll_a) {
        assert_eq!(
            (p.version, p.vrid, p.priority, p.ttl),
            (3, 61, 150, 255),
            "{p:?}"
        );
        assert_eq!(p.dst, ip("ff02::12"), "{p:?}");
        assert!(p.checksum_ok, "{p:?}");
        assert_eq!(p.interval, Duration::from_secs(1), "{p:?}");
        assert_eq!(p.addrs, vec![ip(vip)], "{p:?}");
    }
    let nas = unsolicited_nas(&frames);
    assert!(
        nas.iter().any(|x| IpAddr::V6(x.1) == ip(vip)),
        "no unsolicited NA for the VIP: {nas:?}"
    );
}

fn netns_list() -> Vec<String> {
    let o = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn lab_drop_deletes_namespaces_and_processes() {
    let (nss, pid, tmpdir) = {
        let lab = Lab::new("lab_drop_deletes_namespaces_and_processes");
        let a = lab.add_host("a", &["10.9.0.1/24"]);
        let _b = lab.add_host("b", &["10.9.0.2/24"]);
        let p = a.spawn(&["sleep", "1000"], "sleep.log");
        // A process the lab did not start itself (double fork, reparented).
        a.sh_ok("setsid sleep 1001 >/dev/null 2>&1 < /dev/null &");
        let nss = lab.namespaces();
        assert_eq!(nss.len(), 3);
        let listed = netns_list();
        for ns in &nss {
            assert!(listed.contains(ns), "{ns} not in {listed:?}");
        }
        assert!(lab.tmpdir().is_dir());
        (nss, p.pid(), lab.tmpdir())
    };
    let listed = netns_list();
    for ns in &nss {
        assert!(!listed.contains(ns), "{ns} still exists after drop");
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "spawned process {pid} survived the lab"
    );
    if std::env::var("VIPD_LAB_KEEP").as_deref() != Ok("all") {
        assert!(!tmpdir.exists(), "{} not removed", tmpdir.display());
    }
}

#[test]
fn lab_drop_cleans_up_when_the_test_panics() {
    let nss = std::sync::Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let lab = Lab::new("lab_drop_cleans_up_when_the_test_panics");
        let a = lab.add_host("a", &["10.9.0.1/24"]);
        let _p = a.spawn(
            &["sh", "-c", "echo hello from the log; sleep 1000"],
            "x.log",
        );
        *nss.lock().unwrap() = lab.namespaces();
        std::thread::sleep(Duration::from_millis(100));
        panic!("deliberate panic (the lab prints its diagnostics above)");
    });
    assert!(r.is_err());
    let nss = nss.into_inner().unwrap();
    assert_eq!(nss.len(), 2);
    let listed = netns_list();
    for ns in &nss {
        assert!(!listed.contains(ns), "{ns} still exists after panic");
    }
}

/// `ip -ts monitor address dev vrrp.80` as it logged a keepalived `use_vmac`
/// master's VIP going and coming back while eth0's address changed: the
/// stamps of eth0's (filtered) notifications come first on the line.
#[test]
fn addr_monitor_reads_the_last_stamp_of_a_line() {
    let log = "[2026-11-26T17:58:07.415750] [2026-11-26T17:58:07.416130] Deleted 3: vrrp.80    inet 10.9.80.100/24 scope global vrrp.80\n\
               \x20      valid_lft forever preferred_lft forever\n\
               [2026-11-26T17:58:07.432378] [2026-11-26T17:58:07.775508] 3: vrrp.80    inet 10.9.80.100/24 scope global vrrp.80\n\
               [2026-11-26T17:58:08.000001] 3: vrrp.80    inet 10.9.80.101/24 scope global vrrp.80\n";
    let ev = lab::ipmon::vip_events(log, "10.9.80.100/24");
    let ts = |s| lab::ipmon::parse_ip_ts(s).unwrap();
    assert_eq!(
        ev,
        [
            (ts("2026-11-26T17:58:07.416130"), false),
            (ts("2026-11-26T17:58:07.775508"), true)
        ]
    );
    assert_eq!(lab::ipmon::addr_events(log).len(), 3);
}

#[test]
fn pcap_reader_handles_both_byte_orders_and_nanos() {
    fn file(le: bool, nanos: bool) -> Vec<u8> {
        let w = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut b = Vec::new();
        b.extend(w(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        b.extend(if le { [2u8, 0, 4, 0] } else { [0u8, 2, 0, 4] });
        b.extend(w(0));
        b.extend(w(0));
        b.extend(w(65535));
        b.extend(w(1));
        for (sec, frac, data) in [(10u32, 5u32, &[1u8, 2, 3][..]), (11, 7, &[4u8][..])] {
            b.extend(w(sec));
            b.extend(w(frac));
            b.extend(w(data.len() as u32));
            b.extend(w(data.len() as u32));
            b.extend(data);
        }
        // Truncated record header at the end (capture still being written).
        b.extend(w(12));
        b
    }
    for le in [true, false] {
        for nanos in [true, false] {
            let (lt, frames) = lab::parse_pcap(&file(le, nanos)).unwrap();
            assert_eq!(lt, 1);
            assert_eq!(frames.len(), 2);
            let unit = if nanos {
                Duration::from_nanos(5)
            } else {
                Duration::from_micros(5)
            };
            assert_eq!(frames[0].ts, Duration::from_secs(10) + unit);
            assert_eq!(frames[0].data, vec![1, 2, 3]);
            assert_eq!(frames[1].data, vec![4]);
        }
    }
    assert!(lab::parse_pcap(&[0u8; 30]).is_err());
    assert!(lab::parse_pcap(&[]).unwrap().1.is_empty());
}

#[test]
fn second_nic_counting_capture_and_cable_cut() {
    let lab = Lab::new("second_nic_counting_capture_and_cable_cut");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    let b = lab.add_host("b", &["10.9.0.2/24"]);
    let pa = lab.add_nic(&a, "eth1", "br1", &["10.9.1.1/24", "fd00:9:1::1/64"]);
    let _pb = lab.add_nic(&b, "eth1", "br1", &["10.9.1.2/24"]);
    assert!(a.has_addr("eth1", "fd00:9:1::1/64"));
    assert!(a.link_local("eth1").segments()[0] == 0xfe80);

    // Frames a sends on eth1, and only those: the replies leave the port.
    let count = lab.count_from(&pa, "icmp");
    let c0 = count.snapshot();
    assert!(a.ping(ip("10.9.1.2"), 4), "a -> b over eth1");
    let c1 = count.snapshot();
    count.stop();
    assert_eq!(c1.matched - c0.matched, 4, "{c0:?} {c1:?}");
    assert!(c1.at > c0.at);

    // Cutting eth1's cable leaves eth0 alone.
    lab.set_port(&pa, false);
    assert!(
        wait_until(Duration::from_secs(3), POLL, || a
            .exec_ok(&["ip", "link", "show", "eth1"])
            .contains("NO-CARRIER")),
        "eth1 kept its carrier"
    );
    assert!(!a.ping(ip("10.9.1.2"), 1), "eth1 is cut");
    assert!(a.ping(ip("10.9.0.2"), 2), "eth0 still works");
    lab.set_port(&pa, true);
    assert!(
        wait_until(Duration::from_secs(5), POLL, || a.ping(ip("10.9.1.2"), 1)),
        "eth1 back"
    );
    assert_eq!(b.raw_socket_drops(112), 0, "no VRRP socket, no drops");
}

#[test]
fn address_monitor_reads_both_families() {
    let lab = Lab::new("address_monitor_reads_both_families");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    let mon = a.start_addr_monitor("eth0");
    a.exec_ok(&["ip", "addr", "add", "10.9.0.100/32", "dev", "eth0"]);
    a.exec_ok(&[
        "ip",
        "addr",
        "add",
        "fd00:9::100/128",
        "dev",
        "eth0",
        "nodad",
    ]);
    a.sh_ok("printf 'address del 10.9.0.100/32 dev eth0\\naddress del fd00:9::100/128 dev eth0\\n' | ip -batch -");
    assert!(wait_until(Duration::from_secs(3), POLL, || {
        lab::ipmon::addr_events(&mon.proc.log()).len() >= 4
    }));
    let ev: Vec<(IpAddr, u8, bool)> = lab::ipmon::addr_events(&mon.proc.log())
        .into_iter()
        .map(|e| (e.addr, e.prefix, e.added))
        .collect();
    assert_eq!(
        ev,
        [
            (ip("10.9.0.100"), 32, true),
            (ip("fd00:9::100"), 128, true),
            (ip("10.9.0.100"), 32, false),
            (ip("fd00:9::100"), 128, false),
        ]
    );
    assert_eq!(mon.events("fd00:9::100/128").len(), 2);
    assert_eq!(mon.events("10.9.0.100/32").len(), 2);
    assert!(mon.events("10.9.0.100/24").is_empty());
}

#[test]
fn process_tree_cpu_and_memory() {
    let lab = Lab::new("process_tree_cpu_and_memory");
    let a = lab.add_host("a", &["10.9.0.1/24"]);
    // A shell with a busy child: the child's time counts for the tree.
    let p = a.spawn(
        &["sh", "-c", "sh -c 'while :; do :; done' & sleep 1000"],
        "busy.log",
    );
    assert!(wait_until(Duration::from_secs(3), POLL, || {
        lab::procstat::tree(p.pid()).len() >= 3
    }));
    let s0 = lab::procstat::CpuSample::take(p.pid());
    std::thread::sleep(Duration::from_millis(600));
    let s1 = lab::procstat::CpuSample::take(p.pid());
    let used = s0.until(&s1);
    assert!(s1.processes() >= 3, "{}", s1.processes());
    assert!(
        used >= Duration::from_millis(100) && used <= Duration::from_millis(1300),
        "{used:?}"
    );
    assert!(lab::procstat::tree_rss_kib(p.pid()) > 0);
    assert!(p.spawned_at() <= lab::now_epoch());
}

//! Self-tests of the systemd-networkd / DHCP / netplan parts of the lab
//! (tests/lab/networkd.rs, tests/lab/dhcp.rs), no vipd involved.
//!
//! Besides proving the harness, these tests pin down how the systemd-networkd
//! of this machine (Debian 12: systemd 252) treats a *foreign* address (one it
//! did not configure, like a VRRP VIP added by vipd) on each trigger, without
//! KeepConfiguration=, with KeepConfiguration=static and with
//! KeepConfiguration=yes. Every test prints its observations as lines starting
//! with `FINDING` (run with --nocapture) and asserts them, so a different
//! systemd fails loudly instead of silently changing the product's premises.
//!
//! networkd runs with emulated udev (like a real host) unless a test says
//! otherwise: without udev networkd 252 configures links before it has
//! enumerated their addresses, so a restart does *not* purge foreign
//! addresses there (see `static_network_foreign_address_default_no_udev`).

mod lab;

use lab::dhcp::{dhcp_acks, dhcp_effective_lease, dhcp_leases, dhcp_t1_t2};
use lab::networkd::{Networkd, UdevMode};
use lab::{Host, Lab, arps, wait_until};
use std::time::Duration;

const STATIC_NET: &str = "[Match]\nName=eth0\n\n[Network]\nAddress=10.9.50.1/24\n";
const OWN: &str = "10.9.50.1/24";
const VIP: &str = "10.9.50.100/24";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// No KeepConfiguration= at all (default: no).
    Default,
    /// KeepConfiguration=static in a drop-in.
    Static,
    /// KeepConfiguration=yes in a drop-in.
    Yes,
}

impl Keep {
    fn dropin(self) -> Option<&'static str> {
        match self {
            Keep::Default => None,
            Keep::Static => Some("[Network]\nKeepConfiguration=static\n"),
            Keep::Yes => Some("[Network]\nKeepConfiguration=yes\n"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Purged,
    Kept,
}

use Fate::{Kept, Purged};

/// What one trigger did.
#[derive(Clone, Debug)]
struct Obs {
    trigger: &'static str,
    /// Fate of the foreign address.
    vip: Fate,
    /// networkd logged "eth0: Configuring with ..." after the trigger.
    reconfigured: bool,
    /// networkd's own static/DHCP address was there again afterwards (within
    /// 5 s).
    own_back: bool,
}

/// How often networkd logged that it (re)configures `iface` ("Configuring
/// with FILE" at start and on reconfigure, "Reconfiguring with FILE" on a
/// reload that changed the file).
fn configure_count(nd: &Networkd, iface: &str) -> usize {
    let a = format!("{iface}: Configuring with ");
    let b = format!("{iface}: Reconfiguring with ");
    nd.log()
        .lines()
        .filter(|l| l.starts_with(&a) || l.starts_with(&b))
        .count()
}

/// Adds `cidr` to `dev` unless present.
fn ensure_addr(h: &Host, dev: &str, cidr: &str) {
    if !h.has_addr(dev, cidr) {
        h.exec_ok(&["ip", "addr", "add", cidr, "dev", dev]);
    }
    assert!(h.has_addr(dev, cidr));
}

/// Waits for networkd's own address (it may be being re-added).
fn wait_own(h: &Host, nd: &Networkd, dev: &str, cidr: &str) {
    if !h.wait_addr(dev, cidr, true, Duration::from_secs(5)) {
        panic!(
            "{}: networkd's own {cidr} missing on {dev}\n{}",
            h.name,
            nd.log_tail(40)
        );
    }
}

/// Adds `vip` (if missing), runs `trigger`, and watches: did networkd
/// (re)configure `dev` (waits up to 3 s for that), is the VIP gone within
/// 3 s after that, is `own` back within 5 s.
fn observe(
    h: &Host,
    nd: &Networkd,
    dev: &str,
    own: &str,
    vip: &str,
    name: &'static str,
    trigger: impl FnOnce(),
) -> Obs {
    wait_own(h, nd, dev, own);
    ensure_addr(h, dev, vip);
    let before = configure_count(nd, dev);
    trigger();
    let reconfigured = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        configure_count(nd, dev) > before
    });
    let gone = h.wait_addr(dev, vip, false, Duration::from_secs(3));
    let own_back = h.wait_addr(dev, own, true, Duration::from_secs(5));
    Obs {
        trigger: name,
        vip: if gone { Purged } else { Kept },
        reconfigured,
        own_back,
    }
}

fn files_with_keep<'a>(
    main: (&'a str, &'a str),
    keep: Keep,
    dropin_name: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut files = vec![main];
    if let Some(d) = keep.dropin() {
        files.push((dropin_name, d));
    }
    files
}

/// Runs every trigger against a static .network (+ KeepConfiguration drop-in).
fn static_triggers(test: &str, keep: Keep, udev: UdevMode) -> Vec<Obs> {
    let lab = Lab::new(test);
    let h = lab.add_host("a", &[]);
    let b = lab.add_host("b", &["10.9.50.2/24"]);
    let dropin = "/etc/systemd/network/10-eth0.network.d/50-x.conf";
    let nd = h.start_networkd_with(
        &files_with_keep(
            ("10-eth0.network", STATIC_NET),
            keep,
            "10-eth0.network.d/50-x.conf",
        ),
        udev,
    );
    assert_eq!(nd.version(), 252, "these findings are for systemd 252");
    assert!(h.has_addr("eth0", OWN), "networkd did not configure {OWN}");
    assert_eq!(
        nd.network_file("eth0").as_deref(),
        Some("/etc/systemd/network/10-eth0.network")
    );
    if keep != Keep::Default {
        // (networkctl 252 does not list drop-ins in `status`.)
        assert!(nd.read_file(dropin).contains("KeepConfiguration"));
    }
    // The foreign address is usable (the lab network works through it).
    ensure_addr(&h, "eth0", VIP);
    assert!(
        b.ping("10.9.50.100".parse().unwrap(), 3),
        "VIP not reachable"
    );

    let mut out = Vec::new();
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "reconfigure", || {
        nd.networkctl_ok(&["reconfigure", "eth0"]);
    }));
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "reload", || {
        nd.networkctl_ok(&["reload"]);
    }));
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "edit+reload", || {
        nd.write_file(
            "/etc/systemd/network/10-eth0.network",
            &format!("{STATIC_NET}Address=10.9.50.3/24\n"),
        );
        nd.networkctl_ok(&["reload"]);
    }));
    assert!(
        h.wait_addr("eth0", "10.9.50.3/24", true, Duration::from_secs(5)),
        "the edited .network was not applied by reload"
    );
    out.push(observe(
        &h,
        &nd,
        "eth0",
        OWN,
        VIP,
        "edit-dropin+reload",
        || {
            let d = keep.dropin().unwrap_or("[Network]\n");
            nd.write_file(dropin, &format!("{d}# edited\n"));
            nd.networkctl_ok(&["reload"]);
        },
    ));
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "restart", || {
        nd.restart();
    }));
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "kill-9+start", || {
        nd.kill();
        nd.start();
    }));
    out.push(observe(
        &h,
        &nd,
        "eth0",
        OWN,
        VIP,
        "carrier-loss-1s",
        || {
            h.link_down();
            assert!(nd.wait_state("eth0", &["no-carrier"], Duration::from_secs(5)));
            std::thread::sleep(Duration::from_secs(1));
            h.link_up();
        },
    ));
    out.push(observe(&h, &nd, "eth0", OWN, VIP, "ip-addr-flush", || {
        h.exec_ok(&["ip", "addr", "flush", "dev", "eth0"]);
    }));
    // Leave eth0 as networkd wants it (flush also removed the link-local).
    nd.networkctl_ok(&["reconfigure", "eth0"]);
    assert!(h.wait_addr("eth0", OWN, true, Duration::from_secs(5)));
    report(
        &format!("static .network, keep {keep:?}, udev {udev:?}"),
        &out,
    );
    out
}

/// Prints the observations as one block (tests run in parallel).
fn report(label: &str, obs: &[Obs]) {
    let mut text = String::new();
    for o in obs {
        text.push_str(&format!(
            "FINDING systemd 252 [{label}] {:<22} foreign address {:<6} (networkd reconfigured the link: {}, its own address back: {})\n",
            o.trigger,
            format!("{:?}", o.vip),
            o.reconfigured,
            o.own_back
        ));
    }
    eprint!("{text}");
}

fn fates(obs: &[Obs]) -> Vec<(&'static str, Fate)> {
    obs.iter().map(|o| (o.trigger, o.vip)).collect()
}

fn assert_fates(obs: &[Obs], expected: &[(&'static str, Fate)]) {
    assert_eq!(
        fates(obs),
        expected,
        "foreign-address fates differ from the recorded systemd 252 behaviour; \
         observations: {obs:#?}"
    );
}

/// (a) static .network without KeepConfiguration: which triggers purge a
/// foreign address.
#[test]
fn static_network_foreign_address_default() {
    let obs = static_triggers(
        "static_network_foreign_address_default",
        Keep::Default,
        UdevMode::Emulated,
    );
    assert_eq!(obs[0].trigger, "reconfigure");
    assert_eq!(obs[0].vip, Purged, "reconfigure must purge: {obs:#?}");
    assert_fates(
        &obs,
        &[
            ("reconfigure", Purged),
            ("reload", Kept),
            ("edit+reload", Purged),
            ("edit-dropin+reload", Purged),
            ("restart", Purged),
            ("kill-9+start", Purged),
            ("carrier-loss-1s", Kept),
            ("ip-addr-flush", Purged),
        ],
    );
}

/// (b) KeepConfiguration=static in a drop-in.
#[test]
fn static_network_foreign_address_keep_static() {
    let obs = static_triggers(
        "static_network_foreign_address_keep_static",
        Keep::Static,
        UdevMode::Emulated,
    );
    assert_fates(
        &obs,
        &[
            ("reconfigure", Kept),
            ("reload", Kept),
            ("edit+reload", Kept),
            ("edit-dropin+reload", Kept),
            ("restart", Kept),
            ("kill-9+start", Kept),
            ("carrier-loss-1s", Kept),
            ("ip-addr-flush", Purged),
        ],
    );
}

/// (b) KeepConfiguration=yes in a drop-in.
#[test]
fn static_network_foreign_address_keep_yes() {
    let obs = static_triggers(
        "static_network_foreign_address_keep_yes",
        Keep::Yes,
        UdevMode::Emulated,
    );
    assert_fates(
        &obs,
        &[
            ("reconfigure", Kept),
            ("reload", Kept),
            ("edit+reload", Kept),
            ("edit-dropin+reload", Kept),
            ("restart", Kept),
            ("kill-9+start", Kept),
            ("carrier-loss-1s", Kept),
            ("ip-addr-flush", Purged),
        ],
    );
}

/// Same as the default case but networkd without udev (read-only /sys, as
/// in a container): restart behaves differently.
#[test]
fn static_network_foreign_address_default_no_udev() {
    let obs = static_triggers(
        "static_network_foreign_address_default_no_udev",
        Keep::Default,
        UdevMode::Absent,
    );
    assert_fates(
        &obs,
        &[
            ("reconfigure", Purged),
            ("reload", Kept),
            ("edit+reload", Purged),
            ("edit-dropin+reload", Purged),
            ("restart", Kept),
            ("kill-9+start", Kept),
            ("carrier-loss-1s", Kept),
            ("ip-addr-flush", Purged),
        ],
    );
}

/// KeepConfiguration=static keeps only *static* foreign addresses: one with
/// a finite lifetime counts as dynamic.
#[test]
fn keep_static_does_not_keep_foreign_address_with_lifetime() {
    let lab = Lab::new("keep_static_does_not_keep_foreign_address_with_lifetime");
    let h = lab.add_host("a", &[]);
    let nd = h.start_networkd(&files_with_keep(
        ("10-eth0.network", STATIC_NET),
        Keep::Static,
        "10-eth0.network.d/50-x.conf",
    ));
    h.exec_ok(&[
        "ip",
        "addr",
        "add",
        VIP,
        "dev",
        "eth0",
        "valid_lft",
        "3600",
        "preferred_lft",
        "3600",
    ]);
    let o = observe(
        &h,
        &nd,
        "eth0",
        OWN,
        VIP,
        "reconfigure(vip valid_lft 3600)",
        || {
            nd.networkctl_ok(&["reconfigure", "eth0"]);
        },
    );
    report(
        "static .network, keep Static, VIP with valid_lft 3600",
        std::slice::from_ref(&o),
    );
    assert_eq!(o.vip, Purged, "{o:?}");
}

/// (c) DHCP: lease from dnsmasq on the switch, renew, T1 renewal, and a
/// foreign address across them.
fn dhcp_triggers(test: &str, keep: Keep) -> Vec<Obs> {
    let lab = Lab::new(test);
    let t1t2 = dhcp_t1_t2(10, 15);
    let extra: Vec<&str> = t1t2.iter().map(String::as_str).collect();
    // Ask for 60 s: dnsmasq makes it 120 s.
    let srv = lab.start_dhcp_with("10.9.52.1/24", "10.9.52.100,10.9.52.150", 60, &extra);
    assert_eq!(
        dhcp_effective_lease(&srv),
        Some(120),
        "dnsmasq log:\n{}",
        srv.log()
    );
    let h = lab.add_host("c", &[]);
    let nd = h.start_networkd(&files_with_keep(
        (
            "10-eth0.network",
            "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
        ),
        keep,
        "10-eth0.network.d/50-x.conf",
    ));
    let addr = h.wait_lease_addr(&srv, "eth0", Duration::from_secs(20));
    let ip = addr.addr.to_string();
    let own = format!("{ip}/{}", addr.prefix);
    assert_eq!(addr.prefix, 24);
    let lft = h.addr_valid_lft("eth0", &ip).expect("valid_lft");
    if keep == Keep::Yes {
        // KeepConfiguration=yes includes "dhcp": networkd installs the DHCP
        // address with an infinite lifetime.
        assert_eq!(
            lft,
            u32::MAX,
            "KeepConfiguration=yes: DHCP address lifetime"
        );
    } else {
        assert!(
            (60..=120).contains(&lft),
            "lease lifetime {lft} s, expected dnsmasq's minimum 120 s"
        );
        assert_eq!(h.dhcp_addr("eth0").map(|a| a.addr), Some(addr.addr));
    }
    let leases = dhcp_leases(&srv);
    assert!(
        leases.iter().any(|l| l.ip == ip),
        "{ip} not in the lease file: {leases:?}"
    );
    eprintln!(
        "FINDING dnsmasq: asked for 60 s, effective lease {:?} s, address valid_lft {lft} s",
        dhcp_effective_lease(&srv)
    );
    let vip = "10.9.52.200/24";
    let mut out = Vec::new();

    let acks = dhcp_acks(&srv, &ip);
    let mut o = observe(&h, &nd, "eth0", &own, vip, "renew", || {
        nd.networkctl_ok(&["renew", "eth0"]);
    });
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            dhcp_acks(&srv, &ip) > acks
        }),
        "networkctl renew did not make a DHCPACK:\n{}",
        srv.log_tail(20)
    );
    o.reconfigured = false; // renew is not a reconfiguration; see the ACK count
    out.push(o);

    // Renewal by the T1 timer (10 s from the last ACK).
    let acks = dhcp_acks(&srv, &ip);
    ensure_addr(&h, "eth0", vip);
    let renewed = wait_until(Duration::from_secs(25), Duration::from_millis(100), || {
        dhcp_acks(&srv, &ip) > acks
    });
    assert!(renewed, "no T1 renewal within 25 s:\n{}", srv.log_tail(20));
    let gone = h.wait_addr("eth0", vip, false, Duration::from_secs(3));
    out.push(Obs {
        trigger: "T1-renewal",
        vip: if gone { Purged } else { Kept },
        reconfigured: false,
        own_back: h.has_addr("eth0", &own),
    });

    out.push(observe(&h, &nd, "eth0", &own, vip, "reconfigure", || {
        nd.networkctl_ok(&["reconfigure", "eth0"]);
    }));
    out.push(observe(&h, &nd, "eth0", &own, vip, "restart", || {
        nd.restart();
    }));
    report(&format!("DHCP=ipv4, keep {keep:?}, udev Emulated"), &out);
    out
}

#[test]
fn dhcp_lease_renew_default() {
    let obs = dhcp_triggers("dhcp_lease_renew_default", Keep::Default);
    assert_fates(
        &obs,
        &[
            ("renew", Kept),
            ("T1-renewal", Kept),
            ("reconfigure", Purged),
            ("restart", Purged),
        ],
    );
}

#[test]
fn dhcp_lease_renew_keep_static() {
    let obs = dhcp_triggers("dhcp_lease_renew_keep_static", Keep::Static);
    assert_fates(
        &obs,
        &[
            ("renew", Kept),
            ("T1-renewal", Kept),
            ("reconfigure", Kept),
            ("restart", Kept),
        ],
    );
}

#[test]
fn dhcp_lease_renew_keep_yes() {
    let obs = dhcp_triggers("dhcp_lease_renew_keep_yes", Keep::Yes);
    assert_fates(
        &obs,
        &[
            ("renew", Kept),
            ("T1-renewal", Kept),
            ("reconfigure", Kept),
            ("restart", Kept),
        ],
    );
}

/// DHCP lease loss: the server disappears, renew (T1) and rebind (T2) fail
/// and the 120 s lease expires. One host per KeepConfiguration variant, all
/// on the same server, so they expire together (~2 min).
#[test]
fn dhcp_lease_expiry() {
    let lab = Lab::new("dhcp_lease_expiry");
    let t1t2 = dhcp_t1_t2(10, 15);
    let extra: Vec<&str> = t1t2.iter().map(String::as_str).collect();
    let srv = lab.start_dhcp_with("10.9.55.1/24", "10.9.55.100,10.9.55.150", 120, &extra);
    let mut hosts = Vec::new();
    for (i, keep) in [Keep::Default, Keep::Static, Keep::Yes]
        .into_iter()
        .enumerate()
    {
        let h = lab.add_host(&format!("x{i}"), &[]);
        let nd = h.start_networkd(&files_with_keep(
            (
                "10-eth0.network",
                "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
            ),
            keep,
            "10-eth0.network.d/50-x.conf",
        ));
        let addr = h.wait_lease_addr(&srv, "eth0", Duration::from_secs(20));
        let vip = format!("10.9.55.{}/24", 200 + i);
        ensure_addr(&h, "eth0", &vip);
        hosts.push((keep, h, nd, format!("{}/{}", addr.addr, addr.prefix), vip));
    }
    srv.stop();
    let t0 = std::time::Instant::now();
    // The default host loses its DHCP address at lease end (<= 120 s after
    // its last renewal).
    let (_, h0, nd0, own0, _) = &hosts[0];
    assert!(
        h0.wait_addr("eth0", own0, false, Duration::from_secs(140)),
        "DHCP address not dropped 140 s after the server stopped:\n{}",
        nd0.log_tail(30)
    );
    let expired_after = t0.elapsed();
    std::thread::sleep(Duration::from_secs(12)); // the others' leases end too
    let mut text = String::new();
    let mut got = Vec::new();
    for (keep, h, nd, own, vip) in &hosts {
        let own_kept = h.has_addr("eth0", own);
        let vip_fate = if h.has_addr("eth0", vip) {
            Kept
        } else {
            Purged
        };
        let lost = nd.log().contains("DHCP lease lost");
        text.push_str(&format!(
            "FINDING systemd 252 [DHCP=ipv4, keep {keep:?}, udev Emulated] lease-expiry          \
             foreign address {vip_fate:?} (DHCP address kept: {own_kept}, networkd logged \
             \"DHCP lease lost\": {lost}; first expiry {expired_after:?} after the server stopped)\n"
        ));
        got.push((*keep, vip_fate, own_kept));
    }
    eprint!("{text}");
    assert_eq!(
        got,
        [
            (Keep::Default, Kept, false),
            (Keep::Static, Kept, false),
            (Keep::Yes, Kept, true),
        ]
    );
}

const NETPLAN_YAML: &str =
    "network: {version: 2, renderer: networkd, ethernets: {eth0: {addresses: [10.9.51.1/24]}}}\n";

/// (d) netplan generate + the networkd side of `netplan apply`.
#[test]
fn netplan_generated_file_is_picked_up() {
    let lab = Lab::new("netplan_generated_file_is_picked_up");
    let h = lab.add_host("d", &[]);
    let files = h.netplan_generate(NETPLAN_YAML);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("FINDING netplan generate: files {names:?}");
    assert_eq!(names, ["10-netplan-eth0.network"], "{files:#?}");
    let content = &files[0].1;
    assert!(content.contains("Name=eth0") && content.contains("Address=10.9.51.1/24"));

    // networkd without any file of its own: eth0 unmanaged.
    let nd = h.start_networkd(&[]);
    assert_eq!(nd.link_state("eth0").0, "unmanaged");
    let applied = nd.apply_netplan(NETPLAN_YAML);
    assert_eq!(applied, files);
    nd.expect_state("eth0", &["routable"], Duration::from_secs(10));
    assert!(h.wait_addr("eth0", "10.9.51.1/24", true, Duration::from_secs(5)));
    assert_eq!(
        nd.network_file("eth0").as_deref(),
        Some("/run/systemd/network/10-netplan-eth0.network")
    );
    assert_eq!(
        nd.read_file("/run/systemd/network/10-netplan-eth0.network"),
        *content
    );
}

/// netplan flow and a foreign address: default, KeepConfiguration=static via
/// a drop-in for the generated file in /etc/systemd/network, and netplan's own
/// `critical: true` (→ `[DHCP] CriticalConnection=true`).
#[test]
fn netplan_apply_and_foreign_address() {
    let lab = Lab::new("netplan_apply_and_foreign_address");
    let own = "10.9.51.1/24";
    let vip = "10.9.51.100/24";
    let critical_yaml = "network: {version: 2, renderer: networkd, ethernets: {eth0: \
                         {critical: true, addresses: [10.9.51.1/24]}}}\n";
    let cases: [(&str, &str, Option<&str>, Fate, Fate); 4] = [
        ("default", NETPLAN_YAML, None, Purged, Purged),
        (
            "dropin-static",
            NETPLAN_YAML,
            Keep::Static.dropin(),
            Kept,
            Kept,
        ),
        ("dropin-yes", NETPLAN_YAML, Keep::Yes.dropin(), Kept, Kept),
        ("critical", critical_yaml, None, Kept, Kept),
    ];
    let mut failures = Vec::new();
    for (i, (name, yaml, dropin, want_same, want_changed)) in cases.into_iter().enumerate() {
        let h = lab.add_host(&format!("n{i}"), &[]);
        let mut files = Vec::new();
        if let Some(d) = dropin {
            files.push(("10-netplan-eth0.network.d/50-x.conf", d));
        }
        let nd = h.start_networkd(&files);
        let generated = nd.apply_netplan(yaml);
        if name == "critical" {
            assert!(
                generated[0].1.contains("CriticalConnection=true"),
                "{generated:?}"
            );
        }
        nd.expect_state("eth0", &["routable"], Duration::from_secs(10));
        assert!(h.wait_addr("eth0", own, true, Duration::from_secs(5)));
        let same = observe(
            &h,
            &nd,
            "eth0",
            own,
            vip,
            "netplan-apply(same yaml)",
            || {
                nd.apply_netplan(yaml);
            },
        );
        let yaml2 = yaml.replace("10.9.51.1/24]", "10.9.51.1/24, 10.9.51.2/24]");
        let changed = observe(
            &h,
            &nd,
            "eth0",
            own,
            vip,
            "netplan-apply(changed yaml)",
            || {
                nd.apply_netplan(&yaml2);
            },
        );
        report(&format!("netplan {name}"), &[same.clone(), changed.clone()]);
        assert!(h.wait_addr("eth0", "10.9.51.2/24", true, Duration::from_secs(5)));
        if same.vip != want_same || changed.vip != want_changed {
            failures.push(format!(
                "{name}: got ({:?}, {:?}), expected ({want_same:?}, {want_changed:?})",
                same.vip, changed.vip
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// (e) networkd's D-Bus API in the namespace.
#[test]
fn busctl_list_links_and_operational_state() {
    let lab = Lab::new("busctl_list_links_and_operational_state");
    let h = lab.add_host("e", &[]);
    let nd = h.start_networkd(&[("10-eth0.network", STATIC_NET)]);
    let o = nd.busctl(&[
        "call",
        "org.freedesktop.network1",
        "/org/freedesktop/network1",
        "org.freedesktop.network1.Manager",
        "ListLinks",
    ]);
    assert!(o.status.success(), "ListLinks: {o:?}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    eprintln!("FINDING busctl ListLinks: {}", out.trim());
    assert!(out.starts_with("a(iso) "), "{out}");
    // `... 2 "eth0" "/org/freedesktop/network1/link/_32" ...`
    let path = out
        .split("\"eth0\" \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("eth0 not in ListLinks: {out}"))
        .to_owned();
    assert!(
        path.starts_with("/org/freedesktop/network1/link/_3"),
        "{path}"
    );
    let get = |prop: &str| {
        let o = nd.busctl(&[
            "get-property",
            "org.freedesktop.network1",
            &path,
            "org.freedesktop.network1.Link",
            prop,
        ]);
        assert!(o.status.success(), "get-property {prop}: {o:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(get("OperationalState"), "s \"routable\"");
    let admin = get("AdministrativeState");
    assert!(
        admin == "s \"configuring\"" || admin == "s \"configured\"",
        "{admin}"
    );
    // The bus is reachable from outside the namespace too.
    let addr = nd.dbus_address();
    let o = std::process::Command::new("busctl")
        .args([
            &format!("--address={addr}"),
            "call",
            "org.freedesktop.network1",
            "/org/freedesktop/network1",
            "org.freedesktop.DBus.Peer",
            "Ping",
        ])
        .output()
        .expect("busctl");
    assert!(o.status.success(), "busctl --address={addr}: {o:?}");
}

/// (f) a MACVLAN created by networkd from a .netdev.
#[test]
fn macvlan_netdev_created_by_networkd() {
    let lab = Lab::new("macvlan_netdev_created_by_networkd");
    let h = lab.add_host("f", &[]);
    let b = lab.add_host("g", &["10.9.53.2/24"]);
    // Only the MACVLAN answers ARP for its own address (otherwise eth0
    // answers too, with its own MAC: arp_ignore=0).
    h.sysctl("net.ipv4.conf.eth0.arp_ignore", "1");
    let vrrp_net = "[Match]\nName=vrrp.51\n\n[Network]\nLinkLocalAddressing=no\n";
    let nd = h.start_networkd(&[
        (
            "20-vrrp51.netdev",
            "[NetDev]\nName=vrrp.51\nKind=macvlan\nMACAddress=00:00:5e:00:01:33\n\n\
             [MACVLAN]\nMode=bridge\n",
        ),
        (
            "10-eth0.network",
            "[Match]\nName=eth0\n\n[Network]\nAddress=10.9.53.1/24\nMACVLAN=vrrp.51\n",
        ),
        ("30-vrrp51.network", vrrp_net),
    ]);
    nd.expect_state("vrrp.51", &["configured"], Duration::from_secs(10));
    let link = h.exec_ok(&["ip", "-d", "-o", "link", "show", "dev", "vrrp.51"]);
    assert!(link.contains("00:00:5e:00:01:33"), "{link}");
    assert!(link.contains("macvlan mode bridge"), "{link}");
    assert!(link.contains("vrrp.51@eth0"), "{link}");
    assert_eq!(h.mac("vrrp.51"), [0, 0, 0x5e, 0, 1, 0x33]);
    let ifindex = |h: &Host| -> Option<String> {
        let o = h.exec(&["ip", "-o", "link", "show", "dev", "vrrp.51"]);
        o.status.success().then(|| {
            String::from_utf8_lossy(&o.stdout)
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    };
    let idx0 = ifindex(&h).unwrap();

    // A VIP on the MACVLAN: ARP for it is answered from the VRRP MAC only.
    h.exec_ok(&["ip", "addr", "add", "10.9.53.100/24", "dev", "vrrp.51"]);
    let cap = lab.capture("arp");
    assert!(b.ping("10.9.53.100".parse().unwrap(), 3));
    let replies: Vec<_> = arps(&cap.stop())
        .into_iter()
        .filter(|a| a.op == 2 && a.sender_ip.to_string() == "10.9.53.100")
        .map(|a| a.sender_mac)
        .collect();
    assert!(!replies.is_empty(), "no ARP reply for the VIP");
    assert!(
        replies.iter().all(|m| *m == [0, 0, 0x5e, 0, 1, 0x33]),
        "ARP replies for the VIP: {replies:?}"
    );

    // Reconfigure eth0: the MACVLAN is kept (same ifindex), and its VIP?
    nd.networkctl_ok(&["reconfigure", "eth0"]);
    std::thread::sleep(Duration::from_secs(2));
    let idx1 = ifindex(&h);
    let vip_after_eth0 = h.has_addr("vrrp.51", "10.9.53.100/24");
    eprintln!(
        "FINDING macvlan: reconfigure eth0 -> vrrp.51 ifindex {idx0} -> {idx1:?}, VIP on vrrp.51 kept: {vip_after_eth0}"
    );
    assert_eq!(idx1.as_deref(), Some(idx0.as_str()));
    assert!(vip_after_eth0);

    // Reconfigure vrrp.51 itself: the foreign VIP on it is purged.
    nd.networkctl_ok(&["reconfigure", "vrrp.51"]);
    let purged = h.wait_addr("vrrp.51", "10.9.53.100/24", false, Duration::from_secs(3));
    eprintln!("FINDING macvlan: reconfigure vrrp.51 -> VIP on vrrp.51 purged: {purged}");
    assert!(purged);

    // Delete it: networkd does not recreate it by itself...
    h.exec_ok(&["ip", "link", "del", "vrrp.51"]);
    std::thread::sleep(Duration::from_secs(3));
    let recreated_alone = ifindex(&h).is_some();
    eprintln!(
        "FINDING macvlan: deleted -> recreated without a trigger within 3 s: {recreated_alone}"
    );
    assert!(!recreated_alone);
    // ... nor on `networkctl reload` ...
    nd.networkctl_ok(&["reload"]);
    std::thread::sleep(Duration::from_secs(2));
    let recreated_reload = ifindex(&h).is_some();
    eprintln!("FINDING macvlan: deleted -> recreated by networkctl reload: {recreated_reload}");
    assert!(!recreated_reload);
    // ... but `networkctl reconfigure eth0` recreates it.
    nd.networkctl_ok(&["reconfigure", "eth0"]);
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        ifindex(&h).is_some()
    });
    eprintln!("FINDING macvlan: deleted -> recreated by reconfigure eth0: {back}");
    assert!(back);
    nd.expect_state("vrrp.51", &["configured"], Duration::from_secs(10));
    assert_eq!(h.mac("vrrp.51"), [0, 0, 0x5e, 0, 1, 0x33]);

    // networkd restart with the MACVLAN present: same ifindex.
    let idx2 = ifindex(&h).unwrap();
    nd.restart();
    nd.expect_state("vrrp.51", &["configured"], Duration::from_secs(10));
    assert_eq!(ifindex(&h).as_deref(), Some(idx2.as_str()));
}

/// Processes are in the namespaces only, the host's mounts are untouched,
/// and nothing is left after the lab is dropped.
#[test]
fn host_untouched_and_cleanup() {
    let findmnt = |args: &[&str]| {
        let o = std::process::Command::new("findmnt")
            .args(args)
            .output()
            .expect("findmnt");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let sys_before = findmnt(&["-R", "/sys"]);
    let run_before = findmnt(&["--mountpoint", "/run"]);
    let etc_before = findmnt(&["--mountpoint", "/etc/systemd/network"]);
    let etc_list_before: Vec<_> = std::fs::read_dir("/etc/systemd/network")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let hostname_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let udev_db_host = || {
        std::fs::read_dir("/run/udev/data")
            .map(|rd| rd.count())
            .unwrap_or(0)
    };
    let udev_before = udev_db_host();

    let pids;
    {
        let lab = Lab::new("host_untouched_and_cleanup");
        let srv = lab.start_dhcp("10.9.54.1/24", "10.9.54.100,10.9.54.110", 120);
        let h = lab.add_host("h", &[]);
        let nd = h.start_networkd(&[(
            "10-eth0.network",
            "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
        )]);
        h.wait_lease_addr(&srv, "eth0", Duration::from_secs(20));
        // A second host without udev (read-only /sys bind mount).
        let h2 = lab.add_host("h2", &[]);
        let nd2 = h2.start_networkd_with(
            &[(
                "10-eth0.network",
                "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n",
            )],
            UdevMode::Absent,
        );
        h2.wait_lease_addr(&srv, "eth0", Duration::from_secs(20));
        // Inside: private /run (with the emulated udev database), /sys
        // read-write resp. read-only; outside: unchanged.
        let inside = nd.sh_ok(
            "findmnt -n -o OPTIONS /sys; findmnt -n -o FSTYPE /run; test -e /run/udev/data/n2 && echo udev-db",
        );
        assert!(inside.starts_with("rw,"), "{inside}");
        assert!(
            inside.contains("tmpfs") && inside.contains("udev-db"),
            "{inside}"
        );
        let inside2 = nd2.sh_ok("findmnt -n -o OPTIONS /sys; findmnt -n -o FSTYPE /run");
        assert!(inside2.starts_with("ro,"), "{inside2}");
        assert!(inside2.contains("tmpfs"), "{inside2}");
        assert_eq!(findmnt(&["-R", "/sys"]), sys_before);
        assert_eq!(findmnt(&["--mountpoint", "/run"]), run_before);
        assert_eq!(
            findmnt(&["--mountpoint", "/etc/systemd/network"]),
            etc_before
        );
        assert_eq!(udev_db_host(), udev_before, "host /run/udev/data changed");
        assert!(
            !std::path::Path::new("/etc/systemd/network/10-eth0.network").exists(),
            "the namespace's file leaked to the host"
        );
        // A process spawned in the namespace sees the namespace's files/bus.
        let p = nd.spawn(
            &[
                "sh",
                "-c",
                "cat /etc/systemd/network/10-eth0.network; \
                 busctl --system call org.freedesktop.network1 /org/freedesktop/network1 \
                 org.freedesktop.DBus.Peer Ping && echo BUS-OK; exec sleep 60",
            ],
            "spawned.log",
        );
        assert!(
            p.wait_for_log("BUS-OK", Duration::from_secs(5)),
            "{}",
            p.log()
        );
        assert!(p.log().contains("DHCP=ipv4"));
        // write/read/remove through /proc/ANCHOR/root.
        nd.write_file("/etc/systemd/network/99-x.network", "[Match]\nName=none\n");
        assert_eq!(
            nd.sh_ok("cat /etc/systemd/network/99-x.network"),
            "[Match]\nName=none\n"
        );
        nd.remove_file("/etc/systemd/network/99-x.network");
        assert!(
            !nd.sh("test -e /etc/systemd/network/99-x.network")
                .status
                .success()
        );
        pids = vec![
            nd.process().pid(),
            nd.dbus_process().pid(),
            nd.anchor_pid(),
            nd2.process().pid(),
            nd2.dbus_process().pid(),
            nd2.anchor_pid(),
            srv.pid(),
            p.pid(),
        ];
    }
    for pid in &pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true),
            "pid {pid} still alive after the lab was dropped"
        );
    }
    assert_eq!(findmnt(&["-R", "/sys"]), sys_before);
    assert_eq!(findmnt(&["--mountpoint", "/run"]), run_before);
    assert_eq!(udev_db_host(), udev_before);
    let etc_list_after: Vec<_> = std::fs::read_dir("/etc/systemd/network")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(etc_list_after, etc_list_before);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname_before
    );
}

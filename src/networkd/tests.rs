//! Expected file contents are written out literally: they are the contract
//! with networkd, not something to derive from the code under test.

use super::matching::{Facts, entries, parse_mac};
use super::*;
use crate::config::Config;

const CONFIG_PATH: &str = "/etc/vipd/vipd.yaml";
const HEADER: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.\n";
const NETPLAN_ETH0: &str = "/run/systemd/network/10-netplan-eth0.network";

fn cfg(yaml: &str) -> Config {
    Config::parse(yaml, Path::new("test.yaml")).unwrap()
}

fn host(version: Option<u32>, matched: &[(&str, &str)]) -> HostView {
    HostView {
        systemd_version: version,
        matched: matched
            .iter()
            .map(|(i, p)| (i.to_string(), PathBuf::from(p)))
            .collect(),
    }
}

/// A root that does not exist: nothing to read, nothing stale.
fn no_root() -> &'static Path {
    Path::new("/nonexistent/vipd-networkd-unit-test-root")
}

fn plan(config: &Config, host: &HostView) -> Plan {
    plan_install(config, host, no_root(), Path::new(CONFIG_PATH)).unwrap()
}

fn writes(p: &Plan) -> Vec<(String, String)> {
    p.actions
        .iter()
        .map(|a| match a {
            FileAction::Write { path, content } => (path.display().to_string(), content.clone()),
            FileAction::Remove { path } => panic!("unexpected removal of {}", path.display()),
        })
        .collect()
}

const PLAIN: &str =
    "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
const MACVLAN: &str = "instances:\n  - name: db\n    interface: eth0\n    vrid: 52\n    vips: [192.0.2.20/24]\n    vip_device: {kind: macvlan}\n";
const IPVLAN: &str = "instances:\n  - name: api\n    interface: eth0\n    vrid: 54\n    vips: [192.0.2.40/24]\n    vip_device: {kind: ipvlan}\n";

#[test]
fn header_names_the_config_and_the_way_out() {
    assert_eq!(header(Path::new(CONFIG_PATH)), HEADER);
    assert!(is_vipd_content(HEADER.as_bytes()));
    assert!(!is_vipd_content(b"[Match]\nName=eth0\n"));
    assert!(!is_vipd_content(b"\n# Written by vipd"));
}

#[test]
fn plain_vip_on_netplan_eth0() {
    let p = plan(&cfg(PLAIN), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    assert_eq!(
        writes(&p),
        vec![(
            "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf".to_string(),
            "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.\n\
             # Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): keeps vipd's addresses when networkd configures the link again.\n\
             [Network]\n\
             KeepConfiguration=static\n"
                .to_string()
        )]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn macvlan_instance() {
    let p = plan(&cfg(MACVLAN), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    let w = writes(&p);
    assert_eq!(
        w,
        vec![
            (
                "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf".to_string(),
                format!(
                    "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices.\n\
                     [Network]\n\
                     MACVLAN=vrrp.52\n"
                )
            ),
            (
                "/etc/systemd/network/60-vipd-vrrp.52.netdev".to_string(),
                format!(
                    "{HEADER}# VIP device of vipd instance db (VRID 52) on eth0; networkd creates it.\n\
                     [NetDev]\n\
                     Name=vrrp.52\n\
                     Kind=macvlan\n\
                     MACAddress=00:00:5e:00:01:34\n\
                     \n\
                     [MACVLAN]\n\
                     Mode=bridge\n"
                )
            ),
            (
                "/etc/systemd/network/60-vipd-vrrp.52.network".to_string(),
                format!(
                    "{HEADER}# VIP device of vipd instance db (VRID 52): vipd puts the VIPs on it, networkd brings it up and keeps them.\n\
                     [Match]\n\
                     Name=vrrp.52\n\
                     \n\
                     [Network]\n\
                     DHCP=no\n\
                     LinkLocalAddressing=no\n\
                     IPv6AcceptRA=no\n\
                     ConfigureWithoutCarrier=yes\n\
                     KeepConfiguration=yes\n"
                )
            ),
        ]
    );
}

#[test]
fn ipv6_only_macvlan_uses_the_ipv6_virtual_mac() {
    let text = MACVLAN.replace("192.0.2.20/24", "\"2001:db8::20/64\"");
    let p = plan(&cfg(&text), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    let netdev = &writes(&p)[1].1;
    assert!(
        netdev.contains("\nMACAddress=00:00:5e:00:02:34\n"),
        "{netdev}"
    );
    // Both families: the IPv4 virtual MAC.
    let both = MACVLAN.replace("[192.0.2.20/24]", "[192.0.2.20/24, \"2001:db8::20/64\"]");
    let p = plan(&cfg(&both), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    assert!(writes(&p)[1].1.contains("\nMACAddress=00:00:5e:00:01:34\n"));
}

#[test]
fn ipvlan_instance() {
    let p = plan(&cfg(IPVLAN), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    assert_eq!(
        writes(&p),
        vec![
            (
                "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf".to_string(),
                format!(
                    "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices.\n\
                     [Network]\n\
                     IPVLAN=vipd.54\n"
                )
            ),
            (
                "/etc/systemd/network/60-vipd-vipd.54.netdev".to_string(),
                format!(
                    "{HEADER}# VIP device of vipd instance api (VRID 54) on eth0; networkd creates it.\n\
                     [NetDev]\n\
                     Name=vipd.54\n\
                     Kind=ipvlan\n\
                     \n\
                     [IPVLAN]\n\
                     Mode=L2\n"
                )
            ),
            (
                "/etc/systemd/network/60-vipd-vipd.54.network".to_string(),
                format!(
                    "{HEADER}# VIP device of vipd instance api (VRID 54): vipd puts the VIPs on it, networkd brings it up and keeps them.\n\
                     [Match]\n\
                     Name=vipd.54\n\
                     \n\
                     [Network]\n\
                     DHCP=no\n\
                     LinkLocalAddressing=no\n\
                     IPv6AcceptRA=no\n\
                     ConfigureWithoutCarrier=yes\n\
                     KeepConfiguration=yes\n"
                )
            ),
        ]
    );
}

fn all_three() -> Config {
    let text = format!(
        "{PLAIN}{}{}",
        MACVLAN.trim_start_matches("instances:\n"),
        IPVLAN.trim_start_matches("instances:\n")
    );
    cfg(&text)
}

#[test]
fn one_dropin_carries_every_line_of_an_interface() {
    let p = plan(&all_three(), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    let w = writes(&p);
    assert_eq!(w.len(), 5, "{w:#?}");
    assert_eq!(
        w[0],
        (
            "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf".to_string(),
            format!(
                "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices and keeps vipd's addresses.\n\
                 [Network]\n\
                 MACVLAN=vrrp.52\n\
                 IPVLAN=vipd.54\n\
                 KeepConfiguration=static\n"
            )
        )
    );
    let paths: Vec<&str> = w.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf",
            "/etc/systemd/network/60-vipd-vipd.54.netdev",
            "/etc/systemd/network/60-vipd-vipd.54.network",
            "/etc/systemd/network/60-vipd-vrrp.52.netdev",
            "/etc/systemd/network/60-vipd-vrrp.52.network",
        ]
    );
}

#[test]
fn output_does_not_depend_on_instance_order() {
    let h = host(Some(252), &[("eth0", NETPLAN_ETH0)]);
    let a = plan(&all_three(), &h);
    let mut reversed = all_three();
    reversed.instances.reverse();
    assert_eq!(a, plan(&reversed, &h));
    assert_eq!(a, plan(&all_three(), &h));
}

#[test]
fn systemd_237_uses_critical_connection() {
    let p = plan(&all_three(), &host(Some(237), &[("eth0", NETPLAN_ETH0)]));
    let w = writes(&p);
    assert_eq!(
        w[0].1,
        format!(
            "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices and keeps vipd's addresses.\n\
             [Network]\n\
             MACVLAN=vrrp.52\n\
             IPVLAN=vipd.54\n\
             \n\
             [DHCP]\n\
             CriticalConnection=yes\n"
        )
    );
    assert_eq!(
        w[4],
        (
            "/etc/systemd/network/60-vipd-vrrp.52.network".to_string(),
            format!(
                "{HEADER}# VIP device of vipd instance db (VRID 52): vipd puts the VIPs on it, networkd brings it up and keeps them.\n\
                 [Match]\n\
                 Name=vrrp.52\n\
                 \n\
                 [Network]\n\
                 DHCP=no\n\
                 LinkLocalAddressing=no\n\
                 IPv6AcceptRA=no\n\
                 ConfigureWithoutCarrier=yes\n\
                 \n\
                 [DHCP]\n\
                 CriticalConnection=yes\n"
            )
        )
    );
    for (path, content) in &w {
        assert!(!content.contains("KeepConfiguration"), "{path}");
    }
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("systemd 237 is older than 243"))
    );
    // Plain VIPs only.
    let p = plan(&cfg(PLAIN), &host(Some(242), &[("eth0", NETPLAN_ETH0)]));
    assert_eq!(
        writes(&p)[0].1,
        format!(
            "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): keeps vipd's addresses when networkd configures the link again.\n\
             [DHCP]\n\
             CriticalConnection=yes\n"
        )
    );
}

#[test]
fn unknown_version_assumes_modern_with_a_note() {
    let p = plan(&cfg(PLAIN), &host(None, &[("eth0", NETPLAN_ETH0)]));
    assert!(
        writes(&p)[0]
            .1
            .ends_with("[Network]\nKeepConfiguration=static\n")
    );
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    assert!(p.notes[0].starts_with("systemd version unknown: assuming systemd >= 243"));
    let p = plan(&cfg(PLAIN), &host(Some(243), &[("eth0", NETPLAN_ETH0)]));
    assert!(p.notes.is_empty());
}

#[test]
fn unmanaged_interface_gets_a_note_and_no_file() {
    let text = PLAIN.replace("eth0", "eth1");
    let p = plan(&cfg(&text), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    assert!(p.actions.is_empty());
    assert_eq!(
        p.notes,
        ["eth1 is not managed by systemd-networkd: nothing to persist"]
    );
}

#[test]
fn vip_device_on_unmanaged_parent_is_an_error() {
    let text = MACVLAN.replace("eth0", "eth1");
    let e = plan_install(
        &cfg(&text),
        &host(Some(252), &[("eth0", NETPLAN_ETH0)]),
        no_root(),
        Path::new(CONFIG_PATH),
    )
    .unwrap_err();
    assert!(matches!(e, NetworkdError::ParentNotManaged { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("instance \"db\": eth1 is not managed by systemd-networkd (no .network file matches it), so networkd cannot create MACVLAN vrrp.52 on it: add eth1 to netplan (ethernets: {eth1: {}})"),
        "{msg}"
    );
}

#[test]
fn vip_on_another_plain_device_protects_that_device() {
    let text = PLAIN.replace(
        "vips: [192.0.2.10/24]",
        "vips: [192.0.2.10/24, {address: 198.51.100.10/24, dev: eth1}]",
    );
    let p = plan(
        &cfg(&text),
        &host(
            Some(252),
            &[
                ("eth0", NETPLAN_ETH0),
                ("eth1", "/run/systemd/network/10-netplan-eth1.network"),
            ],
        ),
    );
    let paths: Vec<String> = writes(&p).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf",
            "/etc/systemd/network/10-netplan-eth1.network.d/50-vipd.conf",
        ]
    );
    // A VIP put on another instance's VIP device is kept by that device's file.
    let text = format!("{PLAIN}{}", MACVLAN.trim_start_matches("instances:\n")).replace(
        "vips: [192.0.2.10/24]",
        "vips: [{address: 192.0.2.10/24, dev: vrrp.52}]",
    );
    let p = plan(&cfg(&text), &host(Some(252), &[("eth0", NETPLAN_ETH0)]));
    assert!(!writes(&p)[0].1.contains("KeepConfiguration"));
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn two_interfaces_on_one_network_file() {
    let shared = "/etc/systemd/network/10-all.network";
    let two = format!(
        "{PLAIN}  - name: b\n    interface: eth1\n    vrid: 60\n    vips: [198.51.100.1/24]\n"
    );
    // Only KeepConfiguration: one drop-in for both is fine.
    let p = plan(
        &cfg(&two),
        &host(Some(252), &[("eth0", shared), ("eth1", shared)]),
    );
    assert_eq!(
        writes(&p),
        [(
            "/etc/systemd/network/10-all.network.d/50-vipd.conf".to_string(),
            format!(
                "{HEADER}# Drop-in for /etc/systemd/network/10-all.network (eth0, eth1): keeps vipd's addresses when networkd configures the link again.\n\
                 [Network]\n\
                 KeepConfiguration=static\n"
            )
        )]
    );
    // A VIP device would be attached to both: refused.
    let with_dev = format!("{two}    vip_device: {{kind: macvlan}}\n");
    let e = plan_install(
        &cfg(&with_dev),
        &host(Some(252), &[("eth0", shared), ("eth1", shared)]),
        no_root(),
        Path::new(CONFIG_PATH),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/systemd/network/10-all.network configures several of vipd's interfaces (eth0, eth1); a drop-in attaching vrrp.60 to it would attach them to every one of them: give each interface its own .network file (netplan: one entry per interface instead of a match pattern), then run vipctl networkd install again"
    );
}

#[test]
fn keep_configuration_already_set_is_not_weakened() {
    use super::render::keep_value_for_parent as k;
    assert_eq!(k(None), (Some("static".into()), None));
    assert_eq!(k(Some("no")), (Some("static".into()), None));
    assert_eq!(k(Some("static")), (Some("static".into()), None));
    let (v, note) = k(Some("yes"));
    assert_eq!(v, None);
    assert!(
        note.unwrap()
            .starts_with("already has KeepConfiguration=yes")
    );
    let (v, note) = k(Some("true"));
    assert_eq!(v, None);
    assert!(note.is_some());
    let (v, note) = k(Some("dhcp"));
    assert_eq!(v.as_deref(), Some("yes"));
    assert!(note.unwrap().contains("dhcp and static together"));
    assert_eq!(k(Some("dhcp-on-stop")).0.as_deref(), Some("yes"));
}

#[test]
fn systemd_versions() {
    assert_eq!(
        systemd_version_from(
            "systemd 252 (252.30-1~deb12u2)\n+PAM +AUDIT +SELINUX default-hierarchy=unified\n"
        ),
        Some(252)
    );
    assert_eq!(
        systemd_version_from("systemd 237\n+PAM +AUDIT\n"),
        Some(237)
    );
    assert_eq!(
        systemd_version_from("systemd 255 (255.4-1ubuntu8.4)"),
        Some(255)
    );
    assert_eq!(
        systemd_version_from("\nsystemd 245 (245.4-4ubuntu3.22)\n"),
        Some(245)
    );
    assert_eq!(systemd_version_from(""), None);
    assert_eq!(systemd_version_from("networkctl: command not found"), None);
    assert_eq!(systemd_version_from("systemd unknown"), None);
}

#[test]
fn ini_entries() {
    let text = "\u{feff}# comment\n[Match]\nName=eth0 \\\n  eth1\n; other comment\n  MACAddress = 00:11:22:33:44:55 \n\n[Network]\nAddress=192.0.2.1/24\nbroken line\n";
    assert_eq!(
        entries(text),
        [
            ("Match".into(), "Name".into(), "eth0  eth1".into()),
            (
                "Match".into(),
                "MACAddress".into(),
                "00:11:22:33:44:55".into()
            ),
            ("Network".into(), "Address".into(), "192.0.2.1/24".into()),
        ]
    );
}

#[test]
fn mac_formats() {
    let m = Some([0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc]);
    assert_eq!(parse_mac("00:11:22:aa:bb:cc"), m);
    assert_eq!(parse_mac("00:11:22:AA:BB:CC"), m);
    assert_eq!(parse_mac("00-11-22-aa-bb-cc"), m);
    assert_eq!(parse_mac("0011.22aa.bbcc"), m);
    assert_eq!(parse_mac("192.168.0.1"), None);
    assert_eq!(parse_mac("00:11:22:aa:bb"), None);
    assert_eq!(parse_mac("00:11:22:aa:bb:cc:dd"), None);
    assert_eq!(parse_mac("zz:11:22:aa:bb:cc"), None);
}

fn netfile(name: &str, text: &str) -> super::matching::NetFile {
    super::matching::NetFile {
        name: name.into(),
        path: Path::new("/etc/systemd/network").join(name),
        text: text.into(),
        dropins: Vec::new(),
    }
}

fn winner(files: &[super::matching::NetFile], name: &str, mac: Option<[u8; 6]>) -> Option<String> {
    super::matching::emulate(
        files,
        &Facts {
            name,
            mac,
            perm_mac: mac.map(Some),
        },
    )
    .winner
    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
}

#[test]
fn name_conditions_follow_networkd() {
    let f = |m: &str| vec![netfile("a.network", &format!("[Match]\n{m}\n"))];
    assert_eq!(
        winner(&f("Name=eth0"), "eth0", None).as_deref(),
        Some("a.network")
    );
    assert_eq!(winner(&f("Name=eth0"), "eth1", None), None);
    assert!(winner(&f("Name=eth1 eth0"), "eth0", None).is_some());
    assert!(winner(&f("Name=eth*"), "eth0", None).is_some());
    assert!(winner(&f("Name=e?h[0-9]"), "eth0", None).is_some());
    assert!(winner(&f("Name=!eth0"), "eth0", None).is_none());
    assert!(winner(&f("Name=!eth0"), "eth1", None).is_some());
    assert!(winner(&f("Name=!eth0 eth1"), "eth2", None).is_some());
    assert!(winner(&f("Name=!eth0\nName=en*"), "eth2", None).is_none());
    assert!(winner(&f("Name=!eth0\nName=en*"), "ens3", None).is_some());
    assert!(
        winner(&f("Name=eth0\nName="), "eth9", None).is_some(),
        "empty resets"
    );
    assert!(winner(&f(""), "anything", None).is_some(), "empty [Match]");
    assert!(winner(&[netfile("a.network", "[Network]\nDHCP=yes\n")], "x", None).is_some());
}

#[test]
fn mac_conditions_and_undecidable_keys() {
    let mac = parse_mac("52:54:00:12:34:56");
    let files = vec![
        netfile("10-a.network", "[Match]\nDriver=ixgbe\n"),
        netfile(
            "20-b.network",
            "[Match]\nMACAddress=52:54:00:aa:bb:cc 52-54-00-12-34-56\n",
        ),
    ];
    assert_eq!(winner(&files, "eth0", mac).as_deref(), Some("20-b.network"));
    let e = super::matching::emulate(
        &files,
        &Facts {
            name: "eth0",
            mac,
            perm_mac: mac.map(Some),
        },
    );
    assert_eq!(e.undecided.len(), 1);
    assert_eq!(e.undecided[0].1, ["Driver="]);
    // A known key that fails decides, whatever the unknown ones say.
    let files = vec![netfile(
        "10-a.network",
        "[Match]\nName=eth1\nDriver=ixgbe\n",
    )];
    let e = super::matching::emulate(
        &files,
        &Facts {
            name: "eth0",
            mac,
            perm_mac: mac.map(Some),
        },
    );
    assert!(e.winner.is_none() && e.undecided.is_empty());
    // MAC unknown: cannot decide.
    let files = vec![netfile(
        "10-a.network",
        "[Match]\nPermanentMACAddress=52:54:00:12:34:56\n",
    )];
    assert_eq!(winner(&files, "eth0", None), None);
    assert_eq!(winner(&files, "eth0", mac).as_deref(), Some("10-a.network"));
    // A virtual device has no permanent MAC.
    let e = super::matching::emulate(
        &files,
        &Facts {
            name: "vrrp.51",
            mac,
            perm_mac: Some(None),
        },
    );
    assert!(e.winner.is_none() && e.undecided.is_empty());
}

//! Unit tests of the netplan reader and the ifupdown renderer (no files,
//! no tools; tests/migrate_ifupdown.rs checks against netplan and ifupdown).

use std::path::{Path, PathBuf};

use super::netplan::{Kind, parse_texts};
use super::{render, utc_stamp};
use crate::config::Config;

fn np(files: &[(&str, &str)]) -> super::netplan::Netplan {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    parse_texts(&texts).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    parse_texts(&texts).expect_err("must fail").problems
}

#[test]
fn later_files_merge_scalars_override_sequences_append() {
    let n = np(&[
        (
            "/etc/netplan/10-a.yaml",
            "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      addresses: [192.0.2.5/24]\n",
        ),
        (
            "/etc/netplan/20-b.yaml",
            "network:\n  ethernets:\n    eth0:\n      dhcp4: no\n      addresses: [192.0.2.6/24]\n",
        ),
    ]);
    let d = &n.devices[0];
    assert!(!d.dhcp4);
    assert_eq!(d.addresses.len(), 2);
    assert_eq!(n.files.len(), 2);
}

#[test]
fn yaml_1_1_booleans_are_read_like_netplan() {
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    eth0: {dhcp4: yes, dhcp6: on, optional: 'true'}\n",
    )]);
    let d = &n.devices[0];
    assert!(d.dhcp4 && d.dhcp6 && d.optional);
    let p = problems(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    eth0: {dhcp4: maybe}\n",
    )]);
    assert!(p[0].contains("network.ethernets.eth0.dhcp4"), "{p:?}");
}

#[test]
fn every_unsupported_key_is_named_with_its_file() {
    let p = problems(&[
        (
            "/etc/netplan/10-a.yaml",
            "network:\n  ethernets:\n    eth0:\n      link-local: []\n      match: {driver: ixgbe, name: eth0}\n",
        ),
        (
            "/etc/netplan/20-b.yaml",
            "network:\n  vrfs: {}\n  bonds:\n    bond0:\n      interfaces: [eth0]\n      parameters: {gratuitous-arp: 3}\n",
        ),
    ]);
    let all = p.join("\n");
    for (key, file) in [
        ("network.ethernets.eth0.link-local", "10-a.yaml"),
        ("network.ethernets.eth0.match.driver", "10-a.yaml"),
        ("network.vrfs", "20-b.yaml"),
        ("network.bonds.bond0.parameters.gratuitous-arp", "20-b.yaml"),
    ] {
        assert!(
            p.iter().any(|l| l.contains(key) && l.contains(file)),
            "{key} ({file}) not reported:\n{all}"
        );
    }
    assert_eq!(p.len(), 4, "{all}");
}

#[test]
fn references_use_kernel_names_after_set_name() {
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    port1:\n      match: {macaddress: '52:54:00:00:00:01'}\n      set-name: lan1\n  vlans:\n    v10: {id: 10, link: port1}\n",
    )]);
    let v = n.devices.iter().find(|d| d.id == "v10").unwrap();
    assert_eq!(
        v.kind,
        Kind::Vlan {
            id: 10,
            link: "lan1".into()
        }
    );
    let r = render(&n, None).unwrap();
    assert!(
        r.interfaces
            .contains("pre-up ip link add link lan1 name v10 type vlan id 10")
    );
    assert_eq!(
        r.link_files[0].0,
        Path::new("/etc/systemd/network/10-vipd-migrated-lan1.link")
    );
    assert!(
        r.link_files[0]
            .1
            .contains("PermanentMACAddress=52:54:00:00:00:01\n")
    );
}

#[test]
fn a_mac_match_without_set_name_is_refused() {
    let p = problems(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    nic:\n      match: {macaddress: '52:54:00:00:00:01'}\n      dhcp4: true\n",
    )]);
    assert!(
        p[0].contains("network.ethernets.nic.match.macaddress"),
        "{p:?}"
    );
}

#[test]
fn vip_devices_use_the_daemons_mac_and_device_name() {
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    eth0: {addresses: [192.0.2.2/24, 'fd00::2/64']}\n",
    )]);
    let cfg = Config::parse(
        "instances:\n  - {name: a, interface: eth0, vrid: 7, vips: [192.0.2.9/24], vip_device: {kind: macvlan}}\n  - {name: b, interface: eth0, vrid: 8, vips: ['fd00::9/64'], vip_device: {kind: macvlan, name: v6vip}}\n  - {name: c, interface: eth0, vrid: 9, vips: [192.0.2.10/24], vip_device: {kind: ipvlan}}\n",
        Path::new("t.yaml"),
    )
    .unwrap();
    let r = render(&n, Some(&cfg)).unwrap();
    let t = &r.interfaces;
    assert!(t.contains("up ip link add link eth0 name vrrp.7 address 00:00:5e:00:01:07 type macvlan mode bridge"), "{t}");
    // IPv6-only instance: 00:00:5e:00:02:VRID (RFC 5798 7.3).
    assert!(
        t.contains("name v6vip address 00:00:5e:00:02:08 type macvlan"),
        "{t}"
    );
    assert!(
        t.contains("up ip link add link eth0 name vipd.9 type ipvlan mode l2"),
        "{t}"
    );
    assert!(t.contains("pre-down ip link del vrrp.7 || true"), "{t}");
    // The device lines are on the first stanza only.
    let first_inet6 = t.find("iface eth0 inet6").unwrap();
    assert!(t.find("vrrp.7").unwrap() < first_inet6);
}

#[test]
fn devices_come_after_what_they_are_built_on() {
    // Deliberately listed vlan-first; bridges over a bond.
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  vlans:\n    br0.5: {id: 5, link: br0}\n  bridges:\n    br0: {interfaces: [bond0]}\n  bonds:\n    bond0: {interfaces: [eth0]}\n  ethernets:\n    eth0: {}\n",
    )]);
    let t = render(&n, None).unwrap().interfaces;
    let pos = |s: &str| t.find(s).unwrap_or_else(|| panic!("{s} missing:\n{t}"));
    assert!(pos("iface eth0 ") < pos("iface bond0 "));
    assert!(pos("iface bond0 ") < pos("iface br0 "));
    assert!(pos("iface br0 ") < pos("iface br0.5 "));
}

#[test]
fn a_member_with_addresses_is_refused() {
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    eth0: {dhcp4: true}\n  bonds:\n    bond0: {interfaces: [eth0]}\n",
    )]);
    let e = render(&n, None).unwrap_err();
    assert!(e[0].contains("eth0") && e[0].contains("member"), "{e:?}");
}

#[test]
fn mtu_on_dhcp_is_a_pre_up_command() {
    let n = np(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    eth0: {dhcp4: true, mtu: 1400}\n",
    )]);
    let t = render(&n, None).unwrap().interfaces;
    assert!(
        t.contains(
            "iface eth0 inet dhcp\n    pre-up ip link set dev eth0 mtu 1400\n    metric 100\n"
        ),
        "{t}"
    );
}

#[test]
fn utc_stamps() {
    assert_eq!(utc_stamp(0), "19700101T000000Z");
    assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    assert_eq!(utc_stamp(1_795_350_896), "20261122T123456Z");
}

#[test]
fn repeated_addresses_and_routes_are_given_once_like_netplan() {
    let n = np(&[
        (
            "/etc/netplan/a.yaml",
            "network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.2/24]\n      gateway4: 10.0.0.1\n      routes: [{to: 10.1.0.0/16, via: 10.0.0.1}]\n",
        ),
        (
            "/etc/netplan/b.yaml",
            "network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.2/24]\n      routes: [{to: 10.1.0.0/16, via: 10.0.0.1}, {to: default, via: 10.0.0.1}]\n",
        ),
    ]);
    let t = render(&n, None).unwrap().interfaces;
    assert_eq!(t.matches("address 10.0.0.2/24").count(), 1, "{t}");
    assert_eq!(t.matches("10.1.0.0/16").count(), 1, "{t}");
    // The default route is the gateway's: one `gateway`, no second add.
    assert!(
        t.contains("gateway 10.0.0.1") && !t.contains("route add default"),
        "{t}"
    );
}

#[test]
fn bad_interface_names_and_duplicate_problems() {
    let p = problems(&[(
        "/etc/netplan/a.yaml",
        "network:\n  ethernets:\n    'a b': {}\n    eth0: {set-name: 'x/y', match: {macaddress: '52:54:00:00:00:01'}}\n  bonds: [x]\n",
    )]);
    assert!(
        p.iter().any(|l| l.contains("network.ethernets.a b")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains("network.ethernets.eth0.set-name")),
        "{p:?}"
    );
    assert_eq!(
        p.iter().filter(|l| l.contains("network.bonds")).count(),
        1,
        "{p:?}"
    );
}

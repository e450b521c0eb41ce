//! Tests of the configuration: every message with its line and column.

use std::time::Duration;

use super::*;
use crate::family::Family;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.yaml"))
}

const MINIMAL: &str =
    "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    let i = &c.instances[0];
    assert_eq!(i.version, VrrpVersion::V3);
    assert_eq!(i.priority, 100);
    assert!(i.preempt);
    assert_eq!(i.advert_interval, Duration::from_secs(1));
    assert_eq!(i.vips[0].prefix_len, 24);
    assert_eq!(i.garp, GarpConfig::default());
    assert_eq!(i.device_for(&i.vips[0]), "eth0");
}

#[test]
fn errors_name_line_and_column() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: 300\n    vips: [192.0.2.10]\n";
    let e = parse(text).unwrap_err();
    assert_eq!((e.line, e.column), (Some(5), Some(15)), "{e}");
    assert!(
        e.message.contains("priority 300 is out of range 1-255"),
        "{e}"
    );
    assert!(e.to_string().starts_with("test.yaml:5:15: "), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priorty: 100\n    vips: [192.0.2.10]\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.message.contains("unknown field `priorty`"), "{e}");
    let e = parse("instance: []\n").unwrap_err();
    assert!(e.message.contains("unknown field `instance`"), "{e}");
}

#[test]
fn bad_values_are_rejected_where_they_stand() {
    let cases: &[(&str, &str, usize)] = &[
        ("vrid: 0", "vrid 0 is out of range", 4),
        ("vrid: 256", "vrid 256 is out of range", 4),
        ("vrid: 51\n    interface2: x", "unknown field", 5),
    ];
    for (repl, msg, line) in cases {
        let text = MINIMAL.replace("vrid: 51", repl);
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains(msg), "{repl}: {e}");
        assert_eq!(e.line, Some(*line), "{repl}: {e}");
    }
    let e = parse(&MINIMAL.replace("192.0.2.10/24", "192.0.2.10/33")).unwrap_err();
    assert!(e.message.contains("prefix /33"), "{e}");
    assert_eq!(e.line, Some(5));
    let e = parse(&MINIMAL.replace("192.0.2.10/24", "not-an-ip")).unwrap_err();
    assert!(e.message.contains("is not an IP address"), "{e}");
    let e = parse(&MINIMAL.replace("eth0", "a/b")).unwrap_err();
    assert!(e.message.contains("not a valid interface name"), "{e}");
    assert_eq!(e.line, Some(3));
    let e = parse(&format!("{MINIMAL}    advert_interval: 15ms\n")).unwrap_err();
    assert!(e.message.contains("multiple of 10ms"), "{e}");
    let e = parse(&format!("{MINIMAL}    advert_interval: 1 fortnight\n")).unwrap_err();
    assert!(e.message.contains("unknown duration unit"), "{e}");
    assert_eq!(e.line, Some(6));
}

#[test]
fn version_rules() {
    let v2 = format!("{MINIMAL}    version: 2\n");
    assert_eq!(parse(&v2).unwrap().instances[0].version, VrrpVersion::V2);
    let e = parse(&format!("{v2}    advert_interval: 100ms\n")).unwrap_err();
    assert!(e.message.contains("whole seconds"), "{e}");
    let e = parse(&format!("{MINIMAL}    auth_pass: secret\n")).unwrap_err();
    assert!(e.message.contains("only in VRRPv2"), "{e}");
    let ok = parse(&format!("{v2}    auth_pass: secret\n")).unwrap();
    assert_eq!(ok.instances[0].auth_pass.as_deref(), Some("secret"));
    let e = parse(&format!("{v2}    auth_pass: waytoolongpassword\n")).unwrap_err();
    assert!(e.message.contains("1-8 ASCII"), "{e}");
    // auth_type: ah with its password; each misuse located and explained.
    let ah = parse(&format!(
        "{v2}    auth_type: ah\n    auth_pass: '12345678'\n"
    ))
    .unwrap();
    assert_eq!(ah.instances[0].auth_type, AuthType::Ah);
    assert!(ah.instances[0].ah_key().is_some());
    assert_eq!(ok.instances[0].auth_type, AuthType::Pass, "the default");
    assert!(ok.instances[0].ah_key().is_none());
    let e = parse(&format!("{v2}    auth_type: ah\n")).unwrap_err();
    assert!(e.message.contains("auth_type: ah needs auth_pass"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let e = parse(&format!("{v2}    auth_type: esp\n    auth_pass: x\n")).unwrap_err();
    assert!(e.message.contains("unknown variant `esp`"), "{e}");
    assert_eq!(e.line, Some(7), "{e}");
    let e = parse(&format!("{MINIMAL}    auth_type: ah\n    auth_pass: x\n")).unwrap_err();
    assert!(e.message.contains("auth_type exists only in VRRPv2"), "{e}");
    let e = parse(&v2.replace("192.0.2.10/24", "2001:db8::1/64")).unwrap_err();
    assert!(e.message.contains("IPv4 only"), "{e}");
    let e = parse(&format!("{MINIMAL}    version: 4\n")).unwrap_err();
    assert!(e.message.contains("not a VRRP version"), "{e}");
}

#[test]
fn wire_variants() {
    // Defaults: the RFC 5798 checksum only, CS6, answer a lower master.
    let d = &parse(MINIMAL).unwrap().instances[0];
    assert_eq!(d.v3_ipv4_checksum, V3Ipv4ChecksumForm::PseudoHeader);
    assert_eq!(d.v3_ipv4_checksum_accept, ChecksumAccept::Sent);
    assert_eq!(d.dscp.tos(), 0xc0);
    assert_eq!(d.lower_priority_master, LowerPriorityMaster::Reassert);
    let text = format!(
        "{MINIMAL}    v3_ipv4_checksum: group_pseudo_header\n    v3_ipv4_checksum_accept: any\n    dscp: 0\n    lower_priority_master: ignore\n"
    );
    let c = &parse(&text).unwrap().instances[0];
    assert_eq!(c.v3_ipv4_checksum, V3Ipv4ChecksumForm::GroupPseudoHeader);
    assert_eq!(c.v3_ipv4_checksum_accept, ChecksumAccept::Any);
    assert_eq!(c.dscp.tos(), 0);
    assert_eq!(c.lower_priority_master, LowerPriorityMaster::Ignore);
    let m = &parse(&format!("{MINIMAL}    v3_ipv4_checksum: message_only\n"))
        .unwrap()
        .instances[0];
    assert_eq!(m.v3_ipv4_checksum, V3Ipv4ChecksumForm::MessageOnly);
    // Located errors, with the fix.
    let e = parse(&format!("{MINIMAL}    dscp: 192\n")).unwrap_err();
    assert!(e.message.contains("out of range 0-63"), "{e}");
    assert!(e.message.contains("48 for CS6"), "{e}");
    assert_eq!(e.line, Some(6));
    let e = parse(&format!("{MINIMAL}    v3_ipv4_checksum: rfc9568\n")).unwrap_err();
    assert!(e.message.contains("message_only"), "{e}");
    assert_eq!(e.line, Some(6));
    let e = parse(&format!(
        "{MINIMAL}    version: 2\n    v3_ipv4_checksum: message_only\n"
    ))
    .unwrap_err();
    assert!(e.message.contains("VRRPv3 only"), "{e}");
}

#[test]
fn mixed_families_and_unicast() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24, \"2001:db8::10/64\"]\n    unicast:\n      peers: [192.0.2.2]\n";
    let e = parse(text).unwrap_err();
    assert!(e.message.contains("no IPv6 peer"), "{e}");
    let ok = text.replace("[192.0.2.2]", "[192.0.2.2, \"2001:db8::2\"]");
    let c = parse(&ok).unwrap();
    assert!(c.instances[0].advertises(Family::V4) && c.instances[0].advertises(Family::V6));
    let e = parse(&text.replace("peers: [192.0.2.2]", "peers: []")).unwrap_err();
    assert!(e.message.contains("unicast.peers is empty"), "{e}");
}

#[test]
fn cross_instance_conflicts_are_named() {
    let two = format!(
        "{MINIMAL}  - name: api\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.11]\n"
    );
    let e = parse(&two).unwrap_err();
    assert!(
        e.message
            .contains("\"web\" and \"api\" both use vrid 51 for IPv4 on eth0"),
        "{e}"
    );
    // Same VRID for another family is fine (RFC 5798 7.3: VRID space per family).
    let v6 = two.replace("192.0.2.11", "\"2001:db8::11\"");
    assert!(parse(&v6).is_ok());
    let dup = two.replace("name: api", "name: web").replace(
        "vrid: 51\n    vips: [192.0.2.11]",
        "vrid: 52\n    vips: [192.0.2.11]",
    );
    let e = parse(&dup).unwrap_err();
    assert!(e.message.contains("name \"web\" is already used"), "{e}");
}

#[test]
fn vip_mapping_form_and_labels() {
    let text = MINIMAL.replace(
        "vips: [192.0.2.10/24]",
        "vips:\n      - address: 192.0.2.10/24\n        label: \"eth0:web\"\n      - {address: 192.0.2.11, dev: eth1}",
    );
    let c = parse(&text).unwrap();
    let i = &c.instances[0];
    assert_eq!(i.vips[0].label.as_deref(), Some("eth0:web"));
    assert_eq!(i.device_for(&i.vips[1]), "eth1");
    let bad = text.replace("eth0:web", "lo:web");
    let e = parse(&bad).unwrap_err();
    assert!(e.message.contains("must start with \"eth0:\""), "{e}");
    let e = parse(&text.replace("dev: eth1", "device: eth1")).unwrap_err();
    assert!(e.message.contains("unknown field `device`"), "{e}");
}

#[test]
fn owner_and_state_rules() {
    let e = parse(&format!("{MINIMAL}    priority: 255\n    preempt: false\n")).unwrap_err();
    assert!(e.message.contains("always preempts"), "{e}");
    let e = parse(&format!(
        "{MINIMAL}    initial_state: master\n    preempt: false\n"
    ))
    .unwrap_err();
    assert!(e.message.contains("must start as backup"), "{e}");
    let e = parse(&format!("{MINIMAL}    excluded_vips: [192.0.2.10]\n")).unwrap_err();
    assert!(e.message.contains("listed twice"), "{e}");
}

#[test]
fn round_trips_through_yaml() {
    let text = "router_id: a\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    version: 2\n    auth_pass: pw\n    advert_interval: 2s\n    vips: [192.0.2.10/24]\n    excluded_vips: [\"2001:db8::5/64\"]\n    unicast: {sources: [192.0.2.1], peers: [192.0.2.2]}\n    vip_device: {kind: macvlan}\n    garp: {repeat: 3, interval: 10ms, refresh: 60s}\n";
    let c = parse(text).unwrap();
    let again = parse(&c.to_yaml()).unwrap();
    assert_eq!(c, again);
    assert_eq!(c.instances[0].vip_device_name().as_deref(), Some("vrrp.51"));
}

#[test]
fn networkd_section() {
    let c = parse(&format!("networkd: {{manage_files: true}}\n{MINIMAL}")).unwrap();
    assert!(c.networkd.manage_files);
    assert!(!parse(MINIMAL).unwrap().networkd.manage_files);
    let e = parse(&format!("networkd: {{manage: true}}\n{MINIMAL}")).unwrap_err();
    assert!(e.message.contains("unknown field `manage`"), "{e}");
    assert!(!parse(MINIMAL).unwrap().to_yaml().contains("networkd"));
}

#[test]
fn durations() {
    use duration_text::parse as p;
    assert_eq!(p("100ms").unwrap(), Duration::from_millis(100));
    assert_eq!(p("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(p("2").unwrap(), Duration::from_secs(2));
    assert_eq!(p("2m").unwrap(), Duration::from_secs(120));
    assert!(p("").is_err() && p("-1s").is_err() && p("1e400s").is_err());
    assert_eq!(duration_text::format(&Duration::from_millis(20)), "20ms");
    assert_eq!(duration_text::format(&Duration::from_secs(3)), "3s");
}

// --- the rules, one by one -------------------------------------------------

fn vip(s: &str) -> Vip {
    s.parse().unwrap()
}

/// An instance every rule accepts.
fn raw() -> RawInstance {
    RawInstance {
        name: "web".into(),
        interface: "eth0".into(),
        vrid: 51,
        version: VrrpVersion::V3,
        priority: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        advert_interval: Duration::from_secs(1),
        initial_state: InitialState::Backup,
        auth_type: None,
        found_vips: Default::default(),
        auth_pass: None,
        vips: vec![vip("192.0.2.10/24")],
        excluded_vips: Vec::new(),
        unicast: None,
        garp: GarpConfig::default(),
        vip_device: None,
        track: Vec::new(),
        notify: Default::default(),
        units: Vec::new(),
        v3_ipv4_checksum: Default::default(),
        v3_ipv4_checksum_accept: Default::default(),
        dscp: Default::default(),
        lower_priority_master: Default::default(),
    }
}

fn named_device(kind: VipDeviceKind, name: &str) -> Option<VipDevice> {
    Some(VipDevice {
        kind,
        name: Some(name.into()),
    })
}

fn unicast(peers: &[&str]) -> Option<UnicastConfig> {
    Some(UnicastConfig {
        sources: Vec::new(),
        peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
    })
}

#[test]
fn try_from_names_the_field_of_each_rule() {
    type Change = fn(&mut RawInstance);
    let cases: &[(Change, &str, &str)] = &[
        (
            |r| r.interface = "a/b".into(),
            "interface",
            "interface: \"a/b\" is not a valid interface name",
        ),
        (|r| r.vrid = 0, "vrid", "vrid: vrid 0 is out of range 1-255"),
        (
            |r| r.priority = 0,
            "priority",
            "priority: priority 0 is out of range 1-255",
        ),
        (
            |r| r.preempt_delay = Duration::from_secs(400 * 86400),
            "preempt_delay",
            "preempt_delay: duration \"34560000s\" is out of range",
        ),
        (
            |r| r.vips[0].prefix_len = 33,
            "vips",
            "vips[0]: prefix /33 of 192.0.2.10 is invalid",
        ),
        (
            |r| r.vips[0].label = Some("eth0:much-too-long".into()),
            "vips",
            "vips[0]: label \"eth0:much-too-long\" is longer than 15",
        ),
        (
            |r| {
                r.excluded_vips = vec![Vip {
                    address: "224.0.0.1".parse().unwrap(),
                    ..vip("192.0.2.1")
                }]
            },
            "excluded_vips",
            "excluded_vips[0]: 224.0.0.1 cannot be a virtual address",
        ),
        (
            |r| r.garp.interval = Duration::from_secs(u64::MAX),
            "garp.interval",
            "garp.interval: duration",
        ),
        (
            |r| r.vip_device = named_device(VipDeviceKind::Macvlan, "a:b"),
            "vip_device.name",
            "vip_device.name: \"a:b\" is not a valid interface name",
        ),
        (
            |r| r.name = "we b".into(),
            "name",
            "instance name \"we b\" must be 1-64 characters",
        ),
        (
            |r| r.advert_interval = Duration::from_millis(15),
            "advert_interval",
            "advert_interval 15ms is not valid for VRRPv3",
        ),
        (
            |r| r.auth_pass = Some("pw".into()),
            "auth_pass",
            "auth_pass exists only in VRRPv2",
        ),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.advert_interval = Duration::from_millis(100)
            },
            "advert_interval",
            "advert_interval 100ms is not valid for VRRPv2",
        ),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.vips = vec![vip("2001:db8::1/64")]
            },
            "vips",
            "VRRPv2 carries IPv4 only",
        ),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.auth_pass = Some("waytoolong".into())
            },
            "auth_pass",
            "auth_pass must be 1-8 ASCII characters",
        ),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.auth_type = Some(AuthType::Ah)
            },
            "auth_type",
            "auth_type: ah needs auth_pass",
        ),
        (
            |r| {
                r.auth_type = Some(AuthType::Ah);
                r.auth_pass = Some("pw".into())
            },
            "auth_type",
            "auth_type exists only in VRRPv2",
        ),
        (|r| r.vips.clear(), "vips", "vips is empty"),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.v3_ipv4_checksum = V3Ipv4ChecksumForm::MessageOnly
            },
            "v3_ipv4_checksum",
            "v3_ipv4_checksum applies to VRRPv3 only",
        ),
        (
            |r| {
                r.version = VrrpVersion::V2;
                r.v3_ipv4_checksum_accept = ChecksumAccept::Any
            },
            "v3_ipv4_checksum_accept",
            "v3_ipv4_checksum_accept applies to VRRPv3 only",
        ),
        (
            |r| r.excluded_vips = vec![vip("192.0.2.10")],
            "excluded_vips",
            "address 192.0.2.10 is listed twice",
        ),
        (
            |r| r.vips[0].label = Some("lo:web".into()),
            "vips",
            "label \"lo:web\" of 192.0.2.10 must start with \"eth0:\"",
        ),
        (
            |r| {
                r.priority = 255;
                r.preempt = false
            },
            "preempt",
            "priority 255 (address owner) always preempts",
        ),
        (
            |r| {
                r.initial_state = InitialState::Master;
                r.preempt = false
            },
            "initial_state",
            "initial_state master contradicts preempt: false",
        ),
        (
            |r| r.unicast = unicast(&[]),
            "unicast.peers",
            "unicast.peers is empty",
        ),
        (
            |r| r.unicast = unicast(&["2001:db8::2"]),
            "unicast.peers",
            "unicast peer 2001:db8::2 has no VIP of its family",
        ),
        (
            |r| r.unicast = unicast(&["224.0.0.18"]),
            "unicast.peers",
            "unicast peer 224.0.0.18 must be a unicast address",
        ),
        (
            |r| {
                r.unicast = unicast(&["192.0.2.2"]);
                r.unicast.as_mut().unwrap().sources =
                    vec!["192.0.2.1".parse().unwrap(), "192.0.2.3".parse().unwrap()]
            },
            "unicast.sources",
            "unicast.sources has two addresses of one family",
        ),
        (
            |r| {
                r.vips.push(vip("2001:db8::10/64"));
                r.unicast = unicast(&["192.0.2.2"])
            },
            "unicast.peers",
            "unicast mode but no IPv6 peer for the IPv6 VIPs",
        ),
        (
            |r| r.vip_device = named_device(VipDeviceKind::Ipvlan, "eth0"),
            "vip_device.name",
            "vip_device.name must differ from interface \"eth0\"",
        ),
    ];
    assert!(InstanceConfig::try_from(raw()).is_ok());
    for (change, field, message) in cases {
        let mut r = raw();
        change(&mut r);
        let e = InstanceConfig::try_from(r).expect_err(message);
        assert_eq!(e.field, *field, "{e}");
        assert!(e.message.starts_with(message), "{message:?}: {e}");
    }
}

#[test]
fn rule_errors_read_as_the_file_reports_them() {
    let e = InstanceConfig::try_from(RawInstance {
        priority: 255,
        preempt: false,
        ..raw()
    })
    .unwrap_err();
    let in_file = parse(&format!("{MINIMAL}    priority: 255\n    preempt: false\n")).unwrap_err();
    assert_eq!(in_file.message, e.in_instance("web"));
    // At the value of the key the rule is about.
    assert_eq!((in_file.line, in_file.column), (Some(7), Some(14)));
    // A bad name is the message itself, not its context.
    let e = InstanceConfig::try_from(RawInstance {
        name: String::new(),
        ..raw()
    })
    .unwrap_err();
    assert_eq!(e.in_instance(""), e.message);
}

#[test]
fn validate_instances_names_the_field_of_each_rule() {
    let inst = |name: &str, vrid: u8, vip_text: &str| {
        InstanceConfig::try_from(RawInstance {
            name: name.into(),
            vrid,
            vips: vec![vip(vip_text)],
            ..raw()
        })
        .unwrap()
    };
    let e = validate_instances(&[]).unwrap_err();
    assert_eq!(e.field, "instances");
    assert!(e.message.contains("instances is empty"), "{e}");

    let web = inst("web", 51, "192.0.2.10");
    assert!(validate_instances(std::slice::from_ref(&web)).is_ok());
    let e = validate_instances(&[web.clone(), inst("web", 52, "192.0.2.11")]).unwrap_err();
    assert_eq!(e.field, "name");
    assert!(
        e.message
            .starts_with("instances[1]: name \"web\" is already used by instances[0]"),
        "{e}"
    );

    // The later of two conflicting instances is the one named second.
    let e = validate_instances(&[web.clone(), inst("api", 51, "192.0.2.11")]).unwrap_err();
    assert_eq!(e.field, "vrid");
    assert!(
        e.message
            .starts_with("instances \"web\" and \"api\" both use vrid 51 for IPv4 on eth0"),
        "{e}"
    );
    // VRIDs are per family (RFC 5798 7.3).
    assert!(validate_instances(&[web.clone(), inst("api", 51, "2001:db8::11")]).is_ok());

    let mut a = inst("a", 1, "192.0.2.1");
    let mut b = inst("b", 2, "192.0.2.2");
    a.vip_device = named_device(VipDeviceKind::Macvlan, "v0");
    b.vip_device = named_device(VipDeviceKind::Ipvlan, "v0");
    let e = validate_instances(&[a, b]).unwrap_err();
    assert_eq!(e.field, "vip_device");
    assert!(
        e.message
            .starts_with("instances \"a\" and \"b\" both use VIP device v0"),
        "{e}"
    );
}

// --- service health: trackers, groups, notify, units ---------------------

const HEALTH: &str = "\
script_user: vipd-script
trackers:
  haproxy: {process: haproxy, weight: -60, fall: 2}
  pidf: {process: {pidfile: /run/x.pid, min_count: 1}}
  nox: {process: {name: evil, absent: true}}
  port: {tcp: \"127.0.0.1:80\", timeout: 500ms, on_timeout: success}
  port6: {tcp: \"[::1]:443\"}
  check: {exec: [/usr/local/bin/check, --fast], interval: 2s, rise: 2}
  legacy: {exec: \"killall -0 haproxy\", shell: true, init: down}
  svc: {unit: haproxy.service}
  bonus: {file: /run/vipd/weight, weight: 2}
  uplink: {interface: eth1, weight: -20}
instances:
  - name: web4
    interface: eth0
    vrid: 1
    priority: 150
    vips: [192.0.2.1/24]
    track: [haproxy, {tracker: port, weight: -30}, bonus]
    notify:
      master: [/usr/local/bin/notify, master]
      any: /usr/local/bin/log-state --all
      timeout: 5s
    units: [haproxy.service]
  - name: web6
    interface: eth0
    vrid: 2
    priority: 150
    vips: [\"2001:db8::1/64\"]
    track: [svc]
groups:
  lb:
    instances: [web4, web6]
    track: [uplink]
    notify: {fault: [/usr/local/bin/page]}
";

#[test]
fn health_sections_parse_and_round_trip() {
    let c = parse(HEALTH).unwrap();
    assert_eq!(c.script_user.as_deref(), Some("vipd-script"));
    assert_eq!(c.trackers.len(), 10);
    let t = &c.trackers["haproxy"];
    assert_eq!(
        t.kind,
        TrackerKind::Process(ProcessMatch {
            name: Some("haproxy".into()),
            pidfile: None,
            min_count: 1,
            absent: false
        })
    );
    assert_eq!((t.weight, t.fall, t.rise), (Some(-60), 2, 1));
    assert_eq!(t.interval, Duration::from_secs(1), "default interval");
    let port = &c.trackers["port"];
    assert_eq!(port.timeout, Duration::from_millis(500));
    assert_eq!(port.on_timeout, OnTimeout::Success);
    assert_eq!(
        c.trackers["port6"].timeout,
        Duration::from_secs(1),
        "timeout = interval"
    );
    match &c.trackers["legacy"].kind {
        TrackerKind::Exec(cmd) => {
            assert_eq!(cmd.argv, vec!["/bin/sh", "-c", "killall -0 haproxy"]);
            assert_eq!(cmd.program(), None, "a shell line with no path");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(c.trackers["legacy"].init, crate::health::Status::Down);
    let web4 = &c.instances[0];
    assert_eq!(web4.track[1].weight, Some(-30));
    assert_eq!(
        web4.notify.any.as_ref().unwrap().argv,
        vec!["/usr/local/bin/log-state", "--all"]
    );
    assert_eq!(web4.notify.timeout, Duration::from_secs(5));
    assert_eq!(web4.units, vec!["haproxy.service"]);
    assert_eq!(c.groups["lb"].instances, vec!["web4", "web6"]);
    // What vipctl import-keepalived prints parses back to the same.
    let again = parse(&c.to_yaml()).unwrap();
    assert_eq!(again, c, "{}", c.to_yaml());
}

#[test]
fn tracker_errors_say_what_to_write() {
    let one = |t: &str| {
        let text = format!("trackers:\n  x: {t}\n{MINIMAL}");
        parse(&text).unwrap_err()
    };
    let cases = [
        ("{interval: 1s}", "needs one of exec, unit, process"),
        (
            "{process: a, unit: a.service}",
            "watches one thing, this one has unit and process",
        ),
        ("{exec: [check]}", "absolute path"),
        (
            "{exec: [/bin/x, y], shell: true}",
            "give exec as one string",
        ),
        ("{unit: haproxy}", "not a systemd unit name"),
        ("{tcp: localhost}", "not an address and port"),
        ("{tcp: \"127.0.0.1:0\"}", "port 0"),
        ("{process: a/b}", "no '/'"),
        ("{process: {name: a, pidfile: /x}}", "not both"),
        ("{process: {name: a, min_count: 0}}", "absent: true"),
        (
            "{unit: a.service, timeout: 1s}",
            "exec and tcp trackers only",
        ),
        ("{process: a, weight: 300}", "out of range -254..254"),
        ("{process: a, fall: 0}", "fall 0 is out of range"),
        (
            "{process: a, interval: 1ms}",
            "interval 1ms is out of range",
        ),
        ("{file: rel/path}", "absolute path"),
        ("{file: /x, init: down}", "a file tracker weighs"),
        ("{interface: \"a b\"}", "not a valid interface name"),
        ("{process: a, sell: true}", "unknown field"),
    ];
    for (t, want) in cases {
        let e = one(t);
        assert!(e.message.contains(want), "{t}: {e}");
        assert_eq!(e.line, Some(2), "{t}: {e}");
    }
}

#[test]
fn health_rules_across_the_file_point_at_their_instance_or_group() {
    let e = parse(&HEALTH.replace("track: [svc]", "track: [svk]")).unwrap_err();
    assert!(
        e.message
            .starts_with("instance \"web6\": track: no tracker is named \"svk\""),
        "{e}"
    );
    assert_eq!(
        (e.line, e.column),
        (Some(30), Some(12)),
        "the instance's track value: {e}"
    );
    let e =
        parse(&HEALTH.replace("instances: [web4, web6]", "instances: [web4, web7]")).unwrap_err();
    assert!(
        e.message.contains("there is no instance named \"web7\""),
        "{e}"
    );
    assert_eq!(e.line, Some(32), "the group's line: {e}");
    let two = HEALTH.to_string() + "  lb2:\n    instances: [web6]\n";
    let e = parse(&two).unwrap_err();
    assert!(e.message.contains("is in groups \"lb\" and \"lb2\""), "{e}");
    let e = parse(&HEALTH.replacen("priority: 150", "priority: 140", 1)).unwrap_err();
    assert!(e.message.contains("different priority"), "{e}");
    let owner = HEALTH
        .replace("priority: 150", "priority: 255")
        .replace("groups:\n  lb:\n    instances: [web4, web6]\n    track: [uplink]\n    notify: {fault: [/usr/local/bin/page]}\n", "");
    let e = parse(&owner).unwrap_err();
    assert!(
        e.message
            .contains("priority 255 (the address owner) never moves"),
        "{e}"
    );
    let weights = HEALTH.replace(
        "track: [svc]",
        "track: [svc, {tracker: haproxy, weight: -10}]",
    );
    let e = parse(&weights).unwrap_err();
    assert!(
        e.message
            .contains("tracker \"haproxy\" is used with two weights"),
        "{e}"
    );
    let e = parse(&HEALTH.replace("script_user: vipd-script", "script_user: \"a b\"")).unwrap_err();
    assert!(e.message.contains("is not a user name"), "{e}");
    assert_eq!(e.line, Some(1));
    let e = parse(&HEALTH.replace("units: [haproxy.service]", "units: [haproxy]")).unwrap_err();
    assert!(e.message.contains("not a systemd unit name"), "{e}");
    let e = parse(&HEALTH.replace("[/usr/local/bin/page]", "[page]")).unwrap_err();
    assert!(e.message.contains("absolute path"), "{e}");
}

#[test]
fn found_vips_defaults_to_keep_and_is_checked_where_it_stands() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.instances[0].found_vips, FoundVips::Keep);
    let c = parse(&format!("{MINIMAL}    found_vips: remove\n")).unwrap();
    assert_eq!(c.instances[0].found_vips, FoundVips::Remove);
    let e = parse(&format!("{MINIMAL}    found_vips: release\n")).unwrap_err();
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("`keep` or `remove`"), "{e}");
    // Written back only when not the default (round trip).
    let text = serde_norway::to_string(&c).unwrap();
    assert!(text.contains("found_vips: remove"), "{text}");
    assert!(
        !serde_norway::to_string(&parse(MINIMAL).unwrap())
            .unwrap()
            .contains("found_vips")
    );
}

/// Every error of the file, as `vipctl check` prints them.
fn all_errors(text: &str) -> Vec<String> {
    match Config::parse_all(text, Path::new("t.yaml")) {
        Ok(_) => Vec::new(),
        Err(es) => es.iter().map(ToString::to_string).collect(),
    }
}

const KEYS: &str = "expected one of `name`, `interface`, `vrid`, `version`, `priority`, `preempt`, `preempt_delay`, `advert_interval`, `initial_state`, `auth_type`, `found_vips`, `auth_pass`, `vips`, `excluded_vips`, `unicast`, `garp`, `vip_device`, `track`, `notify`, `units`, `v3_ipv4_checksum`, `v3_ipv4_checksum_accept`, `dscp`, `lower_priority_master`";

#[test]
fn every_error_is_reported_in_one_run_sorted_by_position() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 0\n    priority: 300\n    advert_intervall: 1s\n    vips: [192.0.2.10/24]\n  - name: db\n    interface: eth0\n    vrid: 52\n    version: 2\n    vips: [2001:db8::1/64]\n    advert_interval: 100ms\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:4:11: instances[0].vrid: vrid 0 is out of range 1-255".to_string(),
            "t.yaml:5:15: instances[0].priority: priority 300 is out of range 1-255: use 1-254 for backups, 255 only on the router that owns the addresses".into(),
            format!("t.yaml:6:5: instances[0]: unknown field `advert_intervall` (did you mean `advert_interval`?), {KEYS}"),
            "t.yaml:12:11: instance \"db\": VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips".into(),
            "t.yaml:13:22: instance \"db\": advert_interval 100ms is not valid for VRRPv2: use whole seconds 1s-255s (RFC 3768 5.3.7), or version: 3 for sub-second intervals".into(),
        ]
    );
    // The daemon's one error lists them all, the first one's place kept.
    let e = parse(text).unwrap_err();
    assert_eq!((e.line, e.column), (Some(4), Some(11)));
    assert!(e.to_string().ends_with("\n5 errors"), "{e}");
    assert_eq!(e.to_string().lines().count(), 6, "{e}");
}

#[test]
fn errors_across_instances_point_at_the_later_instances_value() {
    let dup = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.11/24]\n";
    assert_eq!(
        all_errors(dup),
        [
            "t.yaml:6:11: instances[1]: name \"web\" is already used by instances[0]: names must be unique",
            "t.yaml:8:11: instances \"web\" and \"web\" both use vrid 51 for IPv4 on eth0: give one of them another vrid",
        ]
    );
    // An instance with a broken value is left out of the rules across
    // instances, and the others are still checked.
    let three = format!(
        "{dup}  - name: api\n    interface: eth0\n    vrid: 51\n    priority: 0\n    vips: [192.0.2.12/24]\n"
    );
    let errs = all_errors(&three);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert_eq!(
        errs[2],
        "t.yaml:12:11: instances \"web\" and \"api\" both use vrid 51 for IPv4 on eth0: give one of them another vrid"
    );
    assert!(
        errs[3].starts_with("t.yaml:13:15: instances[2].priority: priority 0"),
        "{errs:?}"
    );
    // A default standing in for a broken value breaks no rule of its own:
    // auth_pass is fine once version 2 is read.
    let v2 = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    version: 2x\n    auth_pass: secret\n    vips: [192.0.2.10/24]\n";
    let errs = all_errors(v2);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("t.yaml:5:14: instances[0].version: "),
        "{errs:?}"
    );
}

#[test]
fn an_instance_rule_points_at_its_own_instance() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n  - name: db\n    interface: eth0\n    version: 2\n    vrid: 52\n    vips: [192.0.2.11/24, 2001:db8::1/64]\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:10:11: instance \"db\": VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips"
        ]
    );
}

#[test]
fn mis_indented_lines_are_called_so() {
    let deeper = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n      priority: 100\n    vips: [192.0.2.10/24]\n";
    assert_eq!(
        all_errors(deeper),
        [
            "t.yaml:5:7: this looks mis-indented: `priority` is indented as part of `vrid`'s value; align it with `vrid` (read as: instances[0].vrid: invalid type: string \"51 priority\", expected vrid between 1 and 255)"
        ]
    );
    let shallower =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n   vips: [192.0.2.10/24]\n";
    assert_eq!(
        all_errors(shallower),
        [
            "t.yaml:5:4: this looks mis-indented: `vips` is indented less than the instance's other keys; align it with `vrid` (read as: instances[0]: missing field `vips`)"
        ]
    );
    let nested = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    garp:\n      vips: [192.0.2.10/24]\n";
    assert_eq!(
        all_errors(nested),
        [
            "t.yaml:6:7: this looks mis-indented: `vips` is indented as part of `garp`'s value; align it with `garp` (read as: instances[0].garp: unknown field `vips`, expected one of `repeat`, `interval`, `second_burst_after`, `refresh`)"
        ]
    );
    // A key that is really missing is not called mis-indented.
    assert_eq!(
        all_errors("instances:\n  - name: web\n    vrid: 1\n    vips: [192.0.2.10/24]\n"),
        ["t.yaml:2:5: instances[0]: missing field `interface`"]
    );
}

#[test]
fn near_miss_names_get_a_suggestion() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    initial_state: mastr\n    vips: [192.0.2.10/24]\nscript_usr: x\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:5:20: instances[0].initial_state: unknown variant `mastr` (did you mean `master`?), expected `backup` or `master`",
            "t.yaml:7:1: unknown field `script_usr` (did you mean `script_user`?), expected one of `router_id`, `instances`, `networkd`, `script_user`, `trackers`, `groups`, `metrics`",
        ]
    );
    // Far from every valid key: no guess.
    let e = parse(&MINIMAL.replace("vrid: 51", "vrid: 51\n    colour: red")).unwrap_err();
    assert_eq!(
        e.message,
        format!("instances[0]: unknown field `colour`, {KEYS}")
    );
}

#[test]
fn groups_naming_a_broken_instance_are_not_blamed_for_it() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n    track: [{tracker: nope}]\n  - name: db\n    interface: eth0\n    vrid: 0\n    vips: [192.0.2.11/24]\ngroups:\n  g:\n    instances: [web, db, nope]\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:6:12: instance \"web\": track: no tracker is named \"nope\" (there is no trackers: section)",
            "t.yaml:9:11: instances[1].vrid: vrid 0 is out of range 1-255",
        ]
    );
}

#[test]
fn garbage_ends_with_an_error_never_a_panic() {
    for junk in [
        "{",
        "instances: []\n",
        "instances:\n  -\n",
        "instances:\n  - -\n    - x: [\n",
        "\t- :\n",
        "a:\n b:\n  - c: :\n",
    ] {
        let errs = Config::parse_all(junk, Path::new("t")).unwrap_err();
        assert!(!errs.is_empty(), "{junk:?}");
    }
    assert_eq!(
        all_errors("instances: []\n"),
        ["t.yaml:1:1: instances is empty: configure at least one instance"]
    );
}

#[test]
fn names_of_trackers_and_instances_get_a_suggestion() {
    let text = "trackers:\n  nginx:\n    exec: [/bin/true]\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n    track: [{tracker: ngnix}]\ngroups:\n  g:\n    instances: [web, wbe]\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:9:12: instance \"web\": track: no tracker is named \"ngnix\" (did you mean \"nginx\"?) (the trackers are nginx)",
            "t.yaml:11:3: group \"g\": there is no instance named \"wbe\" (did you mean \"web\"?)",
        ]
    );
}

/// Every line of the example, mangled the ways hands mangle YAML: never a
/// panic, and a refused file always says why, sorted by position.
#[test]
fn mangled_lines_never_panic_and_always_explain() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/units/examples/vipd.yaml"
    ))
    .unwrap();
    let lines: Vec<&str> = example.lines().collect();
    let mut refused = 0;
    for i in 0..lines.len() {
        let l = lines[i];
        let variants = [
            String::new(),
            format!("  {l}"),
            l.strip_prefix(' ').unwrap_or(l).to_string(),
            format!("{l}\n{l}"),
            l[..l.len() / 2].to_string(),
            l.replace(':', ""),
            l.replace('_', ""),
        ];
        for v in variants {
            let mut m = lines.clone();
            m[i] = &v;
            let text = m.join("\n") + "\n";
            if let Err(errs) = Config::parse_all(&text, Path::new("t")) {
                refused += 1;
                assert!(!errs.is_empty(), "{text}");
                let places: Vec<_> = errs.iter().map(|e| (e.line, e.column)).collect();
                assert!(places.is_sorted(), "{errs:?}");
            }
        }
    }
    assert!(
        refused > lines.len(),
        "the mangling breaks the file: {refused}"
    );
}

#[test]
fn a_key_inside_a_scalar_is_called_mis_indented() {
    let text = "instances:\n  - name: web\n      interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:3:7: this looks mis-indented: `interface` is indented as part of `name`'s value; align it with `name` (read as: mapping values are not allowed in this context)"
        ]
    );
}

#[test]
fn a_shared_vip_device_points_at_the_later_instance() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n    vip_device: {kind: macvlan}\n  - name: db\n    interface: eth1\n    vrid: 51\n    vips: [192.0.2.11/24]\n    vip_device: {kind: macvlan}\n";
    assert_eq!(
        all_errors(text),
        [
            "t.yaml:11:17: instances \"web\" and \"db\" both use VIP device vrrp.51: name them apart with vip_device.name"
        ]
    );
}

/// Lists may stand at their key's column (`- name:` under `instances:`,
/// `- 192.0.2.10/24` under `vips:`): each error is still found and placed.
#[test]
fn lists_at_their_keys_column_are_read_item_by_item() {
    let text = "instances:\n- name: web\n  interface: eth0\n  vrid: 51\n  priority: 0\n  vips:\n  - 192.0.2.10/33\n- name: db\n  interface: eth0\n  vrid: 51\n  vips:\n  - 192.0.2.11/24\n  - 2001:db8::1/64\n  version: 2\n";
    let errs = all_errors(text);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("t.yaml:5:13: instances[0].priority: priority 0 is out of range"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("t.yaml:7:5: instances[0].vips[0]: "),
        "{errs:?}"
    );
    assert_eq!(
        errs[2],
        "t.yaml:11:3: instance \"db\": VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips"
    );
}

/// Random edits of the example (deletions, insertions and replacements of
/// characters YAML cares about, multi-byte ones included), with a fixed
/// seed: never a panic, and a refused file always has errors.
#[test]
fn random_edits_never_panic() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/units/examples/vipd.yaml"
    ))
    .unwrap();
    let chars: Vec<char> = example.chars().collect();
    let pool = [
        ' ', '-', ':', '\n', 'é', '\u{3000}', '#', '"', '[', '{', 'x', '\t', '1',
    ];
    let mut seed: u64 = 12345;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errs = 0;
    for _ in 0..1000 {
        let mut c = chars.clone();
        for _ in 0..(rnd() % 4 + 1) {
            let pos = (rnd() as usize) % c.len();
            match rnd() % 3 {
                0 => {
                    c.remove(pos);
                }
                1 => c.insert(pos, pool[(rnd() as usize) % pool.len()]),
                _ => c[pos] = pool[(rnd() as usize) % pool.len()],
            }
        }
        let t: String = c.into_iter().collect();
        if let Err(e) = Config::parse_all(&t, Path::new("t")) {
            assert!(!e.is_empty());
            errs += 1;
        }
    }
    assert!(errs > 100, "the edits break the file: {errs} refused");
}

/// Without `notify:` or with an empty one, an instance has the same
/// notify settings (10 s timeout), and the serialised file re-parses
/// equal (found by the config fuzz target: the derived default had 0 s).
#[test]
fn absent_and_empty_notify_are_the_same() {
    let base =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
    let without = parse(base).unwrap();
    let empty = parse(&format!("{base}    notify: {{}}\n")).unwrap();
    let null = parse(&format!("{base}    notify:\n")).unwrap();
    assert_eq!(without, empty);
    assert_eq!(without, null);
    assert_eq!(without.instances[0].notify.timeout, Duration::from_secs(10));
    assert_eq!(parse(&empty.to_yaml()).unwrap(), empty);
}

#[test]
fn metrics_listener_is_off_unless_configured_and_errors_are_located() {
    let base =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";
    let c = Config::parse(base, Path::new("t.yaml")).unwrap();
    assert_eq!(c.metrics, None, "absent key: no listener");
    let c = Config::parse(
        &format!("{base}metrics:\n  listen: 127.0.0.1:9100\n"),
        Path::new("t.yaml"),
    )
    .unwrap();
    assert_eq!(c.metrics.unwrap().listen.to_string(), "127.0.0.1:9100");
    let errors = all_errors(&format!("{base}metrics:\n  listen: 192.0.2.1:9638\n"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("t.yaml:7:")
            && errors[0].contains("192.0.2.1:9638 is not a loopback address")
            && errors[0].contains("allow_remote: true"),
        "{errors:?}"
    );
    let errors = all_errors(&format!(
        "{base}metrics:\n  listen: 9638\n  alow_remote: true\n"
    ));
    assert!(
        errors.len() == 1
            && errors[0].starts_with("t.yaml:8:3: metrics: unknown field `alow_remote`"),
        "{errors:?}"
    );
}

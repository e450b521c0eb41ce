//! Tests of the importer: the fixtures, the tokenizer, errors with their
//! file and line, every translation and its warning, and the keyword table.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::config::{
    AuthType, Command, GarpConfig, InitialState, ProcessMatch, TrackUse, TrackerConfig,
    TrackerKind, UnicastConfig, Vip, VipDevice, VipDeviceKind, VrrpVersion,
};
use crate::family::Family;
use crate::health::Status;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived")
}

fn fixture(name: &str) -> Import {
    let path = fixtures().join(name);
    import_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn import(text: &str) -> Result<Import, ImportError> {
    import_str(text, Path::new("/nonexistent/keepalived.conf"))
}

/// A successful import, which always reads back as vipd reads its file.
fn ok(text: &str) -> Import {
    let imp = import(text).unwrap_or_else(|e| panic!("{e}\n--- text ---\n{text}"));
    let yaml = imp.config.to_yaml();
    let back = Config::parse(&yaml, Path::new("imported.yaml"))
        .unwrap_or_else(|e| panic!("{e}\n--- yaml ---\n{yaml}"));
    assert_eq!(back, imp.config, "round trip:\n{yaml}");
    imp
}

fn err(text: &str) -> ImportError {
    match import(text) {
        Ok(i) => panic!("expected an error, got {:?}", i.config),
        Err(e) => e,
    }
}

/// Asserts that exactly one warning contains every one of `parts`.
#[track_caller]
fn warned(i: &Import, parts: &[&str]) {
    let hits = i
        .warnings
        .iter()
        .filter(|w| parts.iter().all(|p| w.contains(p)))
        .count();
    assert_eq!(
        hits,
        1,
        "expected one warning with {parts:?}, got:\n{}",
        i.warnings.join("\n")
    );
}

fn vip(s: &str) -> Vip {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A scratch directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("vipd-keepalived-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BASE: &str = "vrrp_instance web {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n";

fn with(extra: &str) -> String {
    format!("{BASE}{extra}\n}}\n")
}

// --- fixtures ------------------------------------------------------------

/// Every fixture imports, round-trips through vipd's parser and renders to
/// the reviewed `NAME.expected.yaml`; every error fixture fails with
/// `NAME.expected.err`. `VIPD_BLESS_FIXTURES=1` rewrites the expectations
/// (review the diff before committing).
#[test]
fn fixtures_render_the_expected_yaml() {
    let bless = std::env::var_os("VIPD_BLESS_FIXTURES").is_some();
    let mut confs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 17, "fixtures missing: {confs:?}");
    for conf in &confs {
        let imported = import_file(conf).unwrap_or_else(|e| panic!("{e}"));
        let yaml = imported.config.to_yaml();
        let back = Config::parse(&yaml, conf)
            .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", conf.display()));
        assert_eq!(back, imported.config, "{}: round trip", conf.display());
        let expected = conf.with_extension("expected.yaml");
        if bless {
            std::fs::write(&expected, &yaml).unwrap();
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with VIPD_BLESS_FIXTURES=1)",
                expected.display()
            )
        });
        assert_eq!(
            yaml,
            want,
            "{} differs from {}",
            conf.display(),
            expected.display()
        );
    }
    let mut errors: Vec<PathBuf> = std::fs::read_dir(fixtures().join("errors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    errors.sort();
    assert!(!errors.is_empty());
    for conf in &errors {
        let e = import_file(conf).expect_err("error fixture must not import");
        assert_eq!(&e.file, conf);
        let got = format!(
            "{}:{}: {}\n",
            e.file.file_name().unwrap().to_string_lossy(),
            e.line.expect("error fixtures fail at a line"),
            e.message
        );
        let expected = conf.with_extension("expected.err");
        if bless {
            std::fs::write(&expected, &got).unwrap();
        }
        let want = std::fs::read_to_string(&expected).unwrap();
        assert_eq!(got, want, "{}", conf.display());
    }
}

#[test]
fn seed002_unicast_vmac_pair() {
    for (file, prio, src, peer) in [
        ("seed002_ha_first.conf", 200, "10.200.51.32", "10.200.51.33"),
        (
            "seed002_ha_second.conf",
            100,
            "10.200.51.33",
            "10.200.51.32",
        ),
    ] {
        let imp = fixture(file);
        let i = &imp.config.instances[0];
        assert_eq!(imp.config.instances.len(), 1);
        assert_eq!((i.name.as_str(), i.interface.as_str()), ("vrrp_1", "ens3"));
        assert_eq!((i.vrid, i.priority, i.version), (1, prio, VrrpVersion::V2));
        assert_eq!(i.initial_state, InitialState::Master);
        assert!(i.preempt);
        assert_eq!(i.advert_interval, Duration::from_secs(1));
        assert_eq!(i.vips, vec![vip("10.200.51.10/32")]);
        assert!(i.excluded_vips.is_empty());
        assert_eq!(
            i.unicast,
            Some(UnicastConfig {
                sources: vec![ip(src)],
                peers: vec![ip(peer)]
            })
        );
        assert_eq!(
            i.vip_device,
            Some(VipDevice {
                kind: VipDeviceKind::Macvlan,
                name: None
            })
        );
        assert_eq!(i.auth_pass, None);
        assert_eq!(i.garp, GarpConfig::default());
        warned(
            &imp,
            &[&format!(
                "{file}:4: vrrp_instance vrrp_1: debug 2: not carried over"
            )],
        );
        // dev ens3 is the instance's interface; vmac_xmit_base is what vipd does anyway.
        assert_eq!(imp.warnings.len(), 1, "{:#?}", imp.warnings);
    }
}

#[test]
fn seed003_ah_pair() {
    let master = fixture("seed003_master.conf");
    let i = &master.config.instances[0];
    assert_eq!((i.name.as_str(), i.vrid, i.priority), ("DIENST1", 51, 100));
    assert_eq!(i.version, VrrpVersion::V2);
    // AH is carried over with its password.
    assert_eq!(i.auth_type, AuthType::Ah);
    assert_eq!(i.auth_pass.as_deref(), Some("12345678"));
    assert_eq!(i.vips, vec![vip("1.2.3.4/32")]);
    // keepalived clears state MASTER when AH is configured.
    assert_eq!(i.initial_state, InitialState::Backup);
    warned(
        &master,
        &[
            "seed003_master.conf:4:",
            "state MASTER",
            "imported as initial_state backup",
        ],
    );
    warned(
        &master,
        &["seed003_master.conf:5: vrrp_instance DIENST1: smtp_alert: not carried over"],
    );
    assert_eq!(master.warnings.len(), 2, "{:#?}", master.warnings);

    let backup = fixture("seed003_backup.conf");
    let i = &backup.config.instances[0];
    assert_eq!(
        (i.vrid, i.priority, i.initial_state),
        (51, 99, InitialState::Backup)
    );
    assert_eq!(i.auth_type, AuthType::Ah);
    assert_eq!(i.auth_pass.as_deref(), Some("12345678"));
    assert_eq!(backup.warnings.len(), 0, "{:#?}", backup.warnings);
}

#[test]
fn seed003_global_defs_follow_the_include() {
    let imp = fixture("seed003_global_defs.conf");
    assert_eq!(imp.config.router_id, None);
    assert_eq!(imp.config.instances.len(), 1);
    assert_eq!(imp.config.instances[0].name, "DIENST1");
    for (line, kw) in [
        (10, "notification_email { ... }"),
        (14, "notification_email_from root@DOMAIN.TLD"),
        (15, "smtp_server localhost"),
        (16, "smtp_connect_timeout 30"),
    ] {
        warned(
            &imp,
            &[&format!(
                "seed003_global_defs.conf:{line}: global_defs: {kw}: not carried over"
            )],
        );
    }
    // Warnings from the included file name the included file.
    warned(
        &imp,
        &["seed003_conf.d/DIENST1.conf:5: vrrp_instance DIENST1: smtp_alert"],
    );
    assert_eq!(imp.config.instances[0].auth_type, AuthType::Ah);
}

/// A use of `tracker` without a weight of its own.
fn uses(tracker: &str) -> TrackUse {
    TrackUse {
        tracker: tracker.into(),
        weight: None,
    }
}

/// A use of `tracker` with its own weight.
fn weighs(tracker: &str, weight: i32) -> TrackUse {
    TrackUse {
        tracker: tracker.into(),
        weight: Some(weight),
    }
}

fn argv(words: &[&str]) -> Command {
    Command::argv(words.iter().map(|w| w.to_string()).collect())
}

#[test]
fn seed003_tracking_and_notify() {
    let imp = fixture("seed003_track_script.conf");
    let i = &imp.config.instances[0];
    assert_eq!(i.vips, vec![vip("1.2.3.4/32")]);
    assert_eq!(i.track, vec![uses("check_service1_health")]);
    // Only the script the instance tracks: keepalived runs no other.
    assert_eq!(imp.config.trackers.len(), 1);
    let t = &imp.config.trackers["check_service1_health"];
    assert_eq!(
        t.kind,
        TrackerKind::Exec(argv(&["/etc/keepalived/check_service1_health.sh"]))
    );
    assert_eq!(
        (t.interval, t.timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    assert_eq!((t.rise, t.fall, t.weight, t.init), (4, 2, None, Status::Up));
    warned(
        &imp,
        &[
            "seed003_track_script.conf:12: vrrp_script check_service1_health: script \"/etc/keepalived/check_service1_health.sh\": imported as an exec tracker running /etc/keepalived/check_service1_health.sh",
        ],
    );
    for (line, name) in [(33, "chk_http_port"), (39, "chk_haproxy")] {
        warned(
            &imp,
            &[&format!(
                "seed003_track_script.conf:{line}: vrrp_script {name}: not used by any vrrp_instance or vrrp_sync_group: not carried over (keepalived does not run it either)"
            )],
        );
    }
    // Said once, at enable_script_security.
    warned(
        &imp,
        &[
            "seed003_track_script.conf:8: scripts: vipd runs exec trackers and notify commands as the default script user",
            "(as keepalived's enable_script_security did)",
        ],
    );
    assert_eq!(imp.warnings.len(), 4, "{:#?}", imp.warnings);
    assert_eq!(imp.config.script_user, None);

    let imp = fixture("seed003_track_interface.conf");
    let i = &imp.config.instances[0];
    assert_eq!(
        i.track,
        vec![weighs("if-eth0", 2), weighs("if-eth2", -2), uses("if-eth3")]
    );
    for (name, ifname) in [
        ("if-eth0", "eth0"),
        ("if-eth2", "eth2"),
        ("if-eth3", "eth3"),
    ] {
        assert_eq!(
            imp.config.trackers[name].kind,
            TrackerKind::Interface(ifname.into())
        );
        assert_eq!(
            imp.config.trackers[name].weight, None,
            "weights are per use"
        );
    }
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);

    let imp = fixture("seed003_notify.conf");
    let n = &imp.config.instances[0].notify;
    assert_eq!(n.any, Some(argv(&["/usr/local/sbin/notify-keepalived.sh"])));
    assert_eq!((&n.master, &n.backup, &n.fault), (&None, &None, &None));
    assert_eq!(n.timeout, Duration::from_secs(10));
    warned(
        &imp,
        &[
            "seed003_notify.conf:15: vrrp_instance DIENST1: notify /usr/local/sbin/notify-keepalived.sh: keepalived appended four arguments (GROUP|INSTANCE, the name, MASTER|BACKUP|FAULT|STOP, the priority); vipd appends none and passes the event in the environment: VIPD_KIND (instance|group), VIPD_NAME, VIPD_STATE, VIPD_PRIORITY",
        ],
    );
    warned(
        &imp,
        &[
            "seed003_notify.conf:15: scripts:",
            "which this configuration did not set",
            "killed after 10s",
        ],
    );
    assert_eq!(
        imp.warnings.len(),
        2,
        "commented-out notify_* lines are comments: {:#?}",
        imp.warnings
    );
}

#[test]
fn seed003_unicast_pair_and_excluded() {
    let m = fixture("seed003_unicast_master.conf");
    let i = &m.config.instances[0];
    assert_eq!(
        i.unicast,
        Some(UnicastConfig {
            sources: vec![ip("1.2.3.4")],
            peers: vec![ip("5.6.7.8")]
        })
    );
    assert_eq!(
        i.vip_device.as_ref().map(|d| d.kind),
        Some(VipDeviceKind::Macvlan)
    );
    assert!(m.warnings.is_empty(), "{:#?}", m.warnings);

    let b = fixture("seed003_unicast_backup.conf");
    let i = &b.config.instances[0];
    assert_eq!(
        i.unicast,
        Some(UnicastConfig {
            sources: vec![ip("5.6.7.8")],
            peers: vec![ip("1.2.3.4")]
        })
    );
    assert_eq!((i.priority, i.initial_state), (99, InitialState::Backup));
    assert_eq!(i.notify.master, Some(argv(&["/etc/keepalived/master.sh"])));
    // The script moves an elastic IP with root's credentials: the note says
    // who runs it now.
    warned(
        &b,
        &[
            "seed003_unicast_backup.conf:22: scripts: vipd runs exec trackers and notify commands as the default script user (vipd-script where it exists, else nobody; keepalived ran them as keepalived_script, else root",
        ],
    );
    assert_eq!(b.warnings.len(), 1, "{:#?}", b.warnings);

    let x = fixture("seed003_excluded.conf");
    let i = &x.config.instances[0];
    assert_eq!(i.vips, vec![vip("1.2.3.4/32")]);
    assert_eq!(
        i.excluded_vips,
        vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
    );
    assert_eq!(i.excluded_vips[0].prefix_len, 128);
    warned(&x, &["seed003_excluded.conf:16:", "IPv4-mapped"]);
}

#[test]
fn seed004_variants() {
    let mixed = fixture("seed004_mixed.conf");
    let i = &mixed.config.instances[0];
    assert_eq!(
        (i.name.as_str(), i.vrid, i.priority, i.version),
        ("VI_1", 1, 101, VrrpVersion::V2)
    );
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.vips, vec![vip("10.1.1.100/32"), vip("10.1.1.101/32")]);
    assert_eq!(
        i.excluded_vips,
        vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
    );
    warned(
        &mixed,
        &[
            "seed004_mixed.conf:17: vrrp_instance VI_1: virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2",
            "moved to excluded_vips",
        ],
    );
    // killall -0 haproxy: vipd watches the process itself.
    assert_eq!(i.track, vec![uses("chk_haproxy")]);
    let haproxy = &mixed.config.trackers["chk_haproxy"];
    assert_eq!(
        haproxy.kind,
        TrackerKind::Process(ProcessMatch {
            name: Some("haproxy".into()),
            pidfile: None,
            min_count: 1,
            absent: false,
        })
    );
    assert_eq!(
        (haproxy.interval, haproxy.weight),
        (Duration::from_secs(2), Some(2))
    );
    warned(
        &mixed,
        &[
            "seed004_mixed.conf:7: vrrp_script chk_haproxy: script \"killall -0 haproxy\": imported as the built-in tracker process: haproxy (vipd watches the process itself, no command runs)",
        ],
    );
    assert!(
        !mixed.warnings.iter().any(|w| w.contains("scripts:")),
        "no command runs"
    );

    let two = fixture("seed004_two_instances.conf");
    let [v4, v6] = two.config.instances.as_slice() else {
        panic!("two instances expected")
    };
    assert_eq!(
        (v4.name.as_str(), v4.vrid, v4.version),
        ("VI_1", 1, VrrpVersion::V2)
    );
    assert_eq!(v4.vips, vec![vip("10.1.1.100/32"), vip("10.1.1.101/32")]);
    // IPv6-only: keepalived runs it as VRRPv3, so does vipd.
    assert_eq!(
        (v6.name.as_str(), v6.vrid, v6.version),
        ("VI_2", 2, VrrpVersion::V3)
    );
    assert_eq!(
        v6.vips,
        vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
    );
    assert_eq!(v4.track, vec![uses("chk_haproxy")]);
    assert_eq!(v6.track, v4.track);
    assert!(!two.warnings.iter().any(|w| w.contains("mixes")));
    assert!(two.config.groups.is_empty());

    // The third attempt: the sync group of one IPv4 and one IPv6 instance
    // becomes one instance, and all four VIPs follow haproxy.
    let sync = fixture("seed004_sync_group.conf");
    let [merged] = sync.config.instances.as_slice() else {
        panic!("one instance expected: {:#?}", sync.config.instances)
    };
    assert!(sync.config.groups.is_empty());
    assert_eq!(
        (
            merged.name.as_str(),
            merged.vrid,
            merged.version,
            merged.priority
        ),
        ("VI_1", 1, VrrpVersion::V3, 101)
    );
    assert_eq!(
        merged.vips,
        vec![
            vip("10.1.1.100/32"),
            vip("10.1.1.101/32"),
            vip("::ffff:10.1.1.100"),
            vip("::ffff:10.1.1.101")
        ]
    );
    assert_eq!(merged.track, vec![uses("chk_haproxy")]);
    assert_eq!(sync.config.trackers["chk_haproxy"], *haproxy);
    let at = "seed004_sync_group.conf:54: vrrp_sync_group VI_1_2: ";
    warned(
        &sync,
        &[&format!(
            "{at}VI_1 (IPv4) and VI_2 (IPv6) merged into one instance, VI_1, with the VIPs of both: vipd advertises both families from one state machine"
        )],
    );
    warned(
        &sync,
        &[&format!(
            "{at}keepalived peers of this group must change too, or be replaced by vipd at the same time: VI_1 advertised VRRPv2, the merged instance advertises VRRPv3 for both families (VRRPv2 carries no IPv6): set version 3 in their VI_1; the IPv6 adverts now carry VRID 1 (was 2 in VI_2), the IPv4 instance's: set virtual_router_id 1 in their VI_2"
        )],
    );
    warned(
        &sync,
        &[&format!(
            "{at}keepalived ignored the weights of its members' trackers (VI_1: chk_haproxy weight 2; VI_2: chk_haproxy weight 2), logging \"ignoring tracked script with weights due to SYNC group\"; vipd applies them, to the merged instance VI_1: its priority now moves with them, where a keepalived peer's does not"
        )],
    );

    let excl = fixture("seed004_excluded.conf");
    assert_eq!(excl.config.router_id.as_deref(), Some("elk1"));
    assert_eq!(excl.config.instances, mixed.config.instances);
    assert!(!excl.warnings.iter().any(|w| w.contains("mixes")));
}

#[test]
fn seed000_ipvlan_dev_and_vmac() {
    let imp = fixture("seed000_ipvlan_dev.conf");
    let i = &imp.config.instances[0];
    assert_eq!(i.vips[0].dev.as_deref(), Some("keepalived0"));
    assert_eq!(i.vip_device, None);
    // Offline, the configuration alone points at vip_device (the hand-made
    // IPVLAN of the write-up), and says how to confirm it.
    assert_eq!(
        imp.warnings,
        [format!(
            "{}:14: vrrp_instance VI_1: virtual_ipaddress: 10.1.0.1/32 dev keepalived0: keepalived0 is not the instance's interface eth0; if it is an IPVLAN made by hand (check: ip -d link show keepalived0), let vipd make and keep it instead: vip_device: {{kind: ipvlan, name: keepalived0}}, and drop dev keepalived0 from the VIPs (as imported, the VIPs go on keepalived0, which must exist)",
            fixtures().join("seed000_ipvlan_dev.conf").display()
        )]
    );

    let imp = fixture("seed000_use_vmac.conf");
    let i = &imp.config.instances[0];
    assert_eq!(i.vip_device_name().as_deref(), Some("vrrp.51"));
    warned(
        &imp,
        &[
            "seed000_use_vmac.conf:21:",
            "use_vmac without vmac_xmit_base",
            "vipd transmits them from the base interface's MAC",
        ],
    );
}

/// seed 000 with what this host says about keepalived0.
fn seed000_on_host(link: HostLink) -> Vec<String> {
    let path = fixtures().join("seed000_ipvlan_dev.conf");
    let answer = move |name: &str| {
        assert_eq!(name, "keepalived0", "only the VIP's device is looked up");
        link.clone()
    };
    let options = ImportOptions {
        root: Root::Host,
        host_links: &answer,
    };
    let imp = import_path(&path, &options).unwrap_or_else(|r| panic!("{}", r.error));
    // The hint never changes the translation.
    assert_eq!(imp.config.instances[0].vip_device, None);
    imp.warnings
}

#[test]
fn the_ipvlan_hint_follows_what_the_host_has() {
    let [w] = &seed000_on_host(HostLink::Ipvlan)[..] else {
        panic!("one warning expected");
    };
    assert!(
        w.ends_with(
            "seed000_ipvlan_dev.conf:14: vrrp_instance VI_1: virtual_ipaddress: 10.1.0.1/32 dev keepalived0: keepalived0 is not the instance's interface eth0 but an IPVLAN on this host (ip -d link show keepalived0), let vipd make and keep it instead: vip_device: {kind: ipvlan, name: keepalived0}, and drop dev keepalived0 from the VIPs (as imported, the VIPs go on keepalived0, which must exist)"
        ),
        "{w}"
    );
    let [w] = &seed000_on_host(HostLink::Missing)[..] else {
        panic!("one warning expected");
    };
    assert!(
        w.contains("keepalived0 is not the instance's interface eth0 and does not exist on this host; if it is an IPVLAN made by hand on the keepalived host (check there: ip -d link show keepalived0), let vipd make and keep it instead: vip_device: {kind: ipvlan, name: keepalived0}"),
        "{w}"
    );
    // Another kind of device on this host: not an IPVLAN, no hint.
    for kind in ["macvlan", "veth", ""] {
        let w = seed000_on_host(HostLink::Other(kind.into()));
        assert!(w.is_empty(), "{kind}: {w:#?}");
    }
}

#[test]
fn the_ipvlan_hint_is_once_per_device_and_only_without_a_vip_device() {
    let text = "vrrp_instance web {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10/24 dev eth0\n    192.0.2.11/24 dev kv0\n    192.0.2.12/24 dev kv0\n  }\n  virtual_ipaddress_excluded {\n    192.0.2.13/24 dev kv1\n  }\n}\n";
    let imp = ok(text);
    let hints: Vec<&String> = imp
        .warnings
        .iter()
        .filter(|w| w.contains("vip_device"))
        .collect();
    assert_eq!(hints.len(), 2, "{hints:#?}");
    assert!(
        hints[0].starts_with("/nonexistent/keepalived.conf:6: vrrp_instance web: virtual_ipaddress: 192.0.2.11/24 dev kv0: kv0 is not"),
        "{}",
        hints[0]
    );
    assert!(
        hints[1].starts_with("/nonexistent/keepalived.conf:10: vrrp_instance web: virtual_ipaddress_excluded: 192.0.2.13/24 dev kv1: kv1 is not"),
        "{}",
        hints[1]
    );
    // With use_ipvlan or use_vmac the instance has its VIP device already.
    for vip_device in ["use_ipvlan", "use_vmac\n  vmac_xmit_base"] {
        let text = text.replace(
            "virtual_router_id 51",
            &format!("virtual_router_id 51\n  {vip_device}"),
        );
        let imp = ok(&text);
        assert!(
            !imp.warnings.iter().any(|w| w.contains("vip_device:")),
            "{vip_device}: {:#?}",
            imp.warnings
        );
    }
}

/// seed 003's /etc/keepalived tree, its main file verbatim (an absolute
/// include of conf.d/*.conf), conf.d holding the MASTER's DIENST1.conf.
fn seed003_root() -> PathBuf {
    fixtures().join("seed003_root")
}

#[test]
fn an_unmatched_include_is_reported_when_nothing_else_imports() {
    let main = seed003_root().join("etc/keepalived/keepalived.conf");
    let r = import_path(&main, &ImportOptions::OFFLINE).unwrap_err();
    let at = format!("{}:14", main.display());
    assert_eq!(
        r.unmatched_includes,
        [format!(
            "{at}: include /etc/keepalived/conf.d/*.conf: no file matches \"/etc/keepalived/conf.d/*.conf\"; skipped (keepalived skips it too)"
        )]
    );
    assert_eq!((&r.error.file, r.error.line), (&main, None));
    assert_eq!(
        r.error.message,
        format!(
            "no vrrp_instance found (after following includes): nothing to import; 1 include matched no file ({at}: include /etc/keepalived/conf.d/*.conf): for a copy of another host's configuration, import with --root DIR, DIR standing for that host's /"
        )
    );
    // A relative include matching nothing: no --root advice.
    let e = err("include nothing-here/*.conf\n");
    assert!(
        e.message.ends_with("1 include matched no file (/nonexistent/keepalived.conf:1: include nothing-here/*.conf)"),
        "{e}"
    );
}

#[test]
fn unmatched_includes_are_reported_whatever_the_error() {
    let t = TempDir::new("unmatched");
    let main = t.write(
        "keepalived.conf",
        "include a/*.conf\ninclude b/*.conf\nvrrp_instance web {\n  interface eth0\n}\n}\n",
    );
    let r = import_path(&main, &ImportOptions::OFFLINE).unwrap_err();
    assert_eq!(r.error.line, Some(6), "{}", r.error);
    let lines: Vec<String> = r
        .unmatched_includes
        .iter()
        .map(|w| w.split(": no file").next().unwrap().to_string())
        .collect();
    let m = main.display();
    assert_eq!(
        lines,
        [
            format!("{m}:1: include a/*.conf"),
            format!("{m}:2: include b/*.conf")
        ]
    );
    // An error from a later stage (vipd's rules) keeps them too.
    t.write(
        "keepalived.conf",
        "include a/*.conf\nvrrp_instance web {\n  interface eth0\n  virtual_router_id 51\n}\n",
    );
    let r = import_path(&main, &ImportOptions::OFFLINE).unwrap_err();
    assert!(r.error.message.contains("vipd rejects"), "{}", r.error);
    assert_eq!(r.unmatched_includes.len(), 1);
    // A successful import has them among its warnings.
    t.write("a/x.conf", "");
    t.write(
        "keepalived.conf",
        "include a/*.conf\ninclude c/*.conf\nvrrp_instance web {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.1\n  }\n}\n",
    );
    let imp = import_path(&main, &ImportOptions::OFFLINE).unwrap();
    assert_eq!(imp.warnings.len(), 1, "{:#?}", imp.warnings);
    assert!(imp.warnings[0].starts_with(&format!("{m}:2: include c/*.conf: no file matches")));
}

#[test]
fn root_imports_a_copy_of_another_hosts_tree() {
    let root = seed003_root();
    let options = ImportOptions {
        root: Root::Copy(&root),
        ..ImportOptions::OFFLINE
    };
    let imp = import_path(Path::new("/etc/keepalived/keepalived.conf"), &options)
        .unwrap_or_else(|r| panic!("{}", r.error));
    // The same instance as the fixture that includes conf.d relatively.
    assert_eq!(
        imp.config,
        fixture("seed003_global_defs.conf").config,
        "{:#?}",
        imp.warnings
    );
    // Warnings name the files read, under the root.
    warned(
        &imp,
        &[&format!(
            "{}:5: vrrp_instance DIENST1: smtp_alert",
            root.join("etc/keepalived/conf.d/DIENST1.conf").display()
        )],
    );
    assert!(!imp.warnings.iter().any(|w| w.contains("no file matches")));
    // `..` stops at the root, as at /.
    let imp = import_path(
        Path::new("/../../etc/./keepalived/keepalived.conf"),
        &options,
    )
    .unwrap_or_else(|r| panic!("{}", r.error));
    assert_eq!(imp.config.instances[0].name, "DIENST1");
    let t = TempDir::new("root");
    t.write("etc/conf.d/a.conf", "vrrp_instance a {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    192.0.2.1\n  }\n}\n");
    t.write("etc/main.conf", "include /../../etc/conf.d/*.conf\n");
    let copy = ImportOptions {
        root: Root::Copy(&t.0),
        ..ImportOptions::OFFLINE
    };
    let imp =
        import_path(Path::new("/etc/main.conf"), &copy).unwrap_or_else(|r| panic!("{}", r.error));
    assert_eq!(imp.config.instances[0].name, "a");
}

#[test]
fn root_errors_name_the_path_given_and_the_path_read() {
    let root = seed003_root();
    let options = ImportOptions {
        root: Root::Copy(&root),
        ..ImportOptions::OFFLINE
    };
    let r = import_path(Path::new("/etc/keepalived/missing.conf"), &options).unwrap_err();
    assert_eq!(r.error.file, Path::new("/etc/keepalived/missing.conf"));
    assert_eq!(
        r.error.message,
        format!(
            "cannot read the keepalived configuration /etc/keepalived/missing.conf (under --root {}: {}): No such file or directory (os error 2)",
            root.display(),
            root.join("etc/keepalived/missing.conf").display()
        )
    );
    // An include under the root that matches nothing names the pattern as
    // written and the glob looked up.
    let t = TempDir::new("rootinc");
    let main = t.write("etc/keepalived.conf", "include /etc/none/*.conf\n");
    let copy = ImportOptions {
        root: Root::Copy(&t.0),
        ..ImportOptions::OFFLINE
    };
    let r = import_path(Path::new("/etc/keepalived.conf"), &copy).unwrap_err();
    assert_eq!(
        r.unmatched_includes,
        [format!(
            "{}:1: include /etc/none/*.conf: no file matches {:?}; skipped (keepalived skips it too)",
            main.display(),
            t.0.join("etc/none/*.conf").display().to_string()
        )]
    );
}

// --- tokenizer -----------------------------------------------------------

#[test]
fn braces_attach_and_comments_strip() {
    let text = "vrrp_instance web{ # comment {\n  interface eth0 ! another }\n  virtual_router_id 51#glued\n  virtual_ipaddress{192.0.2.10/24 dev eth0}\n  virtual_ipaddress_excluded {\n 192.0.2.11}}\n";
    let imp = ok(text);
    let i = &imp.config.instances[0];
    assert_eq!((i.interface.as_str(), i.vrid), ("eth0", 51));
    assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
    assert_eq!(i.excluded_vips, vec![vip("192.0.2.11/32")]);
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);

    // A block may open on the next line.
    let imp = ok(
        "vrrp_instance web\n{\n interface eth0\n virtual_router_id 9\n virtual_ipaddress\n {\n 192.0.2.1\n }\n}\n",
    );
    assert_eq!(imp.config.instances[0].vrid, 9);
}

#[test]
fn quoted_strings_keep_spaces_and_comment_characters() {
    let imp = ok(&with(
        "  notify_master \"/usr/bin/do it # now ! really\"\n  authentication {\n    auth_type PASS\n    auth_pass \"a b#c!d\"\n  }",
    ));
    // keepalived splits the quoted line into words; no shell is involved.
    assert_eq!(
        imp.config.instances[0].notify.master,
        Some(argv(&["/usr/bin/do", "it", "#", "now", "!", "really"]))
    );
    assert_eq!(
        imp.config.instances[0].auth_pass.as_deref(),
        Some("a b#c!d")
    );
    // A quoted name with a space is sanitized, with a warning.
    let imp = ok(&BASE
        .replace("vrrp_instance web", "vrrp_instance \"web front/1\"")
        .replace("\n  }\n", "\n  }\n}\n"));
    assert_eq!(imp.config.instances[0].name, "web_front_1");
    warned(
        &imp,
        &["keepalived.conf:1: vrrp_instance \"web front/1\": renamed to \"web_front_1\""],
    );
    // A quoted brace is a word, not a block.
    let e = err("vrrp_instance \"{\" \"}\"\n");
    assert!(e.message.contains("exactly one name"), "{e}");
}

#[test]
fn includes_follow_sorted_globs_relative_to_the_including_file() {
    let t = TempDir::new("glob");
    let main = t.write(
        "etc/keepalived.conf",
        "global_defs {\n  router_id r1\n}\ninclude conf.d/*.conf\ninclude missing/*.conf\n",
    );
    t.write(
        "etc/conf.d/b.conf",
        "vrrp_instance b {\n  interface eth0\n  virtual_router_id 2\n  include ../vips/b.vips\n}\n",
    );
    t.write(
        "etc/conf.d/a.conf",
        "vrrp_instance a {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  bogus_keyword 1\n}\n",
    );
    t.write(
        "etc/conf.d/ignored.txt",
        "this is not keepalived syntax {\n",
    );
    t.write("etc/vips/b.vips", "virtual_ipaddress {\n  192.0.2.2\n}\n");
    let imp = import_file(&main).unwrap();
    let names: Vec<&str> = imp
        .config
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(imp.config.router_id.as_deref(), Some("r1"));
    assert_eq!(imp.config.instances[1].vips, vec![vip("192.0.2.2/32")]);
    warned(
        &imp,
        &["keepalived.conf:5: include missing/*.conf: no file matches"],
    );
    let a = t.0.join("etc/conf.d/a.conf");
    warned(
        &imp,
        &[&format!(
            "{}:7: vrrp_instance a: bogus_keyword 1: not carried over",
            a.display()
        )],
    );
    assert_eq!(imp.warnings.len(), 2, "{:#?}", imp.warnings);

    // import_str resolves includes against the origin's directory.
    let imp = import_str("include conf.d/a.conf\n", &t.0.join("etc/virtual.conf")).unwrap();
    assert_eq!(imp.config.instances[0].name, "a");
}

#[test]
fn include_loops_stop_at_depth_32() {
    let t = TempDir::new("loop");
    let main = t.write("loop.conf", "# comment\ninclude loop.conf\n");
    let e = import_file(&main).unwrap_err();
    assert_eq!(e.file, main);
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("deeper than 32 levels"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2: include loop.conf", main.display())),
        "{e}"
    );

    // 32 levels are fine.
    let t = TempDir::new("deep");
    for n in 0..32 {
        t.write(&format!("l{n}.conf"), &format!("include l{}.conf\n", n + 1));
    }
    t.write("l32.conf", &with(""));
    assert!(import_file(&t.0.join("l0.conf")).is_ok());
    t.write("l32.conf", "include l33.conf\n");
    t.write("l33.conf", &with(""));
    let e = import_file(&t.0.join("l0.conf")).unwrap_err();
    assert_eq!(
        (e.file.file_name().unwrap().to_str(), e.line),
        (Some("l32.conf"), Some(1)),
        "{e}"
    );
}

// --- errors --------------------------------------------------------------

#[test]
fn syntax_errors_name_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("vrrp_instance a {\n interface eth0\n", 1, "never closed"),
        ("global_defs {\n}\n}\n", 3, "} without a matching {"),
        (
            "vrrp_instance a {\n notify \"/bin/x\n}\n",
            2,
            "unterminated quoted string",
        ),
        ("\n{\n}\n", 2, "a block must follow a keyword"),
        ("vrrp_instance a\n", 1, "vrrp_instance needs a { } block"),
        (
            "vrrp_instance a {\n priority 100 {\n }\n}\n",
            2,
            "priority takes no { } block",
        ),
        ("@host1 vrrp_instance a {\n}\n", 1, "@host"),
        ("$IF=eth0\n", 1, "parameter definitions"),
        ("include\n", 1, "include needs a file name"),
    ];
    for (text, line, msg) in cases {
        let e = err(text);
        assert_eq!(
            e.file,
            Path::new("/nonexistent/keepalived.conf"),
            "{text:?}"
        );
        assert_eq!(e.line, Some(*line), "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: {e}");
    }
    let e = err("global_defs {\n}\n");
    assert!(e.message.contains("no vrrp_instance found"), "{e}");
    assert_eq!(
        e.to_string(),
        format!("/nonexistent/keepalived.conf: {}", e.message)
    );
}

#[test]
fn semantic_errors_name_the_instance() {
    let e =
        err("\n\nvrrp_instance a {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n");
    assert_eq!(e.line, Some(3));
    assert!(
        e.message
            .contains("vrrp_instance a has no virtual_router_id"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("/nonexistent/keepalived.conf:3: {}", e.message)
    );
    let e = err("vrrp_instance a {\n virtual_router_id 1\n}\n");
    assert_eq!(e.line, Some(1));
    assert!(
        e.message.contains("vrrp_instance a has no interface"),
        "{e}"
    );

    // vipd's own validation, pointed at the keepalived instance.
    let e = err(&format!("\n{}", with("  priority 255\n  nopreempt")));
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message
            .starts_with("vrrp_instance web: vipd rejects the translation:"),
        "{e}"
    );
    assert!(e.message.contains("always preempts"), "{e}");
    let e = err(&with("  state MASTER\n  priority 100\n  nopreempt"));
    assert!(e.message.contains("must start as backup"), "{e}");
    let e = err(
        "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress_excluded {\n 192.0.2.1\n }\n}\n",
    );
    assert!(e.message.contains("vips is empty"), "{e}");
    // Two instances with one VRID on one interface: the second is blamed.
    let two = format!(
        "{}{}",
        with(""),
        with("")
            .replace("vrrp_instance web", "vrrp_instance api")
            .replace("192.0.2.10", "192.0.2.11")
    );
    let e = err(&two);
    assert_eq!(e.line, Some(9), "{e}");
    assert!(e.message.contains("both use vrid 51"), "{e}");
    let e = err(&format!("{}{}", with(""), with("")));
    assert!(
        e.message
            .contains("defined twice (first at /nonexistent/keepalived.conf:1)"),
        "{e}"
    );
}

#[test]
fn bad_values_point_at_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "  virtual_router_id 256",
            7,
            "virtual_router_id 256 is invalid",
        ),
        ("  priority 0", 7, "priority 0 is invalid"),
        ("  advert_int 0.001", 7, "below 0.01"),
        ("  advert_int fast", 7, "advert_int fast is invalid"),
        (
            "  virtual_ipaddress {\n    192.0.2.300\n  }",
            8,
            "is not an IP address",
        ),
        (
            "  virtual_ipaddress {\n    192.0.2.3/33\n  }",
            8,
            "prefix /33",
        ),
        (
            "  unicast_peer {\n    peer.example\n  }",
            8,
            "is not an IP address",
        ),
        ("  interface eth0/1", 7, "not a valid interface name"),
        ("  version 4", 7, "VRRP version 4 is invalid"),
        ("  preempt_delay 2000", 7, "out of range"),
        ("  use_vmac\n  use_ipvlan", 1, "exclude each other"),
    ];
    for (extra, line, msg) in cases {
        let e = err(&with(extra));
        assert_eq!(e.line, Some(*line), "{extra:?}: {e}");
        assert!(e.message.contains(msg), "{extra:?}: {e}");
    }
}

// --- translation ----------------------------------------------------------

#[test]
fn versions_and_advert_intervals() {
    // keepalived's default is VRRPv2.
    let i = &ok(&with("")).config.instances[0];
    assert_eq!(i.version, VrrpVersion::V2);
    // Global and per-instance versions; sub-second adverts with v3.
    let imp = ok(&format!(
        "global_defs {{\n vrrp_version 3\n}}\n{}",
        with("  advert_int 0.1")
    ));
    let i = &imp.config.instances[0];
    assert_eq!(
        (i.version, i.advert_interval),
        (VrrpVersion::V3, Duration::from_millis(100))
    );
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
    let i = &ok(&with("  version 3\n  advert_int 2.5")).config.instances[0];
    assert_eq!(
        (i.version, i.advert_interval),
        (VrrpVersion::V3, Duration::from_millis(2500))
    );
    // v3 rounds to centiseconds, v2 to whole seconds, as keepalived does.
    let imp = ok(&with("  vrrp_version 3\n  advert_int 0.123"));
    assert_eq!(
        imp.config.instances[0].advert_interval,
        Duration::from_millis(120)
    );
    warned(
        &imp,
        &[
            "keepalived.conf:8:",
            "advert_int 0.123",
            "rounded to 0.12 s",
        ],
    );
    let imp = ok(&with("  advert_int 1.5"));
    assert_eq!(
        imp.config.instances[0].advert_interval,
        Duration::from_secs(2)
    );
    warned(
        &imp,
        &["advert_int 1.5: VRRPv2 needs whole seconds: rounded to 2 s"],
    );
    let imp = ok(&with("  advert_int 0.3"));
    assert_eq!(
        imp.config.instances[0].advert_interval,
        Duration::from_secs(1)
    );
    let imp = ok(&with("  advert_int 300"));
    assert_eq!(
        imp.config.instances[0].advert_interval,
        Duration::from_secs(255)
    );
    warned(&imp, &["at most 255 s"]);
    // IPv6-only instances are VRRPv3, even against a global version 2.
    let v6 = with("").replace("192.0.2.10/24", "2001:db8::10/64");
    let imp = ok(&format!("global_defs {{\n vrrp_version 2\n}}\n{v6}"));
    assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
    let imp = ok(&v6.replace("virtual_router_id 51", "virtual_router_id 51\n version 2"));
    assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
    warned(&imp, &["version 2: VRRPv2 carries IPv4 only"]);
}

#[test]
fn mixed_families() {
    let mixed = with("").replace("192.0.2.10/24", "192.0.2.10/24\n    2001:db8::10/64");
    // v2: the IPv6 VIPs move to excluded_vips.
    let imp = ok(&mixed);
    let i = &imp.config.instances[0];
    assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
    assert_eq!(i.excluded_vips, vec![vip("2001:db8::10/64")]);
    warned(
        &imp,
        &[
            "keepalived.conf:1: vrrp_instance web: virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2",
            "2001:db8::10/64 moved to excluded_vips",
        ],
    );
    // v3: both families are advertised; the operator is told.
    let imp = ok(&mixed.replace("interface eth0", "interface eth0\n version 3"));
    let i = &imp.config.instances[0];
    assert_eq!(i.vips, vec![vip("192.0.2.10/24"), vip("2001:db8::10/64")]);
    assert!(i.advertises(Family::V4) && i.advertises(Family::V6));
    warned(
        &imp,
        &[
            "mixes IPv4 and IPv6: vipd advertises both families",
            "ignored the IPv6 ones and advertised only IPv4",
        ],
    );
    // First VIP IPv6: keepalived made it an IPv6 (v3) instance.
    let imp = ok(&with("").replace("192.0.2.10/24", "2001:db8::10/64\n    192.0.2.10/24"));
    assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
    warned(&imp, &["ignored the IPv4 ones and advertised only IPv6"]);
    // v3 unicast with peers of one family only: the other family is not advertised.
    let imp = ok(&mixed.replace(
        "interface eth0",
        "interface eth0\n version 3\n unicast_peer {\n 192.0.2.2\n }",
    ));
    let i = &imp.config.instances[0];
    assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
    assert_eq!(i.excluded_vips, vec![vip("2001:db8::10/64")]);
    warned(
        &imp,
        &["no IPv6 unicast_peer: 2001:db8::10/64 moved to excluded_vips"],
    );
}

#[test]
fn authentication() {
    let pass =
        |p: &str| format!("  authentication {{\n    auth_type PASS\n    auth_pass {p}\n  }}");
    let imp = ok(&with(&pass("secret")));
    assert_eq!(imp.config.instances[0].auth_pass.as_deref(), Some("secret"));
    assert!(imp.warnings.is_empty());
    let imp = ok(&with(&pass("0123456789")));
    assert_eq!(
        imp.config.instances[0].auth_pass.as_deref(),
        Some("01234567")
    );
    warned(
        &imp,
        &["keepalived.conf:9: vrrp_instance web: auth_pass is longer than 8 characters: truncated"],
    );
    assert!(
        !imp.warnings[0].contains("0123456789"),
        "never echo the password"
    );
    let imp = ok(&with(&format!("  version 3\n{}", pass("secret"))));
    assert_eq!(imp.config.instances[0].auth_pass, None);
    warned(&imp, &["VRRPv3 has no authentication"]);
    let imp = ok(&with(
        "  authentication {\n    auth_type AH\n    auth_pass 1234\n  }",
    ));
    assert_eq!(imp.config.instances[0].auth_type, AuthType::Ah);
    assert_eq!(imp.config.instances[0].auth_pass.as_deref(), Some("1234"));
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
    let imp = ok(&with("  authentication {\n    auth_type PASS\n  }"));
    warned(&imp, &["auth_type PASS without auth_pass"]);
    let imp = ok(&with("  authentication {\n    auth_type AH\n  }"));
    assert_eq!(imp.config.instances[0].auth_pass, None);
    warned(&imp, &["auth_type AH without auth_pass"]);
    // VRRPv3 has no authentication: AH is dropped with a warning.
    let imp = ok(&with(
        "  version 3\n  authentication {\n    auth_type AH\n    auth_pass 1234\n  }",
    ));
    assert_eq!(imp.config.instances[0].auth_type, AuthType::Pass);
    assert_eq!(imp.config.instances[0].auth_pass, None);
    warned(&imp, &["VRRPv3 has no authentication"]);
}

#[test]
fn vips_options_and_devices() {
    let imp = ok(&with(
        "  virtual_ipaddress_excluded {\n    192.0.2.20/24 dev eth0 label eth0:web scope global brd 192.0.2.255\n    192.0.2.21 dev eth1 scope link -nodad\n    2001:db8::5/64 label eth0:v6\n  }",
    ));
    let x = &imp.config.instances[0].excluded_vips;
    assert_eq!(x[0].dev, None, "dev equal to the interface is the default");
    assert_eq!(x[0].label.as_deref(), Some("eth0:web"));
    assert_eq!(x[1].dev.as_deref(), Some("eth1"));
    assert_eq!(x[2].label, None);
    warned(
        &imp,
        &[
            "keepalived.conf:8:",
            "192.0.2.20: brd 192.0.2.255: not carried over",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:9:",
            "192.0.2.21: scope link: not carried over",
        ],
    );
    warned(&imp, &["192.0.2.21: option -nodad: not carried over"]);
    warned(&imp, &["2001:db8::5: label dropped"]);
    // A VIP on a device of its own: maybe a hand-made IPVLAN.
    warned(
        &imp,
        &[
            "keepalived.conf:9:",
            "192.0.2.21/32 dev eth1: eth1 is not the instance's interface eth0; if it is an IPVLAN",
        ],
    );
    assert_eq!(imp.warnings.len(), 5, "{:#?}", imp.warnings);
    // Duplicates are dropped with a warning, as keepalived does.
    let imp = ok(&with("  virtual_ipaddress_excluded {\n    192.0.2.10\n  }"));
    assert!(imp.config.instances[0].excluded_vips.is_empty());
    warned(&imp, &["192.0.2.10 is listed twice"]);

    // use_vmac with a name, use_ipvlan with name and address.
    let imp = ok(&with("  use_vmac vrrp.web\n  vmac_xmit_base"));
    assert_eq!(
        imp.config.instances[0].vip_device,
        Some(VipDevice {
            kind: VipDeviceKind::Macvlan,
            name: Some("vrrp.web".into())
        })
    );
    assert!(imp.warnings.is_empty());
    let imp = ok(&with("  use_ipvlan ipv.web 192.0.2.99/32 bridge"));
    assert_eq!(
        imp.config.instances[0].vip_device,
        Some(VipDevice {
            kind: VipDeviceKind::Ipvlan,
            name: Some("ipv.web".into())
        })
    );
    warned(
        &imp,
        &["use_ipvlan address 192.0.2.99/32: not carried over"],
    );
    warned(&imp, &["use_ipvlan bridge: not carried over"]);
    let imp = ok(&with("  use_ipvlan"));
    assert_eq!(
        imp.config.instances[0].vip_device_name().as_deref(),
        Some("vipd.51")
    );
}

#[test]
fn unicast_details() {
    let imp = ok(&with(
        "  unicast_src_ip 192.0.2.1 dev eth9\n  unicast_peer {\n    192.0.2.2 dev eth0\n    192.0.2.3 min_ttl 2\n    192.0.2.2\n    2001:db8::3\n  }",
    ));
    let u = imp.config.instances[0].unicast.clone().unwrap();
    assert_eq!(u.sources, vec![ip("192.0.2.1")]);
    assert_eq!(u.peers, vec![ip("192.0.2.2"), ip("192.0.2.3")]);
    warned(
        &imp,
        &["keepalived.conf:7:", "192.0.2.1 dev eth9: not carried over"],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:10:",
            "unicast_peer 192.0.2.3: min_ttl 2: not carried over",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:11:",
            "unicast_peer 192.0.2.2 is listed twice",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:12:",
            "unicast_peer 2001:db8::3: dropped, the instance has no IPv6 VIP",
        ],
    );
    assert_eq!(imp.warnings.len(), 4, "{:#?}", imp.warnings);
    let imp = ok(&with("  unicast_src_ip 192.0.2.1"));
    assert_eq!(imp.config.instances[0].unicast, None);
    warned(&imp, &["unicast_src_ip 192.0.2.1 without unicast_peer"]);
    let e = err(&with("  unicast_peer {\n    2001:db8::3\n  }"));
    assert!(
        e.message
            .contains("no unicast_peer of the VIPs' address family"),
        "{e}"
    );
}

#[test]
fn states_priorities_preemption_and_garp() {
    let i = &ok(&with("  nopreempt\n  preempt_delay 0")).config.instances[0];
    assert!(!i.preempt);
    let i = &ok(&with("  preempt\n  preempt_delay 1.5")).config.instances[0];
    assert!(i.preempt);
    assert_eq!(i.preempt_delay, Duration::from_millis(1500));
    let imp = ok(&with("  nopreempt\n  preempt_delay 10"));
    assert_eq!(imp.config.instances[0].preempt_delay, Duration::ZERO);
    warned(
        &imp,
        &["preempt_delay: dropped, it has no effect with nopreempt"],
    );
    // keepalived 2.x: MASTER without priority is the address owner.
    let imp = ok(&with("  state MASTER"));
    let i = &imp.config.instances[0];
    assert_eq!((i.priority, i.initial_state), (255, InitialState::Master));
    warned(&imp, &["state MASTER without priority"]);
    let i = &ok(&with("  priority 255")).config.instances[0];
    assert_eq!(i.initial_state, InitialState::Master);
    let imp = ok(&with("  state master"));
    assert_eq!(imp.config.instances[0].initial_state, InitialState::Backup);
    warned(&imp, &["state \"master\" is not MASTER or BACKUP"]);
    let imp = ok(&with("  priority 100\n  priority 150"));
    assert_eq!(imp.config.instances[0].priority, 150);
    warned(
        &imp,
        &[
            "keepalived.conf:8: vrrp_instance web: priority is given twice (also at /nonexistent/keepalived.conf:7)",
        ],
    );

    let imp = ok(&with(
        "  garp_master_delay 10\n  garp_master_repeat 3\n  garp_interval 0.001\n  garp_master_refresh 60\n  garp_master_refresh_repeat 2",
    ));
    let g = &imp.config.instances[0].garp;
    assert_eq!(
        *g,
        GarpConfig {
            repeat: 3,
            interval: Duration::from_millis(1),
            second_burst_after: Duration::from_secs(10),
            refresh: Duration::from_secs(60),
        }
    );
    warned(
        &imp,
        &[
            "keepalived.conf:11:",
            "garp_master_refresh_repeat 2: not carried over",
        ],
    );
    let imp = ok(&with("  garp_interval 0.01\n  gna_interval 0.05"));
    assert_eq!(
        imp.config.instances[0].garp.interval,
        Duration::from_millis(50)
    );
    warned(
        &imp,
        &[
            "keepalived.conf:8:",
            "garp_interval 10ms and gna_interval 50ms differ",
        ],
    );
    let imp = ok(&with("  garp_interval 0.01\n  gna_interval 0.01"));
    assert!(imp.warnings.is_empty());
}

#[test]
fn nothing_is_dropped_silently() {
    let imp = ok(&format!(
        "global_defs {{\n  router_id lb1\n  vrrp_strict\n  vrrp_garp_master_delay 1\n}}\n{}\nvirtual_server 192.0.2.10 80 {{\n  real_server 10.0.0.1 80 {{\n  }}\n}}\nstatic_routes {{\n}}\nfrobnicate\nvrrp_track_process p {{\n}}\n",
        with(
            "  dont_track_primary\n  accept\n  mcast_src_ip 192.0.2.1\n  track_file {\n    f\n  }\n  notify_fault /bin/x\n  virtual_routes {\n  }"
        )
    ));
    for needle in [
        "keepalived.conf:3: global_defs: vrrp_strict: not carried over",
        "keepalived.conf:4: global_defs: vrrp_garp_master_delay 1: not carried over",
        "keepalived.conf:12: vrrp_instance web: dont_track_primary: not carried over",
        "keepalived.conf:13: vrrp_instance web: accept: not carried over",
        "keepalived.conf:14: vrrp_instance web: mcast_src_ip 192.0.2.1: not carried over",
        "keepalived.conf:16: vrrp_instance web: track_file f: there is no track_file f: keepalived ignores it, not carried over",
        "keepalived.conf:18: scripts: vipd runs exec trackers and notify commands",
        "keepalived.conf:19: vrrp_instance web: virtual_routes { ... }: not carried over",
        "keepalived.conf:23: virtual_server 192.0.2.10 80 { ... }: not carried over (IPVS",
        "keepalived.conf:27: static_routes { ... }: not carried over",
        "keepalived.conf:29: frobnicate: unknown top-level keyword",
        "keepalived.conf:30: vrrp_track_process p: not used by any vrrp_instance or vrrp_sync_group: not carried over",
    ] {
        warned(&imp, &[needle]);
    }
    assert_eq!(imp.warnings.len(), 12, "{:#?}", imp.warnings);
    assert_eq!(imp.config.router_id.as_deref(), Some("lb1"));
}

#[test]
fn names_are_sanitized_and_kept_unique() {
    let a = with("").replace("vrrp_instance web", "vrrp_instance web:1");
    let b = with("")
        .replace("vrrp_instance web", "vrrp_instance web/1")
        .replace("virtual_router_id 51", "virtual_router_id 52")
        .replace("192.0.2.10", "192.0.2.11");
    let imp = ok(&format!("{a}{b}"));
    let names: Vec<&str> = imp
        .config
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["web_1", "web_1-2"]);
    warned(&imp, &["vrrp_instance \"web:1\": renamed to \"web_1\""]);
    warned(&imp, &["vrrp_instance \"web/1\": renamed to \"web_1-2\""]);
    let long = "x".repeat(80);
    let imp = ok(&with("").replace("vrrp_instance web", &format!("vrrp_instance {long}")));
    assert_eq!(imp.config.instances[0].name.len(), 64);
}

#[test]
fn output_always_parses_back() {
    let imp = ok(&format!(
        "global_defs {{\n  router_id 42\n}}\n{}",
        with(
            "  version 3\n  advert_int 0.05\n  preempt_delay 0.25\n  use_vmac\n  garp_interval 0.000125"
        )
    ));
    let yaml = imp.config.to_yaml();
    assert_eq!(
        Config::parse(&yaml, Path::new("x.yaml")).unwrap(),
        imp.config,
        "{yaml}"
    );
    assert_eq!(imp.config.router_id.as_deref(), Some("42"));
    assert_eq!(
        imp.config.instances[0].garp.interval,
        Duration::from_micros(125)
    );
    assert_eq!(
        imp.config.instances[0].vips[0].address,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let e = import_file(Path::new("/nonexistent/keepalived.conf")).unwrap_err();
    assert_eq!(e.line, None);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/keepalived.conf: cannot read"),
        "{e}"
    );
}

// --- health: trackers, notify, sync groups ----------------------------------

/// `vrrp_instance NAME` on eth0 with one VIP and `extra` in its block.
fn instance(name: &str, vrid: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  interface eth0\n  virtual_router_id {vrid}\n  virtual_ipaddress {{\n    {vip}\n  }}\n{extra}\n}}\n"
    )
}

fn process(name: &str, min_count: u32) -> TrackerKind {
    TrackerKind::Process(ProcessMatch {
        name: Some(name.into()),
        pidfile: None,
        min_count,
        absent: false,
    })
}

fn tracker<'a>(imp: &'a Import, name: &str) -> &'a TrackerConfig {
    imp.config
        .trackers
        .get(name)
        .unwrap_or_else(|| panic!("no tracker {name}: {:#?}", imp.config.trackers))
}

#[test]
fn script_idioms_become_built_in_trackers() {
    let scripts = [
        ("a", "\"killall -0 haproxy\""),
        ("b", "\"/usr/bin/killall -0 haproxy\""),
        ("c", "\"pidof nginx\""),
        ("d", "\"pgrep -x keepalived\""),
        ("e", "\"pgrep sshd\""),
        ("f", "\"</dev/tcp/127.0.0.1/80\""),
        ("g", "\"bash -c '</dev/tcp/192.0.2.1/443'\""),
        ("h", "\"sh -c 'exec 3<>/dev/tcp/localhost/8080'\""),
        ("i", "\"systemctl is-active --quiet haproxy\""),
    ];
    let mut text = String::new();
    let mut uses = String::from("  track_script {\n");
    for (n, s) in scripts {
        text += &format!("vrrp_script {n} {{\n  script {s}\n  timeout 3\n}}\n");
        uses += &format!("    {n}\n");
    }
    text += &with(&format!("{uses}  }}"));
    let imp = ok(&text);
    let names: Vec<&str> = imp.config.instances[0]
        .track
        .iter()
        .map(|u| u.tracker.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
    for (n, kind) in [
        ("a", process("haproxy", 1)),
        ("b", process("haproxy", 1)),
        ("c", process("nginx", 1)),
        ("d", process("keepalived", 1)),
        ("e", process("sshd", 1)),
        ("f", TrackerKind::Tcp("127.0.0.1:80".parse().unwrap())),
        ("g", TrackerKind::Tcp("192.0.2.1:443".parse().unwrap())),
        ("h", TrackerKind::Tcp("127.0.0.1:8080".parse().unwrap())),
        ("i", TrackerKind::Unit("haproxy.service".into())),
    ] {
        assert_eq!(tracker(&imp, n).kind, kind, "{n}");
        warned(
            &imp,
            &[
                &format!("vrrp_script {n}: script "),
                "imported as the built-in tracker",
            ],
        );
    }
    // A check's timeout applies to connects; processes and units are watched.
    assert_eq!(tracker(&imp, "f").timeout, Duration::from_secs(3));
    assert_eq!(tracker(&imp, "a").timeout, tracker(&imp, "a").interval);
    warned(
        &imp,
        &[
            "vrrp_script e:",
            "pgrep matched \"sshd\" anywhere in a process name, vipd matches the whole name",
        ],
    );
    let dash = "/dev/tcp works only if /bin/sh is bash (with dash, as on Debian and Ubuntu, its check always failed)";
    warned(&imp, &["vrrp_script f:", dash]);
    warned(
        &imp,
        &["vrrp_script h:", "localhost taken as 127.0.0.1", dash],
    );
    assert!(
        !imp.warnings
            .iter()
            .any(|w| w.contains("vrrp_script g:") && w.contains("dash"))
    );
    warned(
        &imp,
        &[
            "keepalived.conf:34: vrrp_script i: script \"systemctl is-active --quiet haproxy\": imported as the built-in tracker unit: haproxy.service (vipd follows the unit's state from systemd, no command runs)",
        ],
    );
    // No command runs: no note about scripts.
    assert_eq!(imp.warnings.len(), 9, "{:#?}", imp.warnings);
}

#[test]
fn other_scripts_become_exec_trackers() {
    let text = format!(
        "vrrp_script chk {{\n  script \"/usr/local/bin/check --fast\"\n  interval 2\n  timeout 0.5\n  rise 3\n  fall 2\n  weight -30\n  init_fail\n  user keepalived_script\n}}\nvrrp_script web {{\n  script \"/usr/bin/curl -sf http://127.0.0.1/ || exit 1\"\n}}\nvrrp_script rel {{\n  script check_web.sh --extra\n}}\n{}",
        with("  track_script {\n    chk\n    web\n    rel\n  }")
    );
    let imp = ok(&text);
    let chk = tracker(&imp, "chk");
    assert_eq!(
        chk.kind,
        TrackerKind::Exec(argv(&["/usr/local/bin/check", "--fast"]))
    );
    assert_eq!(
        (chk.interval, chk.timeout, chk.rise, chk.fall),
        (Duration::from_secs(2), Duration::from_millis(500), 3, 2)
    );
    assert_eq!((chk.weight, chk.init), (Some(-30), Status::Down));
    warned(
        &imp,
        &[
            "keepalived.conf:2: vrrp_script chk: script \"/usr/local/bin/check --fast\": imported as an exec tracker running /usr/local/bin/check: check that script",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:9: vrrp_script chk: user keepalived_script: vipd runs every script as one user, script_user, not set (vipd-script where it exists, else nobody): not carried over",
        ],
    );
    // keepalived's defaults: every second, timeout = interval.
    let web = tracker(&imp, "web");
    assert_eq!(
        web.kind,
        TrackerKind::Exec(Command::shell(
            "/usr/bin/curl -sf http://127.0.0.1/ || exit 1"
        ))
    );
    assert_eq!(
        (
            web.interval,
            web.timeout,
            web.rise,
            web.fall,
            web.weight,
            web.init
        ),
        (
            Duration::from_secs(1),
            Duration::from_secs(1),
            1,
            1,
            None,
            Status::Up
        )
    );
    warned(
        &imp,
        &[
            "vrrp_script web:",
            "imported as an exec tracker with shell: true (the line uses shell syntax",
        ],
    );
    assert_eq!(
        tracker(&imp, "rel").kind,
        TrackerKind::Exec(Command::shell("check_web.sh"))
    );
    warned(
        &imp,
        &[
            "keepalived.conf:15: vrrp_script rel: script check_web.sh --extra: keepalived runs check_web.sh only and ignores the words after it: not carried over",
        ],
    );
    warned(
        &imp,
        &[
            "vrrp_script rel:",
            "since keepalived looked check_web.sh up in PATH and vipd runs absolute paths only",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:2: scripts: vipd runs exec trackers and notify commands as the default script user",
            "which this configuration did not set",
        ],
    );
    assert_eq!(imp.warnings.len(), 6, "{:#?}", imp.warnings);

    // The user keepalived ran them as, when it is vipd's script user too.
    let imp = ok(&format!(
        "global_defs {{\n  script_user keepalived_script\n}}\n{text}"
    ));
    assert_eq!(imp.config.script_user.as_deref(), Some("keepalived_script"));
    assert!(
        !imp.warnings
            .iter()
            .any(|w| w.contains("user keepalived_script:")),
        "{:#?}",
        imp.warnings
    );
    warned(
        &imp,
        &[
            "keepalived.conf:2: scripts: vipd runs exec trackers and notify commands as script_user keepalived_script,",
        ],
    );
}

#[test]
fn weights_apply_per_use() {
    let text = format!(
        "vrrp_script chk {{\n  script \"pidof haproxy\"\n  weight -20\n}}\nvrrp_script up {{\n  script \"pidof x\"\n  weight 10 reverse\n}}\nvrrp_script plain {{\n  script \"pidof y\"\n}}\n{}{}{}{}",
        instance(
            "web",
            51,
            "192.0.2.10",
            "  track_script {\n    chk\n    up\n  }\n  track_interface {\n    eth1 weight 254\n  }"
        ),
        instance(
            "api",
            52,
            "192.0.2.11",
            "  track_script {\n    chk weight 10\n    up weight 5 noreverse\n  }"
        ),
        instance(
            "db",
            53,
            "192.0.2.12",
            "  track_script {\n    chk weight 0\n    plain weight -5\n  }"
        ),
        instance(
            "own",
            54,
            "192.0.2.13",
            "  priority 255\n  track_script {\n    chk\n    plain\n  }\n  track_interface {\n    eth1 weight -10\n    eth2\n  }"
        ),
    );
    let imp = ok(&text);
    let track = |i: usize| imp.config.instances[i].track.clone();
    // The script's weight, or the use's own.
    assert_eq!(track(0), vec![uses("chk"), weighs("if-eth1", 253)]);
    assert_eq!(track(1), vec![weighs("chk", 10), weighs("up", 5)]);
    assert_eq!(track(2), vec![weighs("chk", 0), weighs("plain", -5)]);
    assert_eq!(tracker(&imp, "chk").weight, Some(-20));
    // A reversed weight is not vipd's: the script's default is not carried.
    assert_eq!(tracker(&imp, "up").weight, None);
    warned(
        &imp,
        &[
            "keepalived.conf:20: vrrp_instance web: track_script up: reverse (the weight applied the other way round) has no vipd equivalent: not carried over",
        ],
    );
    warned(
        &imp,
        &["keepalived.conf:23: vrrp_instance web: weight 254: set to 253, as keepalived does"],
    );
    // The address owner never moves: keepalived ignores its weights.
    assert_eq!(track(3), vec![uses("plain"), uses("if-eth2")]);
    for what in ["track_script chk", "track_interface eth1 weight -10"] {
        warned(
            &imp,
            &[
                "vrrp_instance own:",
                &format!(
                    "{what}: keepalived ignores weighted trackers on the address owner (priority 255 never moves): not carried over"
                ),
            ],
        );
    }
    assert_eq!(imp.warnings.len(), 7, "{:#?}", imp.warnings);
}

#[test]
fn track_files_and_processes() {
    let text = format!(
        "track_file bonus {{\n  file /run/vipd/bonus\n  weight 3\n  init_file 5 overwrite\n}}\nvrrp_track_file flag {{\n  file /run/flag\n  weight 0\n}}\ntrack_file inv {{\n  file /run/inv\n  weight 2 reverse\n}}\nvrrp_track_process haproxy {{\n  process /usr/sbin/haproxy -f /etc/haproxy.cfg\n  quorum 2\n  weight -50\n  delay 1.5\n  quorum_max 4\n}}\nvrrp_script bonus {{\n  script \"pidof x\"\n}}\n{}{}",
        instance(
            "web",
            51,
            "192.0.2.10",
            "  track_file {\n    bonus\n    flag\n    inv\n  }\n  track_process {\n    haproxy\n  }\n  track_script {\n    bonus\n  }"
        ),
        instance(
            "api",
            52,
            "192.0.2.11",
            "  track_file {\n    flag weight 5\n    bonus weight 0 reverse\n  }"
        ),
    );
    let imp = ok(&text);
    assert_eq!(
        imp.config.instances[0].track,
        vec![
            uses("bonus-file"),
            uses("flag"),
            uses("inv"),
            uses("haproxy"),
            uses("bonus")
        ]
    );
    assert_eq!(imp.config.instances[1].track, vec![weighs("flag", 5)]);
    // keepalived names scripts and files apart; vipd has one namespace.
    assert_eq!(tracker(&imp, "bonus").kind, process("x", 1));
    let bonus = tracker(&imp, "bonus-file");
    assert_eq!(bonus.kind, TrackerKind::File("/run/vipd/bonus".into()));
    assert_eq!(bonus.weight, Some(3));
    warned(
        &imp,
        &[
            "keepalived.conf:4: track_file bonus: init_file 5 overwrite: not carried over (vipd does not create or fill the file",
        ],
    );
    // weight 0: any value but 0 is FAULT in keepalived.
    assert_eq!(tracker(&imp, "flag").weight, Some(-254));
    warned(
        &imp,
        &[
            "vrrp_instance web: track_file flag: keepalived took any value but 0 in the file as FAULT (weight 0): imported as multiplier -254",
        ],
    );
    // reverse: the value counts the other way.
    assert_eq!(tracker(&imp, "inv").weight, Some(-2));
    warned(
        &imp,
        &[
            "vrrp_instance api: track_file bonus weight 0 reverse: weight 0 reverse (FAULT while the file holds 0) has no vipd equivalent: not carried over",
        ],
    );
    // quorum is the minimum count; the rest is named.
    let h = tracker(&imp, "haproxy");
    assert_eq!(
        (h.kind.clone(), h.weight),
        (process("haproxy", 2), Some(-50))
    );
    for w in [
        "keepalived.conf:15: vrrp_track_process haproxy: process /usr/sbin/haproxy: vipd matches the process name, imported as \"haproxy\"",
        "keepalived.conf:15: vrrp_track_process haproxy: process parameters -f /etc/haproxy.cfg: not carried over (vipd matches the process name, not its command line)",
        "keepalived.conf:18: vrrp_track_process haproxy: delay 1.5: not carried over (vipd has no delays for processes",
        "keepalived.conf:19: vrrp_track_process haproxy: quorum_max 4: not carried over (vipd counts a minimum of processes only)",
    ] {
        warned(&imp, &[w]);
    }
    assert_eq!(imp.warnings.len(), 8, "{:#?}", imp.warnings);
}

#[test]
fn sync_groups_become_groups() {
    let scripts = "vrrp_script chk {\n  script \"pidof haproxy\"\n  weight 2\n}\nvrrp_script svc {\n  script \"systemctl is-active haproxy\"\n}\n";
    let a = instance("a", 51, "192.0.2.10", "  track_script {\n    chk\n  }");
    let b = instance("b", 52, "192.0.2.11", "");
    let group = "vrrp_sync_group lb {\n  group {\n    a b\n    nosuch\n  }\n  track_script {\n    svc\n  }\n  notify_master \"/usr/local/bin/lb-master --now\"\n  notify /usr/local/bin/lb-any\n}\nvrrp_sync_group other {\n  group {\n    a\n  }\n}\n";
    let imp = ok(&format!("{scripts}{a}{b}{group}"));
    let g = &imp.config.groups["lb"];
    assert_eq!(g.instances, ["a", "b"]);
    assert_eq!(g.track, vec![uses("svc")]);
    assert_eq!(
        g.notify.master,
        Some(argv(&["/usr/local/bin/lb-master", "--now"]))
    );
    assert_eq!(g.notify.any, Some(argv(&["/usr/local/bin/lb-any"])));
    assert_eq!(imp.config.groups.len(), 1);
    // The member keeps its weighted tracker: it moves the whole group now.
    assert_eq!(imp.config.instances[0].track, vec![uses("chk")]);
    let at = "keepalived.conf:26: vrrp_sync_group lb:";
    warned(
        &imp,
        &[
            at,
            "keepalived ignored the weights of its members' trackers (a: chk weight 2), logging \"ignoring tracked script with weights due to SYNC group\"; vipd applies them, once for the whole group: the group's priority now moves with them, where a keepalived peer's does not",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:29: vrrp_sync_group lb: group: nosuch: there is no vrrp_instance nosuch: keepalived ignores it, not carried over",
        ],
    );
    warned(
        &imp,
        &[
            "keepalived.conf:39: vrrp_sync_group other: group: a is in vrrp_sync_group lb already: keepalived ignores it here (an instance follows one group), not carried over",
        ],
    );
    warned(
        &imp,
        &["keepalived.conf:37: vrrp_sync_group other: no instance is left in it"],
    );
    warned(
        &imp,
        &["vrrp_sync_group lb: notify /usr/local/bin/lb-any: keepalived appended four arguments"],
    );
    // Two IPv4 instances: nothing to merge, and nothing said about it.
    assert!(
        !imp.warnings
            .iter()
            .any(|w| w.contains("merged") || w.contains("stay two"))
    );

    // sync_group_tracking_weight: keepalived applied the weights too.
    let imp = ok(&format!(
        "{scripts}{a}{b}vrrp_sync_group lb {{\n  group {{\n    a\n    b\n  }}\n  sync_group_tracking_weight\n}}\n"
    ));
    assert!(
        !imp.warnings
            .iter()
            .any(|w| w.contains("ignored the weights")),
        "{:#?}",
        imp.warnings
    );

    // vipd's rules of groups, at the sync group.
    let c = instance("c", 53, "192.0.2.12", "  priority 90");
    let e = err(&format!(
        "{scripts}{a}{c}\n\nvrrp_sync_group lb {{\n  group {{\n    a\n    c\n  }}\n}}\n"
    ));
    assert_eq!(e.line, Some(28), "{e}");
    assert!(
        e.message.starts_with("vrrp_sync_group lb: vipd rejects the translation: group \"lb\": \"a\" and \"c\" have different priority"),
        "{e}"
    );
}

/// One IPv4 and one IPv6 instance, `v4` and `v6` added to their blocks.
fn dual(v4: &str, v6: &str, group_extra: &str) -> String {
    format!(
        "{}{}vrrp_sync_group lb {{\n  group {{\n    web4\n    web6\n  }}\n{group_extra}\n}}\n",
        instance("web4", 51, "192.0.2.10", v4),
        instance("web6", 51, "2001:db8::10", v6),
    )
}

#[test]
fn dual_family_sync_groups_become_one_instance() {
    // Same VRID, VRRPv3 already: nothing changes on the wire.
    let imp = ok(&dual(
        "  version 3",
        "",
        "  notify_master /usr/local/bin/up",
    ));
    let [i] = imp.config.instances.as_slice() else {
        panic!("{:#?}", imp.config.instances)
    };
    assert_eq!(
        (i.name.as_str(), i.vrid, i.version),
        ("web4", 51, VrrpVersion::V3)
    );
    assert_eq!(i.vips, vec![vip("192.0.2.10/32"), vip("2001:db8::10/128")]);
    assert_eq!(i.notify.master, Some(argv(&["/usr/local/bin/up"])));
    assert!(imp.config.groups.is_empty());
    warned(
        &imp,
        &[
            "vrrp_sync_group lb: web4 (IPv4) and web6 (IPv6) merged into one instance, web4",
            "the group's notify commands run for the instance (VIPD_KIND=instance, VIPD_NAME=web4)",
        ],
    );
    assert!(
        !imp.warnings
            .iter()
            .any(|w| w.contains("peers of this group")),
        "{:#?}",
        imp.warnings
    );

    // Unicast: the peers of both.
    let imp = ok(&dual(
        "  version 3\n  unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2\n  }",
        "  unicast_peer {\n    2001:db8::2\n  }",
        "",
    ));
    let u = imp.config.instances[0].unicast.clone().unwrap();
    assert_eq!(
        (u.sources, u.peers),
        (
            vec![ip("192.0.2.1")],
            vec![ip("192.0.2.2"), ip("2001:db8::2")]
        )
    );

    // What one instance cannot be: they stay a group, and the note says why.
    for (v4, why) in [
        ("  advert_int 2", "they differ in advert_int"),
        (
            "  version 3\n  unicast_peer {\n    192.0.2.2\n  }",
            "they differ in unicast_peer (one uses unicast, the other multicast)",
        ),
        (
            "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }",
            "web4 authenticates with auth_pass, which VRRPv3 (needed for the IPv6 adverts) does not carry",
        ),
    ] {
        let imp = ok(&dual(v4, "", ""));
        assert_eq!(imp.config.instances.len(), 2, "{v4}");
        assert_eq!(imp.config.groups["lb"].instances, ["web4", "web6"]);
        warned(
            &imp,
            &[&format!(
                "vrrp_sync_group lb: web4 (IPv4) and web6 (IPv6) stay two instances in a vipd group rather than one instance advertising both families: {why}"
            )],
        );
    }
}

#[test]
fn notify_commands() {
    let imp = ok(&with(
        "  notify_master \"/usr/local/bin/m.sh MASTER\"\n  notify_backup \"/usr/bin/logger -t ka $STATE\"\n  notify_fault fault.sh\n  notify_stop /usr/local/bin/stop.sh keepalived_script\n  notify /usr/local/bin/any.sh\n  notify_deleted",
    ));
    let n = &imp.config.instances[0].notify;
    assert_eq!(n.master, Some(argv(&["/usr/local/bin/m.sh", "MASTER"])));
    assert_eq!(
        n.backup,
        Some(argv(&["/bin/sh", "-c", "/usr/bin/logger -t ka $STATE"]))
    );
    assert_eq!(n.fault, Some(argv(&["/bin/sh", "-c", "fault.sh"])));
    assert_eq!(n.stop, Some(argv(&["/usr/local/bin/stop.sh"])));
    assert_eq!(n.any, Some(argv(&["/usr/local/bin/any.sh"])));
    assert_eq!(n.timeout, Duration::from_secs(10));
    let at = "keepalived.conf:";
    warned(
        &imp,
        &[&format!(
            "{at}8: vrrp_instance web: notify_backup \"/usr/bin/logger -t ka $STATE\": imported as [/bin/sh, -c, ...] (the line uses shell syntax"
        )],
    );
    warned(
        &imp,
        &[&format!(
            "{at}9: vrrp_instance web: notify_fault fault.sh: imported as [/bin/sh, -c, ...], since keepalived looked the program up in PATH"
        )],
    );
    warned(
        &imp,
        &[&format!(
            "{at}10: vrrp_instance web: user keepalived_script: vipd runs every script as one user"
        )],
    );
    warned(
        &imp,
        &[&format!(
            "{at}11: vrrp_instance web: notify /usr/local/bin/any.sh: keepalived appended four arguments"
        )],
    );
    warned(
        &imp,
        &[&format!(
            "{at}12: vrrp_instance web: notify_deleted: not carried over (vipd runs notify stop, with VIPD_STATE=STOP, when a reload removes an instance"
        )],
    );
    warned(&imp, &[&format!("{at}7: scripts:"), "killed after 10s"]);
    assert_eq!(imp.warnings.len(), 6, "{:#?}", imp.warnings);
}

#[test]
fn script_user_and_security() {
    let tail = "vrrp_script chk {\n  script /usr/local/bin/check\n  user root\n}\n";
    let use_it = with("  track_script {\n    chk\n  }");
    let imp = ok(&format!(
        "global_defs {{\n  script_user root root\n  enable_script_security\n}}\n{tail}{use_it}"
    ));
    assert_eq!(imp.config.script_user.as_deref(), Some("root"));
    warned(
        &imp,
        &[
            "keepalived.conf:3: scripts: vipd runs exec trackers and notify commands as script_user root, and refuses to run a file that is not owned by root",
            "(as keepalived's enable_script_security did)",
        ],
    );
    assert_eq!(imp.warnings.len(), 2, "{:#?}", imp.warnings);
    // vipd runs scripts with the user's primary group.
    let imp = ok(&format!(
        "global_defs {{\n  script_user root daemon\n}}\n{tail}{use_it}"
    ));
    warned(
        &imp,
        &[
            "keepalived.conf:2: global_defs: script_user root daemon: vipd runs scripts with the user's primary group only: group daemon not carried over",
        ],
    );
    // The script's own user is the script user: nothing lost.
    assert!(
        !imp.warnings.iter().any(|w| w.contains("user root:")),
        "{:#?}",
        imp.warnings
    );
    // Nothing to run: nothing to say.
    let imp = ok(&format!(
        "global_defs {{\n  script_user nobody\n  enable_script_security\n}}\n{}",
        with("")
    ));
    assert_eq!(imp.config.script_user.as_deref(), Some("nobody"));
    assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
}

#[test]
fn missing_and_unused_definitions() {
    let imp = ok(&format!(
        "vrrp_script empty {{\n  interval 2\n}}\nvrrp_script spare {{\n  script /bin/true\n}}\n{}",
        with(
            "  track_script {\n    nosuch\n    empty\n    nosuch\n  }\n  track_process {\n    p\n  }"
        )
    ));
    assert!(imp.config.instances[0].track.is_empty());
    assert!(imp.config.trackers.is_empty());
    for w in [
        "keepalived.conf:14: vrrp_instance web: track_script nosuch: there is no vrrp_script nosuch: keepalived ignores it, not carried over",
        "keepalived.conf:1: vrrp_script empty: no script: keepalived removes the vrrp_script, not carried over",
        "keepalived.conf:15: vrrp_instance web: track_script empty: not carried over, as its definition (at /nonexistent/keepalived.conf:1)",
        "keepalived.conf:16: vrrp_instance web: track_script: nosuch is listed twice (also at /nonexistent/keepalived.conf:14): the repeat is dropped",
        "keepalived.conf:19: vrrp_instance web: track_process p: there is no vrrp_track_process p",
        "keepalived.conf:4: vrrp_script spare: not used by any vrrp_instance or vrrp_sync_group: not carried over (keepalived does not run it either)",
    ] {
        warned(&imp, &[w]);
    }
    assert_eq!(imp.warnings.len(), 6, "{:#?}", imp.warnings);

    // Every use dropped: nothing runs, and nothing is said of the script
    // but why its use was dropped.
    let imp = ok(&format!(
        "vrrp_script rev {{\n  script /usr/local/bin/check\n  weight 5 reverse\n  user nobody\n}}\n{}",
        with("  track_script {\n    rev\n  }")
    ));
    assert!(imp.config.trackers.is_empty());
    warned(
        &imp,
        &[
            "track_script rev: reverse (the weight applied the other way round) has no vipd equivalent: not carried over",
        ],
    );
    assert_eq!(imp.warnings.len(), 1, "{:#?}", imp.warnings);
}

#[test]
fn health_errors_point_at_their_line() {
    let use_it = with("  track_script {\n    chk\n  }");
    let cases: &[(String, usize, &str)] = &[
        (
            format!(
                "vrrp_script chk {{\n  script /bin/true\n}}\nvrrp_script chk {{\n  script /bin/false\n}}\n{use_it}"
            ),
            4,
            "vrrp_script chk is defined twice (first at /nonexistent/keepalived.conf:1); keepalived skips the second, remove one",
        ),
        (
            format!("vrrp_script chk {{\n  script /bin/true\n  weight heavy\n}}\n{use_it}"),
            3,
            "weight heavy is invalid",
        ),
        (
            format!("vrrp_script chk {{\n  script /bin/true\n  rise 0\n}}\n{use_it}"),
            3,
            "rise 0 is invalid",
        ),
        (
            format!("vrrp_script chk {{\n  script /bin/true\n  interval 0.001\n}}\n{use_it}"),
            1,
            "vrrp_script chk: vipd rejects the translation: interval 1ms is out of range",
        ),
        (
            format!(
                "vrrp_script chk {{\n  script /bin/true\n}}\n{}",
                with("  track_script {\n    chk heavy\n  }")
            ),
            11,
            "track_script chk heavy: expected NAME [weight N [reverse|noreverse]]",
        ),
        (
            format!("track_file f {{\n  file run/f\n}}\n{use_it}"),
            2,
            "file run/f: give an absolute path",
        ),
    ];
    for (text, line, msg) in cases {
        let e = err(text);
        assert_eq!(e.line, Some(*line), "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
}

// --- the keyword table -----------------------------------------------------

use super::keywords::{
    GLOBAL_DEFS, INSTANCE, Meaning, Repeat, SCRIPT, SYNC_GROUP, Section, TOP, TRACK_FILE,
    TRACK_PROCESS, Takes,
};
use super::tracking::{RawScript, RawSyncGroup, RawTrackFile, RawTrackProcess};

/// A section of the table, and how to place a statement in it.
struct Placed<T: 'static> {
    section: &'static Section<T>,
    /// What warnings about its statements start with.
    prefix: &'static str,
    /// A whole keepalived.conf with `stmt` in the section.
    place: fn(&str) -> String,
}

const IN_TOP: Placed<super::document::Document> = Placed {
    section: &TOP,
    prefix: "",
    place: |stmt| format!("{stmt}\n{}", with("")),
};

const IN_GLOBAL_DEFS: Placed<super::document::Document> = Placed {
    section: &GLOBAL_DEFS,
    prefix: "global_defs: ",
    place: |stmt| format!("global_defs {{\n{stmt}\n}}\n{}", with("")),
};

const IN_INSTANCE: Placed<RawKeepalivedInstance> = Placed {
    section: &INSTANCE,
    prefix: "vrrp_instance web: ",
    place: with,
};

/// A definition block holding `stmt`, with the line that makes it a
/// definition keepalived keeps (`first`) unless `stmt` is that line, and
/// the instance that uses it.
fn definition_with(head: &str, stmt: &str, first: &str, use_block: &str) -> String {
    let kw = first.split_whitespace().next().unwrap_or_default();
    let first = if stmt.starts_with(kw) {
        String::new()
    } else {
        format!(" {first}\n")
    };
    format!("{head} {{\n{stmt}\n{first}}}\n{}", with(use_block))
}

const IN_SCRIPT: Placed<RawScript> = Placed {
    section: &SCRIPT,
    prefix: "vrrp_script chk: ",
    place: |stmt| {
        definition_with(
            "vrrp_script chk",
            stmt,
            "script /bin/true",
            "  track_script {\n    chk\n  }",
        )
    },
};

const IN_TRACK_FILE: Placed<RawTrackFile> = Placed {
    section: &TRACK_FILE,
    prefix: "track_file f: ",
    place: |stmt| {
        definition_with(
            "track_file f",
            stmt,
            "file /run/f",
            "  track_file {\n    f\n  }",
        )
    },
};

const IN_TRACK_PROCESS: Placed<RawTrackProcess> = Placed {
    section: &TRACK_PROCESS,
    prefix: "vrrp_track_process p: ",
    place: |stmt| {
        definition_with(
            "vrrp_track_process p",
            stmt,
            "process haproxy",
            "  track_process {\n    p\n  }",
        )
    },
};

const IN_SYNC_GROUP: Placed<RawSyncGroup> = Placed {
    section: &SYNC_GROUP,
    prefix: "vrrp_sync_group g: ",
    place: |stmt| {
        let group = if stmt.starts_with("group") {
            ""
        } else {
            " group {\n  web\n }\n"
        };
        format!("{}vrrp_sync_group g {{\n{stmt}\n{group}}}\n", with(""))
    },
};

/// A statement each translated keyword accepts: the words after the
/// keyword, or the block's content. A keyword added to the table without a
/// sample here fails the tests below until it has one.
fn sample(kw: &str) -> &'static str {
    match kw {
        "interface" => "eth0",
        "state" => "BACKUP",
        "virtual_router_id" => "51",
        "priority" => "100",
        "advert_int" => "1",
        "preempt_delay" => "1",
        "version" | "vrrp_version" => "2",
        "unicast_src_ip" => "192.0.2.1",
        "garp_master_delay" | "garp_master_repeat" | "garp_master_refresh" => "1",
        "garp_interval" | "gna_interval" => "0.01",
        "nopreempt" | "preempt" | "use_vmac" | "vmac_xmit_base" | "use_ipvlan" => "",
        "old_unicast_checksum" | "v3_checksum_as_v2" => "",
        "router_id" => "r1",
        "authentication" => "auth_type PASS\n auth_pass pw",
        "virtual_ipaddress" => "192.0.2.20",
        "virtual_ipaddress_excluded" => "192.0.2.21",
        "unicast_peer" => "192.0.2.2",
        "global_defs" => "",
        "script_user" => "root",
        "enable_script_security" => "",
        "script" => "/bin/true",
        "interval" | "timeout" | "weight" | "rise" | "fall" | "quorum" => "2",
        "user" => "root",
        "init_fail" | "sync_group_tracking_weight" | "global_tracking" => "",
        "file" => "/run/x",
        "process" => "haproxy",
        "group" => "web",
        "track_script" => "chk",
        "track_interface" => "eth1",
        "track_file" => "f",
        "track_process" => "p",
        "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" => {
            "/bin/true"
        }
        other => panic!("no sample statement for {other:?}: add one to sample()"),
    }
}

/// The block of a definition each keyword that names one accepts.
fn definition(kw: &str) -> &'static str {
    match kw {
        "vrrp_instance" => {
            "interface eth1\n virtual_router_id 9\n virtual_ipaddress {\n 192.0.2.9\n }"
        }
        "vrrp_script" => "script /bin/true",
        "track_file" | "vrrp_track_file" => "file /run/x",
        "vrrp_track_process" => "process haproxy",
        "vrrp_sync_group" => "group {\n web\n }",
        other => panic!("no sample definition for {other:?}: add one to definition()"),
    }
}

/// The keyword as written with its sample.
fn statement(kw: &str, takes: Takes) -> String {
    match takes {
        Takes::Words => format!("{kw} {}", sample(kw)),
        Takes::Block => format!("{kw} {{\n {}\n}}", sample(kw)),
        Takes::NamedBlock => format!("{kw} x {{\n {}\n}}", definition(kw)),
    }
}

fn translated<T>(p: &Placed<T>) -> impl Iterator<Item = (&'static str, Takes, Repeat)> {
    p.section.all().filter_map(|k| match k.meaning {
        Meaning::Translated { takes, repeat, .. } => Some((k.name, takes, repeat)),
        _ => None,
    })
}

#[test]
fn the_table_lists_each_keyword_once() {
    fn once<T>(p: &Placed<T>) {
        let mut names = std::collections::HashSet::new();
        for k in p.section.all() {
            assert!(
                names.insert(k.name),
                "{:?}{} is listed twice",
                p.prefix,
                k.name
            );
        }
    }
    once(&IN_TOP);
    once(&IN_GLOBAL_DEFS);
    once(&IN_INSTANCE);
    once(&IN_SCRIPT);
    once(&IN_TRACK_FILE);
    once(&IN_TRACK_PROCESS);
    once(&IN_SYNC_GROUP);
}

#[test]
fn every_translated_keyword_imports_its_sample() {
    fn check<T>(p: &Placed<T>) {
        for (kw, takes, _) in translated(p) {
            let text = (p.place)(&statement(kw, takes));
            let imp = ok(&text);
            assert!(
                !imp.warnings.iter().any(|w| w.contains(&format!("{kw}:"))),
                "{kw}: {:#?}",
                imp.warnings
            );
        }
    }
    check(&IN_TOP);
    check(&IN_GLOBAL_DEFS);
    check(&IN_INSTANCE);
    check(&IN_SCRIPT);
    check(&IN_TRACK_FILE);
    check(&IN_TRACK_PROCESS);
    check(&IN_SYNC_GROUP);
}

/// Driven by the table: a keyword whose repeat is not meaningful warns, the
/// others do not.
#[test]
fn repeats_warn_as_the_table_says() {
    fn check<T>(p: &Placed<T>, lines_before: usize) {
        for (kw, takes, repeat) in translated(p) {
            let stmt = statement(kw, takes);
            let text = (p.place)(&format!("{stmt}\n{stmt}"));
            let warnings = match import(&text) {
                Ok(imp) => imp.warnings,
                // A second vrrp_instance x is an error of its own.
                Err(e) => vec![e.to_string()],
            };
            let twice: Vec<&String> = warnings
                .iter()
                .filter(|w| w.contains("given twice"))
                .collect();
            if repeat == Repeat::LastWins {
                let first = lines_before + 1;
                let second = first + stmt.lines().count();
                let want = format!(
                    "keepalived.conf:{second}: {}{kw} is given twice (also at /nonexistent/keepalived.conf:{first}); the last one wins, as in keepalived",
                    p.prefix
                );
                assert!(
                    twice.iter().any(|w| w.ends_with(&want)),
                    "{kw}: {warnings:#?}"
                );
            } else {
                assert!(twice.is_empty(), "{kw}: {twice:#?}");
            }
        }
    }
    check(&IN_TOP, 0);
    check(&IN_GLOBAL_DEFS, 1);
    check(&IN_INSTANCE, BASE.lines().count());
    check(&IN_SCRIPT, 1);
    check(&IN_TRACK_FILE, 1);
    check(&IN_TRACK_PROCESS, 1);
    check(&IN_SYNC_GROUP, with("").lines().count() + 1);
}

#[test]
fn blocks_only_where_the_table_takes_them() {
    fn check<T>(p: &Placed<T>) {
        for (kw, takes, _) in translated(p) {
            let (text, want) = match takes {
                Takes::Words => (
                    (p.place)(&format!("{kw} {} {{\n}}", sample(kw))),
                    format!("{kw} takes no {{ }} block"),
                ),
                Takes::Block => ((p.place)(kw), format!("{kw} needs a {{ }} block")),
                Takes::NamedBlock => (
                    (p.place)(&format!("{kw} x")),
                    format!("{kw} needs a {{ }} block"),
                ),
            };
            let e = err(&text);
            assert!(e.message.starts_with(&want), "{kw}: {e}");
            if takes == Takes::NamedBlock {
                for names in ["", " x y"] {
                    let e = err(&(p.place)(&format!("{kw}{names} {{\n}}")));
                    assert_eq!(
                        e.message,
                        format!("{kw} needs exactly one name"),
                        "{kw}{names}"
                    );
                }
            }
        }
    }
    check(&IN_TOP);
    check(&IN_GLOBAL_DEFS);
    check(&IN_INSTANCE);
    check(&IN_SCRIPT);
    check(&IN_TRACK_FILE);
    check(&IN_TRACK_PROCESS);
    check(&IN_SYNC_GROUP);
}

/// Every keyword vipd does not (yet) carry over is named with its reason,
/// with or without a block; an unknown one with the section's reason.
#[test]
fn untranslated_keywords_warn_with_their_reason() {
    fn check<T>(p: &Placed<T>) {
        let untranslated = p.section.all().filter_map(|k| match k.meaning {
            Meaning::Translated { .. } => None,
            Meaning::NotCarried(reason) => Some((k.name, reason)),
        });
        for (kw, reason) in untranslated.chain([("frobnicate", p.section.unknown)]) {
            for (stmt, shown) in [
                (format!("{kw} a"), format!("{kw} a")),
                (format!("{kw} {{\n}}"), format!("{kw} {{ ... }}")),
            ] {
                let imp = ok(&(p.place)(&stmt));
                warned(&imp, &[&format!(": {}{shown}: {reason}", p.prefix)]);
            }
        }
    }
    check(&IN_TOP);
    check(&IN_GLOBAL_DEFS);
    check(&IN_INSTANCE);
    check(&IN_SCRIPT);
    check(&IN_TRACK_FILE);
    check(&IN_TRACK_PROCESS);
    check(&IN_SYNC_GROUP);
}

// --- checksum keywords (wire_variants.rs) ----------------------------------

#[test]
fn checksum_keywords_choose_the_v3_ipv4_checksum() {
    use crate::config::V3Ipv4ChecksumForm as F;
    let form = |text: &str| ok(text).config.instances[0].v3_ipv4_checksum;
    assert_eq!(form(&with("")), F::PseudoHeader);
    let v3 = |extra: &str| with(&format!("  version 3\n{extra}"));
    assert_eq!(
        form(&v3(
            "  old_unicast_checksum\n  unicast_peer {\n    192.0.2.2\n  }"
        )),
        F::GroupPseudoHeader
    );
    assert_eq!(form(&v3("  old_unicast_checksum never")), F::PseudoHeader);
    assert_eq!(form(&v3("  v3_checksum_as_v2")), F::MessageOnly);
    assert_eq!(form(&v3("  v3_checksum_as_v2 false")), F::PseudoHeader);
    // The global default, and the instance overriding it.
    let global = |inst: &str| {
        format!(
            "global_defs {{\n  v3_checksum_as_v2 true\n}}\n{}",
            with(&format!("  version 3\n{inst}"))
        )
    };
    assert_eq!(form(&global("")), F::MessageOnly);
    assert_eq!(form(&global("  v3_checksum_as_v2 no")), F::PseudoHeader);
    // as_v2 leaves the pseudo-header out altogether: old_unicast is moot.
    let both = ok(&v3("  v3_checksum_as_v2\n  old_unicast_checksum"));
    assert_eq!(both.config.instances[0].v3_ipv4_checksum, F::MessageOnly);
    warned(&both, &["old_unicast_checksum: dropped"]);
    // VRRPv2 has no such choice: warned and dropped, never an invalid file.
    let v2 = ok(&with("  version 2\n  old_unicast_checksum"));
    assert_eq!(v2.config.instances[0].v3_ipv4_checksum, F::PseudoHeader);
    warned(&v2, &["keepalived.conf:8", "runs VRRPv2"]);
    // A word keepalived does not know is an error at its line.
    let e = err(&v3("  v3_checksum_as_v2 maybe"));
    assert!(e.to_string().contains("use true or false"), "{e}");
    let e = err(&v3("  old_unicast_checksum always"));
    assert!(e.to_string().contains("`never`"), "{e}");
    // The YAML says it.
    let yaml = ok(&v3("  v3_checksum_as_v2")).config.to_yaml();
    assert!(yaml.contains("v3_ipv4_checksum: message_only"), "{yaml}");
}

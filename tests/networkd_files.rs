//! The networkd files end to end under temporary roots: install, re-install,
//! configuration change, conflicts, removal, detection of the matched
//! .network file; and, where this machine allows it (root, systemd-networkd,
//! unshare), the generated files loaded by a real systemd-networkd in a
//! private mount and network namespace.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use vipd::config::Config;
use vipd::networkd::{
    self, FileAction, HostView, LinkInfo, NetworkdError, Plan, apply, detect_host,
    find_network_file, matched_network_file, plan_install, plan_remove,
};

const CONFIG_PATH: &str = "/etc/vipd/vipd.yaml";
const HEADER: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.\n";
const NETPLAN_ETH0: &str =
    "[Match]\nName=eth0\n\n[Network]\nLinkLocalAddressing=ipv6\nAddress=10.9.0.1/24\n";

const PLAIN: &str = "  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [10.9.0.100/24]\n";
const MACVLAN: &str = "  - name: db\n    interface: eth0\n    vrid: 52\n    vips: [10.9.0.101/24]\n    vip_device: {kind: macvlan}\n";
const IPVLAN: &str = "  - name: api\n    interface: eth0\n    vrid: 54\n    vips: [10.9.0.102/24]\n    vip_device: {kind: ipvlan}\n";

const DROPIN: &str = "etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf";
const MV_NETDEV: &str = "etc/systemd/network/60-vipd-vrrp.52.netdev";
const MV_NETWORK: &str = "etc/systemd/network/60-vipd-vrrp.52.network";
const IV_NETDEV: &str = "etc/systemd/network/60-vipd-vipd.54.netdev";
const IV_NETWORK: &str = "etc/systemd/network/60-vipd-vipd.54.network";

/// A temporary directory, removed on drop.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new(tag: &str) -> TempRoot {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "vipd-networkd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempRoot(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn put(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }
    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
    fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.0.join(rel)).is_ok()
    }
    /// Every file under the root, relative, sorted.
    fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if fs::symlink_metadata(&p).unwrap().is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &self.0, &mut out);
        out.sort();
        out
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn config(instances: &[&str]) -> Config {
    Config::parse(
        &format!("instances:\n{}", instances.concat()),
        Path::new(CONFIG_PATH),
    )
    .unwrap()
}

/// A root with netplan's file for eth0, as `netplan generate` writes it.
fn netplan_root(tag: &str) -> TempRoot {
    let r = TempRoot::new(tag);
    r.put("run/systemd/network/10-netplan-eth0.network", NETPLAN_ETH0);
    r
}

fn host(root: &Path, cfg: &Config, version: Option<u32>) -> HostView {
    detect_host(cfg, root, version, |_| LinkInfo::default()).0
}

fn install(root: &Path, cfg: &Config, version: Option<u32>) -> networkd::ApplySummary {
    let h = host(root, cfg, version);
    let plan = plan_install(cfg, &h, root, Path::new(CONFIG_PATH)).unwrap();
    apply(&plan, root).unwrap()
}

fn rel(root: &TempRoot, paths: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(root.path()).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

const EXPECTED_DROPIN: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.
# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices and keeps vipd's addresses.
[Network]
MACVLAN=vrrp.52
IPVLAN=vipd.54
KeepConfiguration=static
";

const EXPECTED_MV_NETDEV: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.
# VIP device of vipd instance db (VRID 52) on eth0; networkd creates it.
[NetDev]
Name=vrrp.52
Kind=macvlan
MACAddress=00:00:5e:00:01:34

[MACVLAN]
Mode=bridge
";

const EXPECTED_MV_NETWORK: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.
# VIP device of vipd instance db (VRID 52): vipd puts the VIPs on it, networkd brings it up and keeps them.
[Match]
Name=vrrp.52

[Network]
DHCP=no
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
KeepConfiguration=yes
";

const EXPECTED_IV_NETDEV: &str = "# Written by vipd (vipctl networkd install) from /etc/vipd/vipd.yaml. Do not edit: vipctl networkd remove deletes it.
# VIP device of vipd instance api (VRID 54) on eth0; networkd creates it.
[NetDev]
Name=vipd.54
Kind=ipvlan

[IPVLAN]
Mode=L2
";

#[test]
fn install_writes_the_expected_files() {
    let root = netplan_root("install");
    let cfg = config(&[PLAIN, MACVLAN, IPVLAN]);
    let s = install(root.path(), &cfg, Some(252));
    assert_eq!(
        rel(&root, &s.written),
        [DROPIN, IV_NETDEV, IV_NETWORK, MV_NETDEV, MV_NETWORK]
    );
    assert!(s.unchanged.is_empty() && s.removed.is_empty());
    assert_eq!(
        root.files(),
        [
            DROPIN,
            IV_NETDEV,
            IV_NETWORK,
            MV_NETDEV,
            MV_NETWORK,
            "run/systemd/network/10-netplan-eth0.network",
        ]
    );
    assert_eq!(root.read(DROPIN), EXPECTED_DROPIN);
    assert_eq!(root.read(MV_NETDEV), EXPECTED_MV_NETDEV);
    assert_eq!(root.read(MV_NETWORK), EXPECTED_MV_NETWORK);
    assert_eq!(root.read(IV_NETDEV), EXPECTED_IV_NETDEV);
    assert_eq!(
        root.read(IV_NETWORK),
        EXPECTED_MV_NETWORK
            .replace("instance db (VRID 52)", "instance api (VRID 54)")
            .replace("Name=vrrp.52", "Name=vipd.54")
    );
    // netplan's file is untouched; modes are 0644 / 0755.
    assert_eq!(
        root.read("run/systemd/network/10-netplan-eth0.network"),
        NETPLAN_ETH0
    );
    for f in [DROPIN, MV_NETDEV, MV_NETWORK] {
        let mode = fs::metadata(root.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o644, "{f}");
    }
    for d in [
        "etc",
        "etc/systemd",
        "etc/systemd/network",
        "etc/systemd/network/10-netplan-eth0.network.d",
    ] {
        let mode = fs::metadata(root.path().join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755, "{d}");
    }
}

#[test]
fn second_install_rewrites_nothing() {
    let root = netplan_root("again");
    let cfg = config(&[PLAIN, MACVLAN, IPVLAN]);
    install(root.path(), &cfg, Some(252));
    // Push every mtime into the past so any rewrite would show.
    let old = SystemTime::now() - Duration::from_secs(3600);
    let mut before = Vec::new();
    for f in [DROPIN, MV_NETDEV, MV_NETWORK, IV_NETDEV, IV_NETWORK] {
        let p = root.path().join(f);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let m = fs::metadata(&p).unwrap();
        before.push((f, m.modified().unwrap(), m.ino()));
    }
    let s = install(root.path(), &cfg, Some(252));
    assert!(s.written.is_empty(), "{:?}", s.written);
    assert!(s.removed.is_empty());
    assert_eq!(s.unchanged.len(), 5);
    for (f, mtime, ino) in before {
        let m = fs::metadata(root.path().join(f)).unwrap();
        assert_eq!(m.modified().unwrap(), mtime, "{f} was rewritten");
        assert_eq!(m.ino(), ino, "{f} was replaced");
    }
    // Planning twice gives the same plan.
    let h = host(root.path(), &cfg, Some(252));
    let a = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    let b = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn removed_instance_leaves_no_stale_files() {
    let root = netplan_root("stale");
    install(root.path(), &config(&[PLAIN, MACVLAN, IPVLAN]), Some(252));
    let ino = |f: &str| fs::metadata(root.path().join(f)).unwrap().ino();
    let iv = (ino(IV_NETDEV), ino(IV_NETWORK));

    // Without the MACVLAN instance: its files go, the drop-in changes.
    let s = install(root.path(), &config(&[PLAIN, IPVLAN]), Some(252));
    assert_eq!(rel(&root, &s.removed), [MV_NETDEV, MV_NETWORK]);
    assert_eq!(rel(&root, &s.written), [DROPIN]);
    assert_eq!(rel(&root, &s.unchanged), [IV_NETDEV, IV_NETWORK]);
    assert_eq!((ino(IV_NETDEV), ino(IV_NETWORK)), iv);
    assert!(!root.exists(MV_NETDEV) && !root.exists(MV_NETWORK));
    assert_eq!(
        root.read(DROPIN),
        EXPECTED_DROPIN.replace("MACVLAN=vrrp.52\n", "")
    );

    // Nothing left that needs a drop-in: the file and its directory go.
    let other_ifname =
        "  - name: web\n    interface: eth1\n    vrid: 51\n    vips: [10.9.0.100/24]\n";
    let s = install(root.path(), &config(&[other_ifname]), Some(252));
    assert_eq!(
        rel(&root, &s.removed),
        [
            "etc/systemd/network/10-netplan-eth0.network.d",
            DROPIN,
            IV_NETDEV,
            IV_NETWORK,
        ]
    );
    assert_eq!(
        root.files(),
        ["run/systemd/network/10-netplan-eth0.network"]
    );
    assert!(root.exists("etc/systemd/network"));
}

#[test]
fn foreign_file_at_a_target_stops_everything() {
    let root = netplan_root("foreign");
    let mine = "[NetDev]\nName=vrrp.52\nKind=macvlan\n";
    root.put(MV_NETDEV, mine);
    let cfg = config(&[PLAIN, MACVLAN, IPVLAN]);
    let h = host(root.path(), &cfg, Some(252));
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    let e = apply(&plan, root.path()).unwrap_err();
    let target = root.path().join(MV_NETDEV);
    match &e {
        NetworkdError::Foreign { paths } => assert_eq!(paths, std::slice::from_ref(&target)),
        other => panic!("{other}"),
    }
    assert_eq!(
        e.to_string(),
        format!(
            "{}: not written by vipd; move it away or remove it, then run vipctl networkd install again (nothing was changed)",
            target.display()
        )
    );
    // Nothing written, not even the directories of the drop-in.
    assert_eq!(
        root.files(),
        [MV_NETDEV, "run/systemd/network/10-netplan-eth0.network"]
    );
    assert!(!root.exists("etc/systemd/network/10-netplan-eth0.network.d"));
    assert_eq!(root.read(MV_NETDEV), mine);
    // A symlink (say, a mask to /dev/null) is not vipd's either.
    fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink("/dev/null", &target).unwrap();
    assert!(matches!(
        apply(&plan, root.path()),
        Err(NetworkdError::Foreign { .. })
    ));
    assert!(!root.exists(DROPIN));
}

#[test]
fn remove_takes_only_what_vipd_wrote() {
    let root = netplan_root("remove");
    install(root.path(), &config(&[PLAIN, MACVLAN, IPVLAN]), Some(252));
    // Someone else's files: one in the same drop-in directory, one beside ours.
    let theirs = "etc/systemd/network/10-netplan-eth0.network.d/90-admin.conf";
    root.put(theirs, "[Network]\nIPv6AcceptRA=no\n");
    root.put(
        "etc/systemd/network/20-admin.network",
        "[Match]\nName=eth9\n",
    );
    // A vipd file in /run (older layout) and an empty foreign drop-in dir.
    root.put(
        "run/systemd/network/60-vipd-old.netdev",
        &format!("{HEADER}[NetDev]\nName=old\nKind=macvlan\n"),
    );
    fs::create_dir_all(root.path().join("etc/systemd/network/30-x.network.d")).unwrap();

    let plan = plan_remove(root.path());
    let listed: Vec<String> = plan
        .actions
        .iter()
        .map(|a| match a {
            FileAction::Remove { path } => path.display().to_string(),
            FileAction::Write { path, .. } => panic!("write {}", path.display()),
        })
        .collect();
    assert_eq!(
        listed,
        [
            "/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf",
            "/etc/systemd/network/60-vipd-vipd.54.netdev",
            "/etc/systemd/network/60-vipd-vipd.54.network",
            "/etc/systemd/network/60-vipd-vrrp.52.netdev",
            "/etc/systemd/network/60-vipd-vrrp.52.network",
            "/run/systemd/network/60-vipd-old.netdev",
        ]
    );
    let s = apply(&plan, root.path()).unwrap();
    assert_eq!(s.removed.len(), 6);
    assert_eq!(
        root.files(),
        [
            theirs,
            "etc/systemd/network/20-admin.network",
            "run/systemd/network/10-netplan-eth0.network",
        ]
    );
    assert!(root.exists("etc/systemd/network/30-x.network.d"));
    // Once alone, the drop-in directory goes with vipd's file.
    install(root.path(), &config(&[PLAIN]), Some(252));
    fs::remove_file(root.path().join(theirs)).unwrap();
    let s = apply(&plan_remove(root.path()), root.path()).unwrap();
    assert_eq!(
        rel(&root, &s.removed),
        ["etc/systemd/network/10-netplan-eth0.network.d", DROPIN]
    );
    assert!(!root.exists("etc/systemd/network/10-netplan-eth0.network.d"));
    // Nothing left: an empty plan that says so.
    let p = plan_remove(root.path());
    assert!(p.actions.is_empty());
    assert_eq!(
        p.notes,
        ["no file written by vipd was found: nothing to remove"]
    );
}

#[test]
fn remove_refuses_a_file_that_lost_its_header() {
    let root = netplan_root("lost-header");
    install(root.path(), &config(&[MACVLAN]), Some(252));
    let plan = plan_remove(root.path());
    // Between plan and apply an operator takes the file over.
    root.put(MV_NETDEV, "[NetDev]\nName=vrrp.52\nKind=macvlan\n");
    assert!(matches!(
        apply(&plan, root.path()),
        Err(NetworkdError::Foreign { .. })
    ));
    assert!(root.exists(MV_NETWORK) && root.exists(DROPIN));
}

#[test]
fn systemd_237_files() {
    let root = netplan_root("v237");
    install(root.path(), &config(&[PLAIN, MACVLAN, IPVLAN]), Some(237));
    assert_eq!(
        root.read(DROPIN),
        format!(
            "{HEADER}# Drop-in for /run/systemd/network/10-netplan-eth0.network (eth0): attaches vipd's VIP devices and keeps vipd's addresses.\n[Network]\nMACVLAN=vrrp.52\nIPVLAN=vipd.54\n\n[DHCP]\nCriticalConnection=yes\n"
        )
    );
    assert_eq!(
        root.read(MV_NETWORK),
        EXPECTED_MV_NETWORK.replace(
            "KeepConfiguration=yes\n",
            "\n[DHCP]\nCriticalConnection=yes\n"
        )
    );
    for f in root.files() {
        assert!(!root.read(&f).contains("KeepConfiguration"), "{f}");
    }
    // Upgrading systemd and installing again switches the files over.
    let s = install(root.path(), &config(&[PLAIN, MACVLAN, IPVLAN]), Some(252));
    assert_eq!(rel(&root, &s.written), [DROPIN, IV_NETWORK, MV_NETWORK]);
    assert_eq!(root.read(DROPIN), EXPECTED_DROPIN);
}

#[test]
fn netplan_critical_is_not_weakened() {
    let root = TempRoot::new("critical");
    root.put(
        "run/systemd/network/10-netplan-eth0.network",
        "[Match]\nName=eth0\n\n[Network]\nAddress=10.9.0.1/24\nKeepConfiguration=true\n",
    );
    let cfg = config(&[PLAIN, MACVLAN]);
    let h = host(root.path(), &cfg, Some(252));
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    apply(&plan, root.path()).unwrap();
    assert!(!root.read(DROPIN).contains("KeepConfiguration"));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("already has KeepConfiguration=true")),
        "{:?}",
        plan.notes
    );
}

// ---- detection ----

#[test]
fn matched_file_from_networkd_state() {
    let root = netplan_root("state");
    root.put(
        "run/systemd/netif/links/2",
        "# This is private data. Do not parse.\nADMIN_STATE=configured\nOPER_STATE=routable\nNETWORK_FILE=/run/systemd/network/10-netplan-eth0.network\nDNS=\n",
    );
    root.put(
        "run/systemd/netif/links/3",
        "# This is private data. Do not parse.\nADMIN_STATE=unmanaged\nOPER_STATE=carrier\n",
    );
    root.put(
        "run/systemd/netif/links/4",
        "# This is private data. Do not parse.\nADMIN_STATE=pending\n",
    );
    // The state wins even where emulated matching would say otherwise.
    root.put("etc/systemd/network/05-all.network", "[Match]\nName=*\n");
    let m = find_network_file(root.path(), "eth0", Some(2), None);
    assert_eq!(
        m.path.as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network"))
    );
    assert!(m.from_state_file && m.notes.is_empty());
    // networkd says unmanaged: no file.
    let m = find_network_file(root.path(), "eth1", Some(3), None);
    assert_eq!(m.path, None);
    assert!(m.from_state_file);
    // Not decided yet, or no state at all: emulation.
    let m = find_network_file(root.path(), "eth0", Some(4), None);
    assert!(!m.from_state_file);
    assert_eq!(
        m.path.as_deref(),
        Some(Path::new("/etc/systemd/network/05-all.network"))
    );
    assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
    assert!(m.notes[0].contains("ADMIN_STATE=pending"));
    assert_eq!(
        matched_network_file(root.path(), "eth0", Some(9), None).as_deref(),
        Some(Path::new("/etc/systemd/network/05-all.network"))
    );
}

#[test]
fn emulated_matching_masks_and_orders() {
    let root = netplan_root("emulate");
    let m = |name: &str| matched_network_file(root.path(), name, None, None);
    assert_eq!(
        m("eth0").as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network"))
    );
    // Same name in /etc masks /run.
    root.put("etc/systemd/network/10-netplan-eth0.network", NETPLAN_ETH0);
    assert_eq!(
        m("eth0").as_deref(),
        Some(Path::new("/etc/systemd/network/10-netplan-eth0.network"))
    );
    // An empty file in /etc masks the name entirely: nothing matches.
    root.put("etc/systemd/network/10-netplan-eth0.network", "");
    assert_eq!(m("eth0"), None);
    // So does a symlink to /dev/null.
    fs::remove_file(
        root.path()
            .join("etc/systemd/network/10-netplan-eth0.network"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/dev/null",
        root.path()
            .join("etc/systemd/network/10-netplan-eth0.network"),
    )
    .unwrap();
    assert_eq!(m("eth0"), None);
    fs::remove_file(
        root.path()
            .join("etc/systemd/network/10-netplan-eth0.network"),
    )
    .unwrap();
    // Order is by file name across directories: /usr/lib's 05-foo wins over /run's 10-.
    root.put(
        "usr/lib/systemd/network/05-foo.network",
        "[Match]\nName=eth*\n",
    );
    assert_eq!(
        m("eth0").as_deref(),
        Some(Path::new("/usr/lib/systemd/network/05-foo.network"))
    );
    // ... unless it is masked by the same name in /run.
    root.put("run/systemd/network/05-foo.network", "");
    assert_eq!(
        m("eth0").as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network"))
    );
    // Lower priority directories count too, and hidden or non-.network files do not.
    root.put("lib/systemd/network/01-lib.network", "[Match]\nName=en*\n");
    root.put(
        "etc/systemd/network/.00-hidden.network",
        "[Match]\nName=*\n",
    );
    root.put(
        "etc/systemd/network/00-all.network.bak",
        "[Match]\nName=*\n",
    );
    assert_eq!(
        m("ens3").as_deref(),
        Some(Path::new("/lib/systemd/network/01-lib.network"))
    );
    assert_eq!(
        m("eth0").as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network"))
    );
    // A drop-in can narrow [Match].
    root.put(
        "etc/systemd/network/01-lib.network.d/narrow.conf",
        "[Match]\nName=!ens3\n",
    );
    assert_eq!(m("ens3"), None);
    assert_eq!(
        m("ens4").as_deref(),
        Some(Path::new("/lib/systemd/network/01-lib.network"))
    );
}

#[test]
fn netplan_mac_match() {
    let root = TempRoot::new("mac");
    // netplan: match: {macaddress: ...}, set-name: lan0
    root.put(
        "run/systemd/network/10-netplan-lan0.network",
        "[Match]\nPermanentMACAddress=52:54:00:12:34:56\nName=lan0\n\n[Network]\nAddress=10.9.0.1/24\n",
    );
    // Older netplan: MACAddress=, no Name=.
    root.put(
        "run/systemd/network/10-netplan-wan0.network",
        "[Match]\nMACAddress=52:54:00:ab:cd:ef\n\n[Network]\nDHCP=ipv4\n",
    );
    let mac1 = Some([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    let mac2 = Some([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
    let m = |n: &str, mac| matched_network_file(root.path(), n, None, mac);
    assert_eq!(
        m("lan0", mac1).as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-lan0.network"))
    );
    assert_eq!(m("lan0", Some([0x52, 0x54, 0, 0, 0, 1])), None);
    // The old-style file matches whatever the name when the MAC is its own.
    assert_eq!(
        m("lan0", mac2).as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-wan0.network"))
    );
    assert_eq!(
        m("anything", mac2).as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-wan0.network"))
    );
    // MAC unknown: such files cannot be judged, and say so.
    let r = find_network_file(root.path(), "lan0", None, None);
    assert_eq!(r.path, None);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(r.notes[0].contains("10-netplan-lan0.network: its [Match] PermanentMACAddress="));
}

#[test]
fn unknown_match_keys_are_skipped_with_a_note() {
    let root = netplan_root("unknown-keys");
    root.put(
        "run/systemd/network/05-netplan-drv.network",
        "[Match]\nDriver=ixgbe\n\n[Network]\nDHCP=yes\n",
    );
    let r = find_network_file(root.path(), "eth0", None, None);
    assert_eq!(
        r.path.as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network"))
    );
    assert_eq!(
        r.notes,
        [
            "/run/systemd/network/05-netplan-drv.network: its [Match] Driver= cannot be evaluated offline; assumed it does not match eth0 (on the live system, with networkd running, vipctl reads networkd's own choice instead)"
        ]
    );
}

#[test]
fn interface_without_match_gets_a_note() {
    let root = netplan_root("nomatch");
    let eth1 = "  - name: web\n    interface: eth1\n    vrid: 51\n    vips: [10.9.0.100/24]\n";
    let cfg = config(&[eth1]);
    let (h, detect_notes) = detect_host(&cfg, root.path(), Some(252), |_| LinkInfo::default());
    assert!(h.matched.is_empty() && detect_notes.is_empty());
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    assert_eq!(
        plan,
        Plan {
            actions: vec![],
            notes: vec!["eth1 is not managed by systemd-networkd: nothing to persist".into()],
        }
    );
    // A VIP device on it cannot be persisted: an error that says what to do.
    let dev = format!("{eth1}    vip_device: {{kind: macvlan, name: vip0}}\n");
    let cfg = config(&[&dev]);
    let h = host(root.path(), &cfg, Some(252));
    let e = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("eth1 is not managed by systemd-networkd"),
        "{msg}"
    );
    assert!(msg.contains("cannot create MACVLAN vip0 on it"), "{msg}");
}

#[test]
fn a_broader_earlier_file_shadowing_the_device_is_reported() {
    let root = netplan_root("shadow");
    root.put(
        "etc/systemd/network/05-all.network",
        "[Match]\nName=*\n\n[Network]\nDHCP=yes\n",
    );
    let cfg = config(&[MACVLAN]);
    let h = HostView {
        systemd_version: Some(252),
        matched: [(
            "eth0".to_string(),
            PathBuf::from("/run/systemd/network/10-netplan-eth0.network"),
        )]
        .into(),
    };
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    assert!(
        plan.notes.iter().any(|n| n.starts_with(
            "/etc/systemd/network/05-all.network: comes before 60-vipd-vrrp.52.network in networkd's order and matches vrrp.52"
        )),
        "{:?}",
        plan.notes
    );
    // Without it, no note.
    fs::remove_file(root.path().join("etc/systemd/network/05-all.network")).unwrap();
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn relative_plan_paths_are_refused() {
    let root = TempRoot::new("badpath");
    let plan = Plan {
        actions: vec![FileAction::Write {
            path: PathBuf::from("etc/systemd/network/x.network"),
            content: HEADER.into(),
        }],
        notes: vec![],
    };
    assert!(matches!(
        apply(&plan, root.path()),
        Err(NetworkdError::BadPath { .. })
    ));
    let plan = Plan {
        actions: vec![FileAction::Remove {
            path: PathBuf::from("/etc/../../x"),
        }],
        notes: vec![],
    };
    assert!(matches!(
        apply(&plan, root.path()),
        Err(NetworkdError::BadPath { .. })
    ));
}

// ---- the real systemd-networkd ----

const NETWORKD: &str = "/lib/systemd/systemd-networkd";

/// Why the real-networkd check cannot run here, if it cannot.
fn networkd_unavailable() -> Option<String> {
    if !Path::new(NETWORKD).exists() {
        return Some(format!("{NETWORKD} is not installed"));
    }
    if euid() != 0 {
        return Some("not root (needs mount and network namespaces)".into());
    }
    for tool in ["unshare", "ip", "mount"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    if !Path::new("/etc/systemd/network").is_dir() {
        return Some("/etc/systemd/network does not exist to mount over".into());
    }
    None
}

fn euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Runs systemd-networkd in private mount and network namespaces with the
/// root's /etc/systemd/network and /run/systemd/network mounted in place,
/// on a veth "eth0"; returns what it left in `out`. Exit 77: environment.
const NETWORKD_SCRIPT: &str = r#"
set -u
ROOT=$1; OUT=$2
fail() { echo "$*" > "$OUT/skip"; exit 77; }
mount -n --make-rprivate / || fail "cannot make mounts private"
mount -n -t tmpfs tmpfs /run || fail "cannot mount a tmpfs on /run"
mkdir -p /run/systemd/network /run/systemd/netif
mount -n --bind "$ROOT/run/systemd/network" /run/systemd/network || fail "bind /run/systemd/network"
mount -n --bind "$ROOT/etc/systemd/network" /etc/systemd/network || fail "bind /etc/systemd/network"
chown systemd-network: /run/systemd/netif 2>/dev/null || true
# networkd waits for udev unless /sys is read-only (its container check).
mount -n -t sysfs -o ro sysfs /sys || fail "cannot mount a read-only sysfs"
ip link set lo up
ip link add eth0 type veth peer name peer0 || fail "no veth"
ip link set peer0 up
ip link set eth0 up
if ip link add link eth0 name ivprobe type ipvlan mode l2 2>/dev/null; then
    ip link del ivprobe; touch "$OUT/ipvlan"
fi
cat /sys/class/net/eth0/ifindex > "$OUT/eth0.ifindex"
SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console "$3" > "$OUT/log" 2>&1 &
pid=$!
for i in $(seq 1 100); do
    idx=$(cat /sys/class/net/vrrp.52/ifindex 2>/dev/null || true)
    if [ -n "$idx" ] && grep -q '^NETWORK_FILE=' "/run/systemd/netif/links/$idx" 2>/dev/null \
       && grep -q '^NETWORK_FILE=' "/run/systemd/netif/links/$(cat $OUT/eth0.ifindex)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
sleep 0.5
ip -d link show > "$OUT/links"
cat /sys/class/net/vrrp.52/ifindex > "$OUT/vrrp.ifindex" 2>/dev/null || true
mkdir -p "$OUT/run/systemd/netif"
cp -r /run/systemd/netif/links "$OUT/run/systemd/netif/" 2>/dev/null || true
kill $pid
wait $pid
exit 0
"#;

#[test]
fn real_networkd_accepts_the_files() {
    // No silent skip: on a CI machine (root, systemd installed) this must run.
    if let Some(why) = networkd_unavailable() {
        panic!(
            "real_networkd_accepts_the_files cannot run: {why} (run as root with systemd installed)"
        );
    }
    let root = netplan_root("real");
    install(root.path(), &config(&[PLAIN, MACVLAN, IPVLAN]), Some(252));
    let out = TempRoot::new("real-out");
    let script = out.put("run.sh", NETWORKD_SCRIPT);
    let status = std::process::Command::new("unshare")
        .args(["--mount", "--net", "--fork", "bash"])
        .arg(&script)
        .arg(root.path())
        .arg(out.path())
        .arg(NETWORKD)
        .status()
        .expect("unshare");
    if status.code() == Some(77) || (!status.success() && !out.exists("log")) {
        let why = fs::read_to_string(out.path().join("skip")).unwrap_or_default();
        panic!(
            "real_networkd_accepts_the_files: cannot run networkd in namespaces here: {}",
            why.trim()
        );
    }
    let log = out.read("log");
    let links = out.read("links");
    let context = format!("--- networkd log ---\n{log}\n--- links ---\n{links}");

    // Every warning about a configuration file starts with "<path>:<line>: ".
    for line in log.lines() {
        assert!(
            !(line.starts_with("/etc/systemd/network/")
                || line.starts_with("/run/systemd/network/")),
            "networkd complained about a file: {line}\n{context}"
        );
    }
    // The drop-in in /etc applied to netplan's file in /run: the MACVLAN
    // exists, on eth0, with the virtual MAC, in bridge mode, without IPv6
    // link-local generation.
    let vrrp = links
        .split("\n")
        .collect::<Vec<_>>()
        .windows(3)
        .find(|w| w[0].contains(" vrrp.52@eth0:"))
        .map(|w| w.join("\n"))
        .unwrap_or_else(|| panic!("no vrrp.52@eth0\n{context}"));
    assert!(vrrp.contains("link/ether 00:00:5e:00:01:34 "), "{vrrp}");
    assert!(vrrp.contains("macvlan mode bridge"), "{vrrp}");
    assert!(vrrp.contains("addrgenmode none"), "{vrrp}");
    if out.exists("ipvlan") {
        assert!(links.contains(" vipd.54@eth0:"), "{context}");
    } else {
        eprintln!("(IPVLAN part skipped: this kernel has no IPVLAN; its files were still parsed)");
    }
    // networkd's state files name the files it used, and the detection
    // reads them back.
    let idx = |f: &str| -> u32 { out.read(f).trim().parse().unwrap() };
    let eth0 = find_network_file(out.path(), "eth0", Some(idx("eth0.ifindex")), None);
    assert!(eth0.from_state_file, "{context}");
    assert_eq!(
        eth0.path.as_deref(),
        Some(Path::new("/run/systemd/network/10-netplan-eth0.network")),
        "{context}"
    );
    assert_eq!(
        matched_network_file(out.path(), "vrrp.52", Some(idx("vrrp.ifindex")), None).as_deref(),
        Some(Path::new("/etc/systemd/network/60-vipd-vrrp.52.network")),
        "{context}"
    );
}

#[test]
fn a_file_where_a_directory_must_go_stops_everything() {
    let root = netplan_root("blocker");
    root.put(
        "etc/systemd/network/10-netplan-eth0.network.d",
        "not a directory\n",
    );
    let cfg = config(&[PLAIN, MACVLAN]);
    let h = host(root.path(), &cfg, Some(252));
    let plan = plan_install(&cfg, &h, root.path(), Path::new(CONFIG_PATH)).unwrap();
    match apply(&plan, root.path()) {
        Err(NetworkdError::Foreign { paths }) => assert_eq!(
            paths,
            [root
                .path()
                .join("etc/systemd/network/10-netplan-eth0.network.d")]
        ),
        other => panic!("{other:?}"),
    }
    assert!(!root.exists(MV_NETDEV) && !root.exists(MV_NETWORK));
}

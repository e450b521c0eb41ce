//! Service health in network-namespace labs: a tracked process dies on the
//! master and both address families move to the backup; weights; a group
//! moving together; scripts run as the script user with no descriptor of
//! vipd's; an unsafe script refused. Run as root.
//!
//! All lab hosts share one PID namespace, so each router tracks its own
//! stand-in process (`svc-r1`, `svc-r2`: symlinks to sleep, so that their
//! name, as /proc shows it, is theirs).

mod lab;

use lab::vipd::vipctl_bin;
use lab::{Host, Lab, ProcHandle, now_epoch, wait_until};
use std::net::IpAddr;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const V4: &str = "10.88.0.100";
const V6: &str = "fd00:88::100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Starts the stand-in service `name` on `host`.
fn service(lab: &Lab, host: &Host, name: &str) -> ProcHandle {
    let link = lab.tmpdir().join(name);
    if !link.exists() {
        std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    }
    host.spawn(&[link.to_str().unwrap(), "1000"], format!("{name}.log"))
}

/// One dual-stack instance tracking `svc-HOST` (FAULT, or `weight`).
fn config(host: &str, priority: u8, weight: Option<i32>) -> String {
    let weight = weight.map(|w| format!(", weight: {w}")).unwrap_or_default();
    format!(
        "trackers:\n  svc: {{process: svc-{host}{weight}}}\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 88\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [{V4}/24, \"{V6}/64\"]\n    track: [svc]\n"
    )
}

fn pair(lab: &Lab) -> (Host, Host, Host) {
    let r1 = lab.add_host("r1", &["10.88.0.1/24", "fd00:88::1/64"]);
    let r2 = lab.add_host("r2", &["10.88.0.2/24", "fd00:88::2/64"]);
    let obs = lab.add_host("obs", &["10.88.0.200/24", "fd00:88::200/64"]);
    (r1, r2, obs)
}

fn holds_both(h: &Host) -> bool {
    h.has_addr("eth0", format!("{V4}/24")) && h.has_addr("eth0", format!("{V6}/64"))
}

fn holds_none(h: &Host) -> bool {
    !h.has_addr("eth0", format!("{V4}/24")) && !h.has_addr("eth0", format!("{V6}/64"))
}

/// The tracked process dies on the master: it leaves at once (priority 0),
/// the backup holds both families within Skew_Time plus a little, and an
/// observer of each family sees one short gap. Back, the master preempts.
#[test]
fn process_tracker_moves_both_families_and_back() {
    let lab = Lab::new("health_process");
    let (r1, r2, obs) = pair(&lab);
    let svc1 = service(&lab, &r1, "svc-r1");
    let _svc2 = service(&lab, &r2, "svc-r2");
    let a = r1.start_vipd(&config("r1", 150, None));
    let b = r2.start_vipd(&config("r2", 100, None));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(wait_until(2 * SEC, Duration::from_millis(20), || {
        holds_both(&r1)
    }));
    let p4 = obs.probe_observer(ip(V4), 10);
    let p6 = obs.probe_observer(ip(V6), 10);
    assert!(p4.wait_replies(20, 3 * SEC) && p6.wait_replies(20, 3 * SEC));

    let killed = now_epoch();
    svc1.kill();
    assert!(
        wait_until(3 * SEC, Duration::from_millis(2), || holds_both(&r2)),
        "the backup took both families"
    );
    let moved = now_epoch() - killed;
    assert!(holds_none(&r1));
    // pidfd: the death is seen at once; the master leaves with priority 0,
    // so the backup waits only Skew_Time (156/256 x 100 ms = 61 ms).
    assert!(moved < Duration::from_millis(500), "moved after {moved:?}");
    let st = a.instance("web");
    assert_eq!(st["state"], "FAULT");
    assert_eq!(st["health_fault"], true);
    assert_eq!(st["priority_arithmetic"], "150 (svc: FAULT)");
    assert_eq!(st["last_transition"]["reason"], "health_fault");
    let trackers = a.status()["trackers"].clone();
    assert_eq!(trackers[0]["name"], "svc");
    assert_eq!(trackers[0]["status"], "down");
    assert_eq!(trackers[0]["last_result"], "0 svc-r1 running, 1 wanted");
    let text = String::from_utf8_lossy(&a.vipctl(&["status"]).stdout).into_owned();
    assert!(
        text.contains("web: priority 150 (svc: FAULT)") && text.contains("svc      process  down"),
        "{text}"
    );

    // Back: seen at the next scan (1 s), then the master preempts.
    let _svc1 = service(&lab, &r1, "svc-r1");
    a.expect_state("web", "MASTER", 4 * SEC);
    assert!(wait_until(
        2 * SEC,
        Duration::from_millis(20),
        || holds_both(&r1) && holds_none(&r2)
    ));
    std::thread::sleep(Duration::from_millis(300));
    let end = now_epoch();
    for (family, p) in [("IPv4", p4), ("IPv6", p6)] {
        let stats = p.stop();
        let (gap, ..) = stats.longest_gap_in(killed, killed + moved);
        println!("{family}: tracker failover moved in {moved:?}; observer gap {gap:?}");
        assert!(gap < Duration::from_millis(600), "{family} gap {gap:?}");
        let (gap_back, ..) = stats.longest_gap_in(killed + moved + SEC, end);
        println!("{family}: gap on the way back {gap_back:?}");
    }
    assert_eq!(b.instance("web")["became_master"], 1);
}

/// A weighted tracker lowers the master below the backup: the backup
/// (preempting) takes over after its Master_Down_Interval; the arithmetic
/// says why.
#[test]
fn weighted_tracker_hands_over_by_priority() {
    let lab = Lab::new("health_weight");
    let (r1, r2, _obs) = pair(&lab);
    let svc1 = service(&lab, &r1, "svc-r1");
    let _svc2 = service(&lab, &r2, "svc-r2");
    let a = r1.start_vipd(&config("r1", 150, Some(-60)));
    let b = r2.start_vipd(&config("r2", 100, Some(-60)));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    svc1.kill();
    b.expect_state("web", "MASTER", 2 * SEC);
    let st = a.instance("web");
    assert_eq!(st["state"], "BACKUP", "a weight never faults");
    assert_eq!(st["effective_priority"], 90);
    assert_eq!(st["priority_arithmetic"], "150 - 60 (svc down) = 90");
    assert_eq!(b.instance("web")["master_priority"], 100);
    assert!(wait_until(SEC, Duration::from_millis(20), || holds_both(
        &r2
    )
        && holds_none(&r1)));
    let _svc1 = service(&lab, &r1, "svc-r1");
    a.expect_state("web", "MASTER", 4 * SEC);
    assert_eq!(a.instance("web")["effective_priority"], 150);
}

/// A group moves together: the tracker is on the IPv6 member only, and its
/// failure moves the IPv4 member too.
#[test]
fn group_moves_together() {
    let lab = Lab::new("health_group");
    let (r1, r2, _obs) = pair(&lab);
    let svc1 = service(&lab, &r1, "svc-r1");
    let _svc2 = service(&lab, &r2, "svc-r2");
    let group = |host: &str, prio: u8| {
        format!(
            "trackers:\n  svc: {{process: svc-{host}}}\ninstances:\n  - name: web4\n    interface: eth0\n    vrid: 1\n    priority: {prio}\n    advert_interval: 100ms\n    vips: [{V4}/24]\n  - name: web6\n    interface: eth0\n    vrid: 2\n    priority: {prio}\n    advert_interval: 100ms\n    vips: [\"{V6}/64\"]\n    track: [svc]\ngroups:\n  lb: {{instances: [web4, web6]}}\n"
        )
    };
    let a = r1.start_vipd(&group("r1", 150));
    let b = r2.start_vipd(&group("r2", 100));
    for n in ["web4", "web6"] {
        a.expect_state(n, "MASTER", 3 * SEC);
        b.expect_state(n, "BACKUP", 3 * SEC);
    }
    assert_eq!(a.instance("web4")["group"], "lb");
    svc1.kill();
    for n in ["web4", "web6"] {
        b.expect_state(n, "MASTER", 2 * SEC);
        assert_eq!(a.state(n), "FAULT", "{n}");
    }
    assert!(wait_until(SEC, Duration::from_millis(20), || holds_both(
        &r2
    )
        && holds_none(&r1)));
    assert_eq!(
        a.instance("web4")["priority_arithmetic"],
        "150 (svc: FAULT)"
    );
}

/// An exec tracker runs as the script user, in a clean environment, with
/// no descriptor of vipd's (no VRRP, netlink or control socket).
#[test]
fn exec_trackers_run_as_the_script_user_with_nothing_inherited() {
    let lab = Lab::new("health_exec");
    let r1 = lab.add_host("r1", &["10.88.1.1/24"]);
    // Output goes to a directory anyone may write: the script user is not root.
    let out = std::path::PathBuf::from(format!("/run/vipd-lab-{}", lab.id()));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let report = out.join("report");
    let line = format!(
        "{{ id -u; ls /proc/self/fd | tr '\\\\n' ' '; echo; env | sort | tr '\\\\n' ' '; }} > {}",
        report.display()
    );
    let yaml = format!(
        "trackers:\n  ok: {{exec: \"{line}\", shell: true, interval: 500ms}}\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 9\n    advert_interval: 100ms\n    vips: [10.88.1.100/24]\n    track: [ok]\n"
    );
    let a = r1.start_vipd(&yaml);
    assert!(
        wait_until(5 * SEC, Duration::from_millis(50), || report.exists()),
        "the tracker ran:\n{}",
        a.proc.log_tail(20)
    );
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let mut lines = text.lines();
    let uid: u32 = lines.next().unwrap().trim().parse().unwrap();
    let expected = ["vipd-script", "nobody"]
        .iter()
        .find_map(|n| nix::unistd::User::from_name(n).ok().flatten())
        .unwrap()
        .uid
        .as_raw();
    assert_eq!(uid, expected, "runs as the script user");
    // ls's own descriptors: stdin, stdout (the file), stderr, its directory.
    assert_eq!(
        lines.next().unwrap().trim(),
        "0 1 2 3",
        "nothing of vipd's inherited"
    );
    let env = lines.next().unwrap();
    assert!(env.contains("HOME=/ ") && env.contains("PATH="), "{env}");
    assert!(
        !env.contains("NOTIFY_SOCKET") && !env.contains("RUST_LOG"),
        "{env}"
    );
    a.expect_state("web", "MASTER", 3 * SEC);
}

/// A script anyone could rewrite is refused by `vipctl check` and by vipd.
#[test]
fn unsafe_script_is_refused() {
    let lab = Lab::new("health_unsafe");
    let r1 = lab.add_host("r1", &["10.88.2.1/24"]);
    // The lab's directory is under /tmp, which anyone may write to.
    let script = lab.tmpdir().join("check.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let yaml = format!(
        "trackers:\n  chk: {{exec: [{}]}}\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 9\n    vips: [10.88.2.100/24]\n    track: [chk]\n",
        script.display()
    );
    let conf = lab.tmpdir().join("unsafe.yaml");
    std::fs::write(&conf, &yaml).unwrap();
    let out = std::process::Command::new(vipctl_bin())
        .args(["check", conf.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("tracker \"chk\"") && err.contains("writable by someone other than root"),
        "{err}"
    );
    // The daemon refuses to start on it, saying the same.
    let log = lab.tmpdir().join("vipd-unsafe.log");
    let d = r1.spawn(
        &[
            lab::vipd::vipd_bin(),
            "--config",
            conf.to_str().unwrap(),
            "--control-socket",
            lab.tmpdir().join("u.sock").to_str().unwrap(),
        ],
        &log,
    );
    let status = d.wait_exit(5 * SEC).expect("vipd exits");
    assert!(!status.success());
    assert!(
        d.log().contains("writable by someone other than root"),
        "{}",
        d.log()
    );
}

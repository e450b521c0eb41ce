//! The hooks on lab hosts (run as root):
//! - ifupdown: a router whose eth0 is run by ifupdown 0.8 (its own
//!   /etc/network and /run/network in a private mount namespace, hooks put
//!   there by `vipctl hooks install --root`) gets `ifdown eth0; ifup eth0`
//!   ten times as MASTER. After each: VIP on the master's MACVLAN, no role
//!   change on either router. A control run without the hooks shows what
//!   they prevent.
//! - networkd: with vipd frozen (SIGSTOP) the MACVLAN is deleted and the
//!   installed networkd-dispatcher script is run with the variables
//!   networkd-dispatcher passes; it recreates the device (virtual MAC)
//!   within its time bound; vipd, continued, has the VIP back on it with no
//!   role change. Unrelated interfaces are a no-op.

mod lab;

use lab::capture::{garps, vrrp_adverts};
use lab::vipd::{Vipd, vipctl_bin};
use lab::{Host, Lab, now_epoch, wait_until};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

fn yaml(vrid: u8, priority: u8, interval: &str, vip: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {vrid}\n    priority: {priority}\n    advert_interval: {interval}\n    vips: [{vip}]\n    vip_device: {{kind: macvlan}}\n"
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (became_master, last transition time) of instance `web`.
fn roles(v: &Vipd) -> (u64, f64) {
    let i = v.instance("web");
    (
        i["became_master"].as_u64().unwrap_or(u64::MAX),
        i["last_transition"]["unix_time"].as_f64().unwrap_or(-1.0),
    )
}

fn install_hooks(root: &Path, only: &str) -> String {
    let out = Command::new(vipctl_bin())
        .args([
            "hooks",
            "install",
            "--root",
            root.to_str().unwrap(),
            "--only",
            only,
        ])
        .output()
        .unwrap();
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}{}", text(&out.stderr));
    so
}

/// The VIP device's MAC, "" when it does not exist.
fn device_mac(h: &Host, dev: &str) -> String {
    let o = h.exec(&["cat", &format!("/sys/class/net/{dev}/address")]);
    text(&o.stdout).trim().to_string()
}

/// r1 (ifupdown, priority 150) and r2 (priority 100) with vipd; `hooks`
/// says whether r1 gets the ifupdown hooks.
struct IfupdownPair {
    lab: Lab,
    r1: Host,
    ifu: lab::ifupdown::Ifupdown,
    v1: Vipd,
    v2: Vipd,
}

const VIP80: &str = "10.9.80.100/24";

fn ifupdown_pair(name: &str, hooks: bool) -> IfupdownPair {
    let lab = Lab::new(name);
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &["10.9.80.2/24"]);
    // Where start_vipd puts vipd's config and socket (see lab/vipd.rs).
    let config = r1.tmpdir().join("vipd-r1.yaml");
    let socket = r1.tmpdir().join("vipd-r1.sock");
    let interfaces = format!(
        "auto lo\niface lo inet loopback\n\n\
         iface eth0 inet static\n    address 10.9.80.1/24\n    vipd-config {}\n    vipd-socket {}\n    vipd-vipctl {}\n",
        config.display(),
        socket.display(),
        vipctl_bin()
    );
    let ifu = r1.start_ifupdown(&interfaces, |root| {
        if hooks {
            let so = install_hooks(root, "ifupdown");
            assert!(
                so.contains("if-down.d/vipd") && so.contains("if-up.d/vipd"),
                "{so}"
            );
        }
    });
    ifu.sh_ok("ifup eth0");
    assert!(r1.has_addr("eth0", "10.9.80.1/24"));
    let v1 = ifu.start_vipd(&yaml(80, 150, "1s", VIP80));
    let v2 = r2.start_vipd(&yaml(80, 100, "1s", VIP80));
    v1.expect_state("web", "MASTER", 8 * SEC);
    v2.expect_state("web", "BACKUP", 8 * SEC);
    assert!(r1.wait_addr("vrrp.80", VIP80, true, 3 * SEC));
    IfupdownPair {
        lab,
        r1,
        ifu,
        v1,
        v2,
    }
}

#[test]
fn ifdown_ifup_on_the_master_keeps_roles_with_the_hooks() {
    const N: usize = 10;
    let p = ifupdown_pair("hooks_ifupdown", true);
    let (b1, b2) = (roles(&p.v1), roles(&p.v2));
    let cap = p.lab.capture("vrrp or arp");
    let mut bounce_ms = Vec::new();
    let mut vip_back_ms = Vec::new();
    // (start, end) of each `ifdown; ifup`, on the capture's clock.
    let mut windows = Vec::new();
    for i in 0..N {
        let t = Instant::now();
        let start = now_epoch();
        let out = p.ifu.exec(&["sh", "-c", "ifdown eth0 && ifup eth0"]);
        let took = t.elapsed();
        windows.push((start, now_epoch()));
        let err = text(&out.stderr);
        assert!(
            out.status.success(),
            "bounce {i}: {}{err}",
            text(&out.stdout)
        );
        // The pre-down hook reached vipd and held the instance.
        assert!(
            err.contains("holding web through a link-down on eth0"),
            "bounce {i}: {err}"
        );
        bounce_ms.push(took.as_millis());
        let back = p.r1.wait_addr("vrrp.80", VIP80, true, 3 * SEC);
        vip_back_ms.push(t.elapsed().as_millis());
        assert!(back, "bounce {i}: VIP not back on the master");
        assert!(p.r1.has_addr("eth0", "10.9.80.1/24"), "bounce {i}");
        assert_eq!(device_mac(&p.r1, "vrrp.80"), "00:00:5e:00:01:50");
        // Past the backup's Master_Down_Interval (3.6 s): had the master
        // stopped advertising, the backup would have taken over by now.
        std::thread::sleep(Duration::from_millis(4000));
        assert_eq!(p.v1.state("web"), "MASTER", "bounce {i}");
        assert_eq!(p.v2.state("web"), "BACKUP", "bounce {i}");
        assert_eq!(roles(&p.v1), b1, "bounce {i}: r1 changed role");
        assert_eq!(roles(&p.v2), b2, "bounce {i}: r2 changed role");
        assert!(p.r1.has_addr("vrrp.80", VIP80), "bounce {i}");
        // Let the second GARP burst (5 s after the resume) pass before the
        // next bounce, so each bounce's window holds only its own burst.
        std::thread::sleep(
            (t + Duration::from_millis(5600)).saturating_duration_since(Instant::now()),
        );
    }
    // On the wire: at each link-up the master announced the VIP from the
    // virtual MAC (a burst of 5, the default) with an advert right before.
    let frames = cap.stop();
    let vmac = [0, 0, 0x5e, 0, 1, 0x50];
    let r1_addr: std::net::IpAddr = "10.9.80.1".parse().unwrap();
    let adverts = vrrp_adverts(&frames);
    for (i, (start, end)) in windows.iter().enumerate() {
        let until = *end + Duration::from_millis(300);
        let burst: Vec<Duration> = garps(&frames)
            .into_iter()
            .filter(|(ts, mac, ip)| {
                *mac == vmac && ip.to_string() == "10.9.80.100" && ts >= start && *ts <= until
            })
            .map(|(ts, _, _)| ts)
            .collect();
        assert!(burst.len() >= 5, "bounce {i}: GARPs at link-up: {burst:?}");
        let first = burst[0];
        assert!(
            adverts.iter().any(|(ts, src, vrid, prio)| *src == r1_addr
                && (*vrid, *prio) == (80, 150)
                && *ts + Duration::from_millis(50) >= first
                && *ts <= first + Duration::from_millis(50)),
            "bounce {i}: no advert from the master with the announcement"
        );
    }
    let log = p.v1.proc.log();
    assert_eq!(
        log.matches("hold: a link-down").count(),
        N,
        "one hold per bounce"
    );
    eprintln!(
        "ifupdown with hooks: {N} bounces, ifdown+ifup took {bounce_ms:?} ms, VIP on the master {vip_back_ms:?} ms after the bounce started, role changes: 0"
    );
}

#[test]
fn ifdown_ifup_without_the_hooks_faults_the_master() {
    let p = ifupdown_pair("hooks_ifupdown_ctl", false);
    let (b1, b2) = (roles(&p.v1), roles(&p.v2));
    let t = Instant::now();
    p.ifu.sh_ok("ifdown eth0 && ifup eth0");
    // Converged again: r1 (priority 150, preempt) master with its VIP.
    let back = wait_until(15 * SEC, Duration::from_millis(50), || {
        p.v1.state("web") == "MASTER" && p.r1.has_addr("vrrp.80", VIP80)
    });
    let vip_back = t.elapsed();
    assert!(back, "r1 did not come back\n{}", p.v1.proc.log_tail(30));
    std::thread::sleep(SEC);
    let (a1, a2) = (roles(&p.v1), roles(&p.v2));
    let log = p.v1.proc.log();
    assert!(
        log.contains("to=FAULT"),
        "without a hold the link-down faults:\n{log}"
    );
    assert!(a1.0 > b1.0, "r1 left MASTER and came back");
    eprintln!(
        "ifupdown without hooks: 1 bounce -> r1 MASTER->FAULT (became_master {} -> {}), r2 became_master {} -> {}, VIP back on r1 after {} ms",
        b1.0,
        a1.0,
        b2.0,
        a2.0,
        vip_back.as_millis()
    );
}

#[test]
fn dispatcher_hook_recreates_the_device_under_a_frozen_vipd() {
    let lab = Lab::new("hooks_networkd");
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &["10.9.81.2/24"]);
    let network = "[Match]\nName=eth0\n\n[Network]\nAddress=10.9.81.1/24\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n";
    let nd1 = r1.start_networkd(&[("10-eth0.network", network)]);
    // 2 s adverts: Master_Down_Interval 7.2 s, room for a frozen vipd and
    // the hook's 2 s wait on it.
    let vip = "10.9.81.100/24";
    let v1 = nd1.start_vipd(&yaml(81, 150, "2s", vip));
    let v2 = r2.start_vipd(&yaml(81, 100, "2s", vip));
    v1.expect_state("web", "MASTER", 12 * SEC);
    v2.expect_state("web", "BACKUP", 12 * SEC);
    assert!(r1.wait_addr("vrrp.81", vip, true, 3 * SEC));
    let (b1, b2) = (roles(&v1), roles(&v2));

    // The script as installed for networkd-dispatcher.
    let root = r1.tmpdir().join("ndd-root");
    let so = install_hooks(&root, "networkd-dispatcher");
    assert!(so.contains("routable.d/50-vipd"), "{so}");
    let script = root.join("etc/networkd-dispatcher/routable.d/50-vipd");
    let (admin, oper) = nd1.link_state("eth0");
    let run = |iface: &str, state: &str| {
        let vars = [
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            format!("IFACE={iface}"),
            format!("STATE={state}"),
            format!("AdministrativeState={admin}"),
            format!("OperationalState={oper}"),
            "IP_ADDRS=10.9.81.1".to_string(),
            "IP6_ADDRS=".to_string(),
            format!("VIPCTL={}", vipctl_bin()),
            format!("VIPD_CONFIG={}", v1.config.display()),
            format!("VIPD_SOCKET={}", v1.socket.display()),
        ];
        let mut args: Vec<&str> = vec!["env", "-i"];
        args.extend(vars.iter().map(String::as_str));
        args.extend(["/bin/sh", script.to_str().unwrap()]);
        let t = Instant::now();
        let out = nd1.exec(&args);
        (out, t.elapsed())
    };

    for i in 0..3 {
        assert!(v1.proc.signal(libc::SIGSTOP), "SIGSTOP");
        let frozen = Instant::now();
        nd1.exec_ok(&["ip", "link", "del", "vrrp.81"]);
        assert_eq!(
            device_mac(&r1, "vrrp.81"),
            "",
            "round {i}: device still there"
        );
        let (out, hook_took) = run("eth0", "routable");
        let err = text(&out.stderr);
        assert!(out.status.success(), "round {i}: {err}");
        // The hook, not vipd, made it: vipd is still frozen.
        assert_eq!(
            device_mac(&r1, "vrrp.81"),
            "00:00:5e:00:01:51",
            "round {i}: {err}"
        );
        assert!(err.contains("created vrrp.81 on eth0"), "round {i}: {err}");
        assert!(err.contains("did not answer"), "round {i}: {err}");
        assert!(
            hook_took < Duration::from_secs(5),
            "round {i}: hook blocked {hook_took:?}"
        );
        assert!(v1.proc.signal(libc::SIGCONT), "SIGCONT");
        let frozen_for = frozen.elapsed();
        assert!(
            r1.wait_addr("vrrp.81", vip, true, 3 * SEC),
            "round {i}: VIP not back\n{}",
            v1.proc.log_tail(20)
        );
        // Run again with vipd answering: nothing missing, nothing said, fast.
        let (out, took) = run("eth0", "configured");
        assert!(out.status.success());
        assert!(
            text(&out.stderr).is_empty(),
            "round {i}: {}",
            text(&out.stderr)
        );
        assert!(took < Duration::from_secs(2), "round {i}: {took:?}");
        eprintln!(
            "networkd round {i}: hook took {} ms under a frozen vipd ({} ms with vipd answering), vipd frozen {} ms",
            hook_took.as_millis(),
            took.as_millis(),
            frozen_for.as_millis()
        );
        // Past the backup's Master_Down_Interval from the freeze.
        std::thread::sleep(Duration::from_millis(8000).saturating_sub(frozen_for));
        assert_eq!(v1.state("web"), "MASTER", "round {i}");
        assert_eq!(v2.state("web"), "BACKUP", "round {i}");
        assert_eq!(roles(&v1), b1, "round {i}: r1 changed role");
        assert_eq!(roles(&v2), b2, "round {i}: r2 changed role");
    }

    // Interfaces vipd does not use: no output, no device, immediate.
    for iface in ["lo", "eth7"] {
        let (out, took) = run(iface, "routable");
        assert!(out.status.success());
        assert!(
            text(&out.stderr).is_empty(),
            "{iface}: {}",
            text(&out.stderr)
        );
        assert!(took < Duration::from_secs(2), "{iface}: {took:?}");
    }
    // The VIP device itself (networkd reports it too): a resync, quiet.
    let (out, _) = run("vrrp.81", "routable");
    assert!(out.status.success() && text(&out.stderr).is_empty());
}

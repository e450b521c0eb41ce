//! Every keepalived.conf from the write-ups in shared/seeds (kept as
//! fixtures) is imported with `vipctl import-keepalived` and run: two lab
//! hosts with the interface names and addresses the write-up implies run
//! vipd on the imported YAML, and every instance must end up with exactly
//! one master holding all its addresses. Run as root.

mod lab;

use lab::vipd::vipctl_bin;
use lab::{Host, Lab, wait_until};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn import(fixture: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(fixture);
    let out = Command::new(vipctl_bin())
        .arg("import-keepalived")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import of {fixture} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A host whose only NIC is named `iface`, with `addrs` and on-link `routes`.
fn host(lab: &Lab, name: &str, iface: &str, addrs: &[&str], routes: &[&str]) -> Host {
    let h = lab.add_host(name, addrs);
    if iface != "eth0" {
        h.sh_ok(&format!(
            "ip link set eth0 down && ip link set eth0 name {iface} && ip link set {iface} up"
        ));
    }
    for r in routes {
        h.sh_ok(&format!("ip route add {r} dev {iface}"));
    }
    h
}

/// Runs the two imported configurations and checks the outcome. `expect`
/// names the host that must win each instance, when priorities decide it.
fn run_pair(name: &str, a: (&str, Host), b: (&str, Host), expect_a_master: Option<bool>) {
    let (ya, yb) = (import(a.0), import(b.0));
    let va = a.1.start_vipd(&ya);
    let vb = b.1.start_vipd(&yb);
    let names: Vec<String> = va.status()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.is_empty(), "{name}: no instances");
    for inst in &names {
        let settled = wait_until(Duration::from_secs(12), Duration::from_millis(100), || {
            let (sa, sb) = (va.state(inst), vb.state(inst));
            (sa == "MASTER") != (sb == "MASTER") && (sa == "BACKUP" || sb == "BACKUP")
        });
        assert!(
            settled,
            "{name}/{inst}: expected one MASTER and one BACKUP, got {} / {}\n{}\n{}",
            va.state(inst),
            vb.state(inst),
            va.proc.log_tail(20),
            vb.proc.log_tail(20)
        );
        let a_master = va.state(inst) == "MASTER";
        if let Some(want) = expect_a_master {
            assert_eq!(
                a_master, want,
                "{name}/{inst}: the higher priority must win"
            );
        }
        let (m, bk) = if a_master { (&va, &vb) } else { (&vb, &va) };
        let st = m.instance(inst);
        let total =
            st["vips"].as_array().unwrap().len() + st["excluded_vips"].as_array().unwrap().len();
        assert_eq!(
            st["vips_present"].as_u64().unwrap() as usize,
            total,
            "{name}/{inst}: master holds every VIP: {st}"
        );
        assert_eq!(
            bk.instance(inst)["vips_present"],
            0,
            "{name}/{inst}: backup holds none"
        );
        assert!(st["problem"].is_null(), "{st}");
    }
}

#[test]
fn seed002_openstack_unicast_pair_with_use_vmac() {
    let lab = Lab::new("seed002");
    let a = host(&lab, "first", "ens3", &["10.200.51.32/24"], &[]);
    let b = host(&lab, "second", "ens3", &["10.200.51.33/24"], &[]);
    run_pair(
        "seed002",
        ("seed002_ha_first.conf", a.clone()),
        ("seed002_ha_second.conf", b),
        Some(true),
    );
    assert!(
        a.has_addr("vrrp.1", "10.200.51.10/32"),
        "VIP on the MACVLAN use_vmac asked for"
    );
    assert_eq!(a.mac("vrrp.1"), [0, 0, 0x5e, 0, 1, 1]);
}

#[test]
fn seed003_master_backup_with_ah_imported_without_auth() {
    let lab = Lab::new("seed003");
    let a = host(&lab, "m", "eth0", &["192.0.2.1/24"], &[]);
    let b = host(&lab, "b", "eth0", &["192.0.2.2/24"], &[]);
    run_pair(
        "seed003",
        ("seed003_master.conf", a),
        ("seed003_backup.conf", b),
        Some(true),
    );
}

#[test]
fn seed003_unicast_pair_across_subnets() {
    let lab = Lab::new("seed003u");
    let a = host(&lab, "m", "eth0", &["1.2.3.4/32"], &["5.6.7.8/32"]);
    let b = host(&lab, "b", "eth0", &["5.6.7.8/32"], &["1.2.3.4/32"]);
    run_pair(
        "seed003_unicast",
        ("seed003_unicast_master.conf", a),
        ("seed003_unicast_backup.conf", b),
        None,
    );
}

#[test]
fn seed003_single_configs_on_both_hosts() {
    for fixture in [
        "seed003_global_defs.conf",
        "seed003_excluded.conf",
        "seed003_track_script.conf",
        "seed003_track_interface.conf",
        "seed003_notify.conf",
    ] {
        let lab = Lab::new(&fixture[..fixture.len() - 5]);
        let a = host(&lab, "a", "eth0", &["192.0.2.1/24", "fd00:db8::1/64"], &[]);
        let b = host(&lab, "b", "eth0", &["192.0.2.2/24", "fd00:db8::2/64"], &[]);
        run_pair(fixture, (fixture, a), (fixture, b), None);
    }
}

#[test]
fn seed004_dual_stack_haproxy_pairs() {
    for fixture in [
        "seed004_mixed.conf",
        "seed004_two_instances.conf",
        "seed004_sync_group.conf",
        "seed004_excluded.conf",
    ] {
        let lab = Lab::new(&fixture[..fixture.len() - 5]);
        let a = host(&lab, "lb1", "ens192", &["10.1.1.10/24"], &[]);
        let b = host(&lab, "lb2", "ens192", &["10.1.1.11/24"], &[]);
        run_pair(fixture, (fixture, a), (fixture, b), None);
    }
}

#[test]
fn seed000_use_vmac_pair() {
    let lab = Lab::new("seed000v");
    let a = host(&lab, "a", "eth0", &["10.1.0.10/24"], &[]);
    let b = host(&lab, "b", "eth0", &["10.1.0.11/24"], &[]);
    run_pair(
        "seed000_use_vmac",
        ("seed000_use_vmac.conf", a),
        ("seed000_use_vmac.conf", b),
        None,
    );
}

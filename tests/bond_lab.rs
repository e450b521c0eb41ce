//! A VRRP instance on a bonded interface: `bond0` in active-backup mode over
//! two veths, both plugged into the lab switch (two NICs to the same L2,
//! as two cables to one switch stack). Losing the active slave is the
//! bond's business: the VIP stays, the instance stays MASTER, the backup
//! router hears adverts without a gap long enough to take over. Losing the
//! whole bond (both cables) is a link-down: the backup takes over.
//!
//! Kernels without bonding exist (this project's CI kernel is one): the test
//! is `#[ignore]`d and tests/run-all.sh runs it (with `--ignored`) where
//! `ip link add type bond` works, in the VM lab (tests/vm/run.sh) where the
//! host kernel cannot, and prints it as SKIPPED with the reason otherwise.

mod lab;

use lab::{Host, Lab};
use std::net::IpAddr;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn yaml(interface: &str, priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: {interface}\n    vrid: 62\n    priority: {priority}\n    advert_interval: 100ms\n    vips: [10.9.62.100/24]\n"
    )
}

/// The bond's active slave, from sysfs (empty when none).
fn active_slave(h: &Host) -> String {
    h.sh_ok("cat /sys/class/net/bond0/bonding/active_slave")
        .trim()
        .to_string()
}

fn state_changes(log: &str) -> usize {
    log.matches("state change").count()
}

#[test]
#[ignore = "needs bonding in the kernel: tests/run-all.sh runs it with --ignored where `ip link add type bond` works (else in the VM lab)"]
fn bonded_parent_survives_a_slave_removal_and_fails_over() {
    let lab = Lab::new("bond");
    let r1 = lab.add_host("r1", &[]);
    let r2 = lab.add_host("r2", &["10.9.62.2/24"]);
    let obs = lab.add_host("obs", &["10.9.62.200/24"]);
    let probe = r1.sh("ip link add bondprobe type bond && ip link del bondprobe");
    assert!(
        probe.status.success(),
        "this kernel cannot create a bond ({}): run this test where it can (tests/run-all.sh does, in the VM lab if need be)",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    // The second cable: eth1 in r1, its peer a port of the switch's br0.
    let port1 = format!("{}b", r1.peer);
    r1.exec_ok(&[
        "ip",
        "link",
        "add",
        "eth1",
        "type",
        "veth",
        "peer",
        "name",
        &port1,
        "netns",
        lab.switch_ns(),
    ]);
    let sw = |args: &[&str]| {
        let o = lab.switch_exec(args);
        assert!(o.status.success(), "switch: {args:?}: {o:?}");
    };
    sw(&["ip", "link", "set", &port1, "master", lab::BRIDGE]);
    sw(&["ip", "link", "set", &port1, "up"]);
    // Active-backup with MII monitoring (carrier), eth0 primary; the slaves
    // must be down to be enslaved.
    r1.sh_ok(
        "ip link add bond0 type bond mode active-backup miimon 50 && \
         ip link set eth0 down && ip link set eth0 master bond0 && \
         ip link set eth1 down && ip link set eth1 master bond0 && \
         echo eth0 > /sys/class/net/bond0/bonding/primary && \
         ip link set bond0 up && ip addr add 10.9.62.1/24 dev bond0",
    );
    assert!(
        lab::wait_until(5 * SEC, Duration::from_millis(50), || {
            active_slave(&r1) == "eth0"
        }),
        "bond0 has no active slave: {}",
        r1.sh_ok("cat /proc/net/bonding/bond0")
    );
    let a = r1.start_vipd(&yaml("bond0", 150));
    let b = r2.start_vipd(&yaml("eth0", 100));
    a.expect_state("web", "MASTER", 3 * SEC);
    b.expect_state("web", "BACKUP", 3 * SEC);
    assert!(r1.has_addr("bond0", "10.9.62.100/24"));
    let vip: IpAddr = "10.9.62.100".parse().unwrap();
    assert!(obs.ping(vip, 3), "the VIP on the bond answers");

    // Slave removal: the active slave leaves the bond; eth1 takes over.
    let before_a = state_changes(&a.proc.log());
    let before_b = state_changes(&b.proc.log());
    r1.exec_ok(&["ip", "link", "set", "eth0", "nomaster"]);
    assert!(
        lab::wait_until(3 * SEC, Duration::from_millis(20), || {
            active_slave(&r1) == "eth1"
        }),
        "eth1 did not become active: {}",
        r1.sh_ok("cat /proc/net/bonding/bond0")
    );
    // Several advert intervals (and more than Master_Down_Interval) later:
    // nothing moved.
    std::thread::sleep(SEC);
    assert_eq!(a.state("web"), "MASTER");
    assert_eq!(b.state("web"), "BACKUP");
    assert_eq!(
        state_changes(&a.proc.log()),
        before_a,
        "r1 changed state on a slave removal:\n{}",
        a.proc.log_tail(20)
    );
    assert_eq!(
        state_changes(&b.proc.log()),
        before_b,
        "r2 changed state on r1's slave removal:\n{}",
        b.proc.log_tail(20)
    );
    assert!(
        r1.has_addr("bond0", "10.9.62.100/24"),
        "the VIP left the bond"
    );
    assert!(obs.ping(vip, 3), "the VIP answers through the other slave");

    // The whole bond down (the remaining cable cut at the switch): the
    // bond loses carrier, r1 goes to FAULT, r2 takes over.
    lab.set_port(&port1, false);
    b.expect_state("web", "MASTER", 3 * SEC);
    a.expect_state("web", "FAULT", 3 * SEC);
    assert!(obs.ping(vip, 3), "the VIP answers from r2");
}

//! Pieces shared by the labs that run vipd against another VRRP
//! implementation (keepalived, FRR): the two-router subnet with its observer
//! and VIP, the observer's view of who answers for the VIP, and keepalived
//! configurations imported from the fixtures. One place, so the interop
//! labs cannot drift apart in how they lay out their hosts.

use super::vipd::vipctl_bin;
use super::{Host, Lab};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// A two-router lab subnet: r1 at `.1`, r2 at `.2`, the observer at `.200`
/// and the VIP at `.100`, in 10.9.N.0/24 or fd00:9:N::/64.
#[derive(Clone, Copy, Debug)]
pub struct PeerNet {
    pub ipv6: bool,
    /// N in 10.9.N.0/24 (fd00:9:N::/64); each test uses its own, so labs
    /// running at once never share addresses.
    pub subnet: u8,
}

impl PeerNet {
    pub const fn v4(subnet: u8) -> Self {
        PeerNet {
            ipv6: false,
            subnet,
        }
    }

    /// Host `host`'s address (1, 2, 100 = the VIP, 200 = the observer).
    pub fn addr(&self, host: u8) -> String {
        if self.ipv6 {
            format!("fd00:9:{}::{host}", self.subnet)
        } else {
            format!("10.9.{}.{host}", self.subnet)
        }
    }

    /// [`PeerNet::addr`] with the subnet's prefix length.
    pub fn cidr(&self, host: u8) -> String {
        format!("{}/{}", self.addr(host), if self.ipv6 { 64 } else { 24 })
    }

    pub fn vip(&self) -> IpAddr {
        self.addr(100)
            .parse()
            .unwrap_or_else(|e| panic!("lab: VIP {}: {e}", self.addr(100)))
    }

    /// r1, r2 and the observer, each with its address on eth0.
    pub fn hosts(&self, lab: &Lab) -> (Host, Host, Host) {
        (
            lab.add_host("r1", &[&self.cidr(1)]),
            lab.add_host("r2", &[&self.cidr(2)]),
            lab.add_host("obs", &[&self.cidr(200)]),
        )
    }
}

/// The observer's neighbour entry for `ip`: the MAC it sends to.
pub fn neighbour_mac(obs: &Host, ip: &str) -> Option<[u8; 6]> {
    let out = obs.exec_ok(&["ip", "neigh", "show", ip, "dev", "eth0"]);
    let mut it = out.split_whitespace();
    while let Some(w) = it.next() {
        if w == "lladdr" {
            return it.next().and_then(super::parse_mac);
        }
    }
    None
}

/// `vipctl import-keepalived` of tests/fixtures/keepalived/`fixture`: the
/// vipd configuration it prints (fails the test if the import fails).
pub fn import_keepalived_fixture(fixture: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(fixture);
    let out = Command::new(vipctl_bin())
        .arg("import-keepalived")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("lab: cannot run {}: {e}", vipctl_bin()));
    assert!(
        out.status.success(),
        "import of {fixture} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("import of {fixture}: {e}"))
}

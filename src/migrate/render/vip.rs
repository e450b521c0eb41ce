//! vipd's VIP devices in the interfaces file: `up` lines on the parent's
//! first stanza that create each device the way the daemon does.

use std::collections::BTreeMap;

use super::Device;
use crate::config::{Config, InstanceConfig, VipDeviceKind};

/// The lines for every instance's VIP device, by parent interface. An
/// instance on an interface netplan does not configure (not in `by_name`)
/// is a problem.
pub(super) fn vip_lines(
    cfg: &Config,
    by_name: &BTreeMap<&str, &Device>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Vec<String>> {
    let mut vip_lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for inst in &cfg.instances {
        if !by_name.contains_key(inst.interface.as_str()) {
            problems.push(format!(
                "vipd instance {}: its interface {} is not configured by netplan; add it to netplan or fix the vipd configuration first",
                inst.name, inst.interface
            ));
            continue;
        }
        let (Some(dev), Some(name)) = (&inst.vip_device, inst.vip_device_name()) else {
            continue;
        };
        vip_lines
            .entry(inst.interface.clone())
            .or_default()
            .extend(device_lines(inst, dev.kind, &name));
    }
    vip_lines
}

/// The lines that create `inst`'s VIP device `name` when its parent comes
/// up and delete it before the parent goes down.
fn device_lines(inst: &InstanceConfig, kind: VipDeviceKind, name: &str) -> Vec<String> {
    let parent = &inst.interface;
    let mut lines = Vec::new();
    match kind {
        VipDeviceKind::Macvlan => {
            // The same MAC the daemon and the networkd files use.
            let mac = crate::io::netlink::virtual_mac(inst.vrid, inst.mac_family());
            let mac = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            lines.push(format!(
                "# vipd instance {} (VRID {}): MACVLAN {name} with the VRRP virtual MAC holds its VIPs",
                inst.name, inst.vrid
            ));
            lines.push(format!(
                "up ip link add link {parent} name {name} address {mac} type macvlan mode bridge || ip link show {name} >/dev/null"
            ));
        }
        VipDeviceKind::Ipvlan => {
            lines.push(format!(
                "# vipd instance {} (VRID {}): IPVLAN {name} (L2) holds its VIPs",
                inst.name, inst.vrid
            ));
            lines.push(format!(
                "up ip link add link {parent} name {name} type ipvlan mode l2 || ip link show {name} >/dev/null"
            ));
        }
    }
    // As the daemon does for a device it creates
    // (crate::io::vip_device::ensure_vip_device): no link-local address
    // from a MAC shared with the other routers or the parent, set before
    // the device is up; no reverse-path filter on it.
    lines.push(format!("up ip link set dev {name} addrgenmode none"));
    lines.push(format!(
        "up echo 0 > /proc/sys/net/ipv4/conf/{name}/rp_filter"
    ));
    lines.push(format!("up ip link set {name} up"));
    lines.push(format!("pre-down ip link del {name} || true"));
    lines
}

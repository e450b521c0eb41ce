//! The ifupdown rendering of merged netplan devices (Debian ifupdown 0.8
//! syntax, ifenslave for bonds, bridge-utils for bridges) plus vipd's VIP
//! devices. Pure string building with a fixed layout, so a second run over
//! the same input gives the same bytes (and no second backup).
//!
//! Layout decisions, each because of how ifupdown 0.8 works:
//! - one `iface` stanza per method and address: `inet dhcp` first, then one
//!   `inet static` per IPv4 address, then `inet6 dhcp`, then one `inet6
//!   static` per IPv6 address (interfaces(5): several stanzas of one
//!   interface are all applied, in file order); no address and no DHCP gives
//!   one `inet manual`;
//! - link-level settings (mtu, hwaddress, bond/bridge/VLAN options, DNS, VIP
//!   devices) go on the first stanza only, so the hook scripts that run once
//!   per stanza act once;
//! - `mtu` is an option of static/manual; `inet dhcp` has none, so it becomes
//!   `pre-up ip link set dev X mtu N` there;
//! - DHCPv4 gets `metric 100` (netplan's networkd default RouteMetric=100)
//!   or `dhcp4-overrides.route-metric`;
//! - `accept-ra` is `accept_ra 0|1` on every inet6 stanza (ifupdown's inet6
//!   static turns RAs off when it has a gateway, unless told), or an `up`
//!   write of the sysctl when the interface has no inet6 stanza;
//! - gateway4/gateway6 become `gateway` on the first static stanza of their
//!   family; every other route (and a gateway without a static stanza) is an
//!   `up ip route add ... dev X` line on the family's last stanza (after all
//!   its addresses);
//! - bond and bridge members get `iface X inet manual` without `auto`:
//!   ifenslave (`bond-slaves` on the bond) and bridge-utils (`bridge_ports`)
//!   bring them up;
//! - a VLAN named `<link>.<id>` is created by ifupdown 0.8 itself; any other
//!   name gets explicit `pre-up ip link add ... type vlan` / `post-down ip
//!   link delete` lines;
//! - `optional: true` on an ethernet is `allow-hotplug` (boot does not wait
//!   for it), everything else `auto`.
//!
//! This file assembles the interfaces file and the .link files; `stanzas`
//! renders one device, `vip` the lines of vipd's VIP devices.

mod stanzas;
mod vip;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use super::netplan::{Device, Kind, Netplan};
use crate::config::Config;
use stanzas::{Stanza, device_stanzas};

/// Every file the migration writes starts with this line.
pub const HEADER: &str = "# Written by vipctl migrate-ifupdown";

/// What a migration writes and what the operator must install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Content of /etc/network/interfaces.
    pub interfaces: String,
    /// systemd .link files (path on the target system, content) for renames.
    pub link_files: Vec<(PathBuf, String)>,
    /// Debian packages the rendering relies on.
    pub packages: BTreeSet<&'static str>,
}

/// Renders `np` (and the VIP devices of `cfg`) or lists every problem.
pub fn render(np: &Netplan, cfg: Option<&Config>) -> Result<Rendered, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Rendered::default();
    out.packages.insert("ifupdown");
    let by_name: BTreeMap<&str, &Device> =
        np.devices.iter().map(|d| (d.name.as_str(), d)).collect();
    let member_of = members(np, &mut problems);
    let mut vip_lines = match cfg {
        Some(cfg) => vip::vip_lines(cfg, &by_name, &mut problems),
        None => BTreeMap::new(),
    };
    let mut text = preamble(np);
    for d in order(&np.devices, &by_name) {
        let member = member_of.get(d.name.as_str()).copied();
        if member.is_some() && configures_addresses(d) {
            problems.push(format!(
                "{} ({}): a bond or bridge member cannot have addresses, DHCP or routes of its own",
                d.name, d.id
            ));
        }
        let stanzas = device_stanzas(d, &mut out, vip_lines.remove(&d.name));
        write_device(&mut text, d, member, stanzas);
        if let Some(link) = link_file(d) {
            out.link_files.push(link);
        }
    }
    out.interfaces = text;
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The bond or bridge each member belongs to; a device in two is a problem.
fn members<'a>(np: &'a Netplan, problems: &mut Vec<String>) -> BTreeMap<&'a str, &'a str> {
    let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
    for d in &np.devices {
        if let Kind::Bond { interfaces, .. } | Kind::Bridge { interfaces, .. } = &d.kind {
            for m in interfaces {
                if let Some(prev) = member_of.insert(m.as_str(), d.name.as_str()) {
                    problems.push(format!(
                        "{m} is a member of both {prev} and {}: netplan would refuse this",
                        d.name
                    ));
                }
            }
        }
    }
    member_of
}

/// Whether `d` has addresses of its own (which a member cannot have).
fn configures_addresses(d: &Device) -> bool {
    d.dhcp4
        || d.dhcp6
        || !d.addresses.is_empty()
        || !d.routes.is_empty()
        || d.gateway4.is_some()
        || d.gateway6.is_some()
}

/// The start of the interfaces file: where it comes from, Debian's
/// `source` line (snippets already in interfaces.d still apply) and `lo`.
fn preamble(np: &Netplan) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{HEADER} from the netplan configuration:");
    for f in &np.files {
        let _ = writeln!(text, "#   {}", f.display());
    }
    text.push_str("# Interfaces are in netplan's dependency order; see interfaces(5).\n\n");
    text.push_str("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n");
    text
}

/// One device's part of the file: how it is brought up (`auto`,
/// `allow-hotplug`, or by its bond or bridge), then its stanzas.
fn write_device(text: &mut String, d: &Device, member: Option<&str>, stanzas: Vec<Stanza>) {
    text.push('\n');
    match (member, &d.kind) {
        (Some(m), _) => {
            let _ = writeln!(text, "# member of {m}");
        }
        (None, Kind::Ethernet { .. }) if d.optional => {
            let _ = writeln!(text, "allow-hotplug {}", d.name);
        }
        _ => {
            let _ = writeln!(text, "auto {}", d.name);
        }
    }
    for s in stanzas {
        let _ = writeln!(text, "iface {} {} {}", d.name, s.family, s.method);
        for o in s.opts {
            let _ = writeln!(text, "    {o}");
        }
    }
}

/// The systemd .link file of netplan's rename by MAC address, if `d` has one.
fn link_file(d: &Device) -> Option<(PathBuf, String)> {
    let Kind::Ethernet {
        match_mac: Some(mac),
        set_name: Some(name),
    } = &d.kind
    else {
        return None;
    };
    Some((
        PathBuf::from(format!("/etc/systemd/network/10-vipd-migrated-{name}.link")),
        format!(
            "{HEADER}: netplan's rename of {mac} to {name} (network.ethernets.{}).\n# udev applies .link files also when systemd-networkd is disabled.\n[Match]\nPermanentMACAddress={mac}\n\n[Link]\nName={name}\n",
            d.id
        ),
    ))
}

/// Devices in an order where each comes after what it is built on (a VLAN
/// after its link, a bond or bridge after its members), ties in netplan's
/// order (ethernets, bonds, bridges, vlans).
fn order<'a>(devices: &'a [Device], by_name: &BTreeMap<&str, &'a Device>) -> Vec<&'a Device> {
    fn deps(d: &Device) -> Vec<&str> {
        match &d.kind {
            Kind::Vlan { link, .. } => vec![link.as_str()],
            Kind::Bond { interfaces, .. } | Kind::Bridge { interfaces, .. } => {
                interfaces.iter().map(String::as_str).collect()
            }
            Kind::Ethernet { .. } => vec![],
        }
    }
    fn visit<'a>(
        d: &'a Device,
        by_name: &BTreeMap<&str, &'a Device>,
        done: &mut BTreeSet<String>,
        active: &mut BTreeSet<String>,
        out: &mut Vec<&'a Device>,
    ) {
        if done.contains(&d.name) || !active.insert(d.name.clone()) {
            return;
        }
        for dep in deps(d) {
            if let Some(x) = by_name.get(dep) {
                visit(x, by_name, done, active, out);
            }
        }
        active.remove(&d.name);
        done.insert(d.name.clone());
        out.push(d);
    }
    let mut done = BTreeSet::new();
    let mut active = BTreeSet::new();
    let mut out = Vec::new();
    for d in devices {
        visit(d, by_name, &mut done, &mut active, &mut out);
    }
    out
}

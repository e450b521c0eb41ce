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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use super::netplan::{Device, Kind, Netplan, Route};
use crate::config::{Config, VipDeviceKind};
use crate::family::Family;

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

struct Stanza {
    family: &'static str,
    method: &'static str,
    opts: Vec<String>,
}

/// Renders `np` (and the VIP devices of `cfg`) or lists every problem.
pub fn render(np: &Netplan, cfg: Option<&Config>) -> Result<Rendered, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Rendered::default();
    out.packages.insert("ifupdown");
    let by_name: BTreeMap<&str, &Device> =
        np.devices.iter().map(|d| (d.name.as_str(), d)).collect();

    // Members of bonds and bridges.
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

    // VIP device lines per parent interface.
    let mut vip_lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(cfg) = cfg {
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
            let lines = vip_lines.entry(inst.interface.clone()).or_default();
            let parent = &inst.interface;
            match dev.kind {
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
            // As the daemon does for a device it creates (daemon.rs,
            // ensure_vip_device): no link-local address from a MAC shared
            // with the other routers or the parent, set before the device
            // is up; no reverse-path filter on it.
            lines.push(format!("up ip link set dev {name} addrgenmode none"));
            lines.push(format!(
                "up echo 0 > /proc/sys/net/ipv4/conf/{name}/rp_filter"
            ));
            lines.push(format!("up ip link set {name} up"));
            lines.push(format!("pre-down ip link del {name} || true"));
        }
    }

    let mut text = String::new();
    let _ = writeln!(text, "{HEADER} from the netplan configuration:");
    for f in &np.files {
        let _ = writeln!(text, "#   {}", f.display());
    }
    text.push_str("# Interfaces are in netplan's dependency order; see interfaces(5).\n\n");
    text.push_str("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n");

    for d in order(&np.devices, &by_name) {
        let member = member_of.get(d.name.as_str()).copied();
        if member.is_some()
            && (d.dhcp4
                || d.dhcp6
                || !d.addresses.is_empty()
                || !d.routes.is_empty()
                || d.gateway4.is_some()
                || d.gateway6.is_some())
        {
            problems.push(format!(
                "{} ({}): a bond or bridge member cannot have addresses, DHCP or routes of its own",
                d.name, d.id
            ));
        }
        let stanzas = device_stanzas(d, &mut out, vip_lines.remove(&d.name));
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
        if let Kind::Ethernet {
            match_mac: Some(mac),
            set_name: Some(name),
        } = &d.kind
        {
            out.link_files.push((
                PathBuf::from(format!("/etc/systemd/network/10-vipd-migrated-{name}.link")),
                format!(
                    "{HEADER}: netplan's rename of {mac} to {name} (network.ethernets.{}).\n# udev applies .link files also when systemd-networkd is disabled.\n[Match]\nPermanentMACAddress={mac}\n\n[Link]\nName={name}\n",
                    d.id
                ),
            ));
        }
    }
    out.interfaces = text;
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
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

fn route_line(r: &Route, dev: &str) -> String {
    let mut s = String::from(match r.family {
        Family::V6 => "up ip -6 route add ",
        Family::V4 => "up ip route add ",
    });
    match r.to {
        Some((a, l)) => {
            let _ = write!(s, "{a}/{l}");
        }
        None => s.push_str("default"),
    }
    if let Some(v) = r.via {
        let _ = write!(s, " via {v}");
    }
    let _ = write!(s, " dev {dev}");
    if let Some(m) = r.metric {
        let _ = write!(s, " metric {m}");
    }
    if let Some(t) = r.table {
        let _ = write!(s, " table {t}");
    }
    if r.on_link {
        s.push_str(" onlink");
    }
    s
}

fn device_stanzas(d: &Device, out: &mut Rendered, vip: Option<Vec<String>>) -> Vec<Stanza> {
    let mut st = Vec::new();
    if d.dhcp4 {
        out.packages.insert("isc-dhcp-client");
        st.push(Stanza {
            family: "inet",
            method: "dhcp",
            opts: vec![format!("metric {}", d.dhcp4_route_metric.unwrap_or(100))],
        });
    }
    for (a, l) in d.addresses.iter().filter(|(a, _)| a.is_ipv4()) {
        st.push(Stanza {
            family: "inet",
            method: "static",
            opts: vec![format!("address {a}/{l}")],
        });
    }
    if d.dhcp6 {
        out.packages.insert("isc-dhcp-client");
        st.push(Stanza {
            family: "inet6",
            method: "dhcp",
            opts: vec![],
        });
    }
    for (a, l) in d.addresses.iter().filter(|(a, _)| a.is_ipv6()) {
        st.push(Stanza {
            family: "inet6",
            method: "static",
            opts: vec![format!("address {a}/{l}")],
        });
    }
    if st.is_empty() {
        st.push(Stanza {
            family: "inet",
            method: "manual",
            opts: vec![],
        });
    }

    // accept-ra: an option of inet6 static and dhcp; without an inet6
    // stanza, the sysctl is written when the interface comes up.
    if let Some(ra) = d.accept_ra {
        let v = u8::from(ra);
        let mut done = false;
        for s in st.iter_mut().filter(|s| s.family == "inet6") {
            s.opts.push(format!("accept_ra {v}"));
            done = true;
        }
        if !done {
            st[0].opts.push(format!(
                "up echo {v} > /proc/sys/net/ipv6/conf/{}/accept_ra",
                d.name
            ));
        }
    }

    // Gateways: `gateway` on the first static stanza of the family.
    let mut extra_routes: Vec<Route> = Vec::new();
    let mut gateway_routes: Vec<Route> = Vec::new();
    for (gw, fam) in [(d.gateway4, "inet"), (d.gateway6, "inet6")] {
        let Some(gw) = gw else { continue };
        let as_route = Route {
            to: None,
            family: Family::of(gw),
            via: Some(gw),
            metric: None,
            table: None,
            on_link: false,
        };
        match st
            .iter_mut()
            .find(|s| s.family == fam && s.method == "static")
        {
            Some(s) => {
                s.opts.push(format!("gateway {gw}"));
                gateway_routes.push(as_route);
            }
            None => extra_routes.push(as_route),
        }
    }
    let mut routes: Vec<&Route> = Vec::new();
    for r in extra_routes.iter().chain(&d.routes) {
        // gateway4 and the same `to: default` route are one kernel route:
        // adding it twice would make ifup fail with "File exists".
        if !gateway_routes.contains(r) && !routes.contains(&r) {
            routes.push(r);
        }
    }
    for r in routes {
        let fam = match r.family {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        };
        // The last stanza of the family: every address is there by then,
        // so a gateway in any of the subnets is reachable.
        let idx = st.iter().rposition(|s| s.family == fam).unwrap_or(0);
        st[idx].opts.push(route_line(r, &d.name));
    }

    // Link-level settings on the first stanza, before its other options.
    let mut link = Vec::new();
    if let Some(mac) = &d.macaddress {
        link.push(format!("hwaddress ether {mac}"));
    }
    if let Some(mtu) = d.mtu {
        if st[0].method == "dhcp" {
            link.push(format!("pre-up ip link set dev {} mtu {mtu}", d.name));
        } else {
            link.push(format!("mtu {mtu}"));
        }
    }
    match &d.kind {
        Kind::Bond { interfaces, params } => {
            out.packages.insert("ifenslave");
            link.push(format!("bond-slaves {}", members_text(interfaces)));
            link.extend(params.iter().map(|(k, v)| format!("{k} {v}")));
        }
        Kind::Bridge { interfaces, params } => {
            out.packages.insert("bridge-utils");
            link.push(format!("bridge_ports {}", members_text(interfaces)));
            link.extend(params.iter().map(|(k, v)| format!("{k} {v}")));
        }
        Kind::Vlan { id, link: raw } => {
            if d.name != format!("{raw}.{id}") {
                link.push(format!(
                    "pre-up ip link add link {raw} name {} type vlan id {id}",
                    d.name
                ));
                link.push(format!("post-down ip link delete {}", d.name));
            }
        }
        Kind::Ethernet { .. } => {}
    }
    if !d.nameservers.is_empty() {
        out.packages.insert("resolvconf");
        let ns: Vec<String> = d.nameservers.iter().map(IpAddr::to_string).collect();
        link.push(format!("dns-nameservers {}", ns.join(" ")));
    }
    if !d.search.is_empty() {
        out.packages.insert("resolvconf");
        link.push(format!("dns-search {}", d.search.join(" ")));
    }
    if let Some(v) = vip {
        link.extend(v);
    }
    let rest = std::mem::take(&mut st[0].opts);
    // Addresses stay first in their stanza; the rest follows them.
    let (addr, others): (Vec<String>, Vec<String>) =
        rest.into_iter().partition(|o| o.starts_with("address "));
    st[0].opts = addr.into_iter().chain(link).chain(others).collect();
    st
}

fn members_text(m: &[String]) -> String {
    if m.is_empty() {
        "none".into()
    } else {
        m.join(" ")
    }
}

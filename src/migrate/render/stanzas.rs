//! One device's `iface` stanzas, in the layout the module documentation
//! above explains: one stanza per method and address, accept-ra, gateways
//! and routes, then the link-level options on the first stanza.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::Rendered;
use crate::family::Family;
use crate::migrate::netplan::{Device, Kind, Route};

/// One `iface NAME FAMILY METHOD` stanza and its option lines.
pub(super) struct Stanza {
    pub(super) family: &'static str,
    pub(super) method: &'static str,
    pub(super) opts: Vec<String>,
}

impl Stanza {
    fn new(family: &'static str, method: &'static str, opts: Vec<String>) -> Stanza {
        Stanza {
            family,
            method,
            opts,
        }
    }
}

/// ifupdown's name of an address family.
fn inet(family: Family) -> &'static str {
    match family {
        Family::V4 => "inet",
        Family::V6 => "inet6",
    }
}

/// The stanzas of `d`; `vip`: the lines of the VIP devices on it. Records
/// the packages they need in `out`.
pub(super) fn device_stanzas(
    d: &Device,
    out: &mut Rendered,
    vip: Option<Vec<String>>,
) -> Vec<Stanza> {
    let mut st = method_stanzas(d, out);
    accept_ra(&mut st, d);
    routes(&mut st, d);
    let link = link_options(d, &st[0], out, vip);
    put_link_options(&mut st[0], link);
    st
}

/// DHCPv4, one static stanza per IPv4 address, DHCPv6, one per IPv6
/// address; `inet manual` when there is none of these.
fn method_stanzas(d: &Device, out: &mut Rendered) -> Vec<Stanza> {
    let mut st = Vec::new();
    if d.dhcp4 {
        out.packages.insert("isc-dhcp-client");
        st.push(Stanza::new(
            "inet",
            "dhcp",
            vec![format!("metric {}", d.dhcp4_route_metric.unwrap_or(100))],
        ));
    }
    st.extend(static_stanzas(d, Family::V4));
    if d.dhcp6 {
        out.packages.insert("isc-dhcp-client");
        st.push(Stanza::new("inet6", "dhcp", vec![]));
    }
    st.extend(static_stanzas(d, Family::V6));
    if st.is_empty() {
        st.push(Stanza::new("inet", "manual", vec![]));
    }
    st
}

fn static_stanzas(d: &Device, family: Family) -> impl Iterator<Item = Stanza> + '_ {
    d.addresses
        .iter()
        .filter(move |(a, _)| family.contains(*a))
        .map(move |(a, l)| Stanza::new(inet(family), "static", vec![format!("address {a}/{l}")]))
}

/// accept-ra: an option of inet6 static and dhcp; without an inet6
/// stanza, the sysctl is written when the interface comes up.
fn accept_ra(st: &mut [Stanza], d: &Device) {
    let Some(ra) = d.accept_ra else {
        return;
    };
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

/// The gateways, then every other route as an `up` line.
fn routes(st: &mut [Stanza], d: &Device) {
    let (extra_routes, gateway_routes) = gateways(st, d);
    let mut routes: Vec<&Route> = Vec::new();
    for r in extra_routes.iter().chain(&d.routes) {
        // gateway4 and the same `to: default` route are one kernel route:
        // adding it twice would make ifup fail with "File exists".
        if !gateway_routes.contains(r) && !routes.contains(&r) {
            routes.push(r);
        }
    }
    for r in routes {
        let fam = inet(r.family);
        // The last stanza of the family: every address is there by then,
        // so a gateway in any of the subnets is reachable.
        let idx = st.iter().rposition(|s| s.family == fam).unwrap_or(0);
        st[idx].opts.push(route_line(r, &d.name));
    }
}

/// Gateways: `gateway` on the first static stanza of the family. Returns
/// the gateways without such a stanza (to add as routes) and those with
/// one (as the default routes they are), both as routes.
fn gateways(st: &mut [Stanza], d: &Device) -> (Vec<Route>, Vec<Route>) {
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
    (extra_routes, gateway_routes)
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

/// Link-level settings, for the first stanza (`first`): MAC address, MTU,
/// the kind's options, DNS, the VIP devices.
fn link_options(
    d: &Device,
    first: &Stanza,
    out: &mut Rendered,
    vip: Option<Vec<String>>,
) -> Vec<String> {
    let mut link = Vec::new();
    if let Some(mac) = &d.macaddress {
        link.push(format!("hwaddress ether {mac}"));
    }
    if let Some(mtu) = d.mtu {
        if first.method == "dhcp" {
            link.push(format!("pre-up ip link set dev {} mtu {mtu}", d.name));
        } else {
            link.push(format!("mtu {mtu}"));
        }
    }
    link.extend(kind_options(d, out));
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
    link
}

/// A bond's or bridge's members and parameters; the creation of a VLAN
/// that ifupdown does not create by itself (one not named `<link>.<id>`).
fn kind_options(d: &Device, out: &mut Rendered) -> Vec<String> {
    let (package, members, interfaces, params) = match &d.kind {
        Kind::Bond { interfaces, params } => ("ifenslave", "bond-slaves", interfaces, params),
        Kind::Bridge { interfaces, params } => ("bridge-utils", "bridge_ports", interfaces, params),
        Kind::Vlan { id, link: raw } if d.name != format!("{raw}.{id}") => {
            return vec![
                format!(
                    "pre-up ip link add link {raw} name {} type vlan id {id}",
                    d.name
                ),
                format!("post-down ip link delete {}", d.name),
            ];
        }
        Kind::Vlan { .. } | Kind::Ethernet { .. } => return Vec::new(),
    };
    out.packages.insert(package);
    let mut opts = vec![format!("{members} {}", members_text(interfaces))];
    opts.extend(params.iter().map(|(k, v)| format!("{k} {v}")));
    opts
}

fn members_text(m: &[String]) -> String {
    if m.is_empty() {
        "none".into()
    } else {
        m.join(" ")
    }
}

/// Puts the link-level options on `first` after its addresses and before
/// its other options.
fn put_link_options(first: &mut Stanza, link: Vec<String>) {
    let rest = std::mem::take(&mut first.opts);
    // Addresses stay first in their stanza; the rest follows them.
    let (addr, others): (Vec<String>, Vec<String>) =
        rest.into_iter().partition(|o| o.starts_with("address "));
    first.opts = addr.into_iter().chain(link).chain(others).collect();
}

//! One device definition, key group by key group: flags, addresses,
//! gateways, routes, nameservers, link settings and the DHCP overrides (the
//! kind's own keys are in [`super::kind`]).
//!
//! Problems are reported in the order of the keys read here, which is the
//! order the operator sees them in.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_norway::Value;

use super::cx::{Cx, Node};
use super::kind::kind;
use super::translate::check_renderer;
use super::{Device, Route};
use crate::config::parse_cidr;
use crate::family::Family;

/// Keys every kind of device may have.
const COMMON_KEYS: [&str; 14] = [
    "accept-ra",
    "dhcp4-overrides",
    "dhcp4",
    "dhcp6",
    "addresses",
    "gateway4",
    "gateway6",
    "routes",
    "nameservers",
    "mtu",
    "optional",
    "macaddress",
    "renderer",
    "critical",
];
const WHY_DEVICE: &str = "ifupdown has no equivalent the migration writes";

/// The keys a device of section `sec` may have.
fn allowed_keys(sec: &str) -> Vec<&'static str> {
    let mut allowed: Vec<&str> = COMMON_KEYS.to_vec();
    match sec {
        "ethernets" => allowed.extend(["match", "set-name"]),
        "vlans" => allowed.extend(["id", "link"]),
        _ => allowed.extend(["interfaces", "parameters"]),
    }
    allowed
}

/// Translates the definition `body` of device `id` in section `sec`;
/// `names` maps every netplan ID to its kernel name.
pub(super) fn device(
    sec: &str,
    id: &str,
    body: &Node,
    names: &BTreeMap<String, String>,
    cx: &mut Cx,
) -> Device {
    body.check_keys(&allowed_keys(sec), WHY_DEVICE, cx);
    let (kind, name) = kind(sec, id, body, names, cx);
    let dhcp4 = body.flag("dhcp4", cx);
    let dhcp6 = body.flag("dhcp6", cx);
    let optional = body.flag("optional", cx);
    if let Some(r) = body.get("renderer") {
        check_renderer(r, &body.sub("renderer"), cx);
    }
    if body.flag("critical", cx) {
        cx.unsupported(
            &body.sub("critical"),
            "ifupdown always removes addresses on ifdown",
        );
    }
    let mut addresses = body.list("addresses", cx, address);
    let gateway4 = gateway(body, "gateway4", Family::V4, cx);
    let gateway6 = gateway(body, "gateway6", Family::V6, cx);
    let mut routes = body.list("routes", cx, |cx, r, p| {
        route(&Node::new(cx.mapping(r, p)?, p), cx)
    });
    let (nameservers, search) = nameservers(body, cx);
    // netplan drops repeated addresses and routes (a merge of two files
    // that both list one gives it once); ifup would fail on the second add.
    dedup(&mut addresses);
    dedup(&mut routes);
    let mtu = body.uint("mtu", 65535, cx).map(|m| m as u32);
    let macaddress = body.string("macaddress", cx);
    let accept_ra = body.boolean("accept-ra", cx);
    let dhcp4_route_metric = dhcp4_route_metric(body, cx);
    check_name(sec, &name, body, cx);
    Device {
        id: id.to_string(),
        name,
        kind,
        dhcp4,
        dhcp6,
        addresses,
        gateway4,
        gateway6,
        routes,
        nameservers,
        search,
        mtu,
        optional,
        macaddress,
        accept_ra,
        dhcp4_route_metric,
    }
}

/// One item of `addresses:`: a plain ADDRESS/PREFIX.
fn address(cx: &mut Cx, a: &Value, path: &str) -> Option<(IpAddr, u8)> {
    match a {
        Value::String(s) => match parse_cidr(s) {
            Ok(x) if s.contains('/') => return Some(x),
            Ok(_) => cx.err(
                path,
                format!("{s:?} needs a prefix length (netplan requires one)"),
            ),
            Err(e) => cx.err(path, e),
        },
        Value::Mapping(_) => cx.unsupported(
            path,
            "address options (lifetime, label): write the plain ADDRESS/PREFIX",
        ),
        _ => cx.err(path, "expected ADDRESS/PREFIX"),
    }
    None
}

/// `gateway4` / `gateway6`: an address of the key's family.
fn gateway(body: &Node, key: &str, family: Family, cx: &mut Cx) -> Option<IpAddr> {
    let a = body.ip(key, cx)?;
    if family.contains(a) {
        Some(a)
    } else {
        cx.err(&body.sub(key), "address of the wrong family");
        None
    }
}

/// One item of `routes:`.
fn route(r: &Node, cx: &mut Cx) -> Option<Route> {
    r.check_keys(
        &["to", "via", "metric", "table", "on-link"],
        "ip route options other than to, via, metric, table and on-link",
        cx,
    );
    let Some(to_v) = r.get("to") else {
        cx.err(&r.sub("to"), "missing: a route needs `to`");
        return None;
    };
    let to_s = cx.string(to_v, &r.sub("to"))?;
    let via = r.ip("via", cx);
    let (to, family) = match to_s.as_str() {
        "default" => (None, via.map(Family::of).unwrap_or(Family::V4)),
        "0.0.0.0/0" => (None, Family::V4),
        "::/0" => (None, Family::V6),
        s => match parse_cidr(s) {
            Ok((a, l)) => (Some((a, l)), Family::of(a)),
            Err(e) => {
                cx.err(&r.sub("to"), e);
                return None;
            }
        },
    };
    if let Some(v) = via
        && !family.contains(v)
    {
        cx.err(&r.sub("via"), "gateway of the other address family");
    }
    Some(Route {
        to,
        family,
        via,
        metric: r.uint("metric", u32::MAX as u64, cx).map(|x| x as u32),
        table: r.uint("table", u32::MAX as u64, cx).map(|x| x as u32),
        on_link: r.flag("on-link", cx),
    })
}

/// `nameservers:`: the DNS servers and search domains.
fn nameservers(body: &Node, cx: &mut Cx) -> (Vec<IpAddr>, Vec<String>) {
    let Some(ns) = body.child("nameservers", cx) else {
        return (Vec::new(), Vec::new());
    };
    ns.check_keys(&["addresses", "search"], WHY_DEVICE, cx);
    let addresses = ns.list("addresses", cx, |cx, a, p| cx.ip(a, p));
    let search = ns.list("search", cx, |cx, s, p| cx.string(s, p));
    (addresses, search)
}

/// `dhcp4-overrides:`: only the route metric has a dhclient equivalent.
fn dhcp4_route_metric(body: &Node, cx: &mut Cx) -> Option<u32> {
    let o = body.child("dhcp4-overrides", cx)?;
    o.check_keys(
        &["route-metric"],
        "dhclient has no per-interface switch for it",
        cx,
    );
    o.uint("route-metric", u32::MAX as u64, cx)
        .map(|m| m as u32)
}

/// An invalid kernel name is reported at the key it came from.
fn check_name(sec: &str, name: &str, body: &Node, cx: &mut Cx) {
    if let Err(e) = crate::config::check_ifname(name) {
        let key = match sec {
            "ethernets" if body.map.contains_key("set-name") => body.sub("set-name"),
            "ethernets" if body.get("match").and_then(|m| m.get("name")).is_some() => {
                body.sub("match.name")
            }
            _ => body.path.clone(),
        };
        cx.err(&key, e);
    }
}

/// Removes repeated entries, keeping the first of each.
fn dedup<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    *v = out;
}

//! The keys of each kind of device: an ethernet's `match:` and `set-name:`,
//! a VLAN's `id:` and `link:`, a bond's or bridge's `interfaces:` and
//! `parameters:` (translated to ifenslave and bridge-utils options).

use std::collections::BTreeMap;

use serde_norway::Value;

use super::Kind;
use super::cx::{Cx, Node};
use super::merge::key_text;

/// The kind of the device `id` of section `sec`, and its kernel name.
pub(super) fn kind(
    sec: &str,
    id: &str,
    body: &Node,
    names: &BTreeMap<String, String>,
    cx: &mut Cx,
) -> (Kind, String) {
    match sec {
        "ethernets" => ethernet(id, body, cx),
        "vlans" => (vlan(body, names, cx), id.to_string()),
        _ => (bond_or_bridge(sec, body, names, cx), id.to_string()),
    }
}

/// `match:` and `set-name:`; the name is `set-name`, else an exact
/// `match.name`, else the ID.
fn ethernet(id: &str, body: &Node, cx: &mut Cx) -> (Kind, String) {
    let mut match_mac = None;
    let mut match_name = None;
    if let Some(m) = body.child("match", cx) {
        m.check_keys(
            &["macaddress", "name"],
            "ifupdown matches interfaces by name only; a rename by MAC is supported",
            cx,
        );
        match_mac = m.string("macaddress", cx);
        match_name = m.string("name", cx);
    }
    let set_name = body.string("set-name", cx);
    check_match(body, &match_mac, &match_name, &set_name, cx);
    let name = set_name
        .clone()
        .or(match_name)
        .unwrap_or_else(|| id.to_string());
    (
        Kind::Ethernet {
            match_mac,
            set_name,
        },
        name,
    )
}

/// ifupdown knows interfaces by name only: a match must give the name, or
/// be a MAC address with a rename (which the migration writes as a .link
/// file).
fn check_match(
    body: &Node,
    match_mac: &Option<String>,
    match_name: &Option<String>,
    set_name: &Option<String>,
    cx: &mut Cx,
) {
    if let Some(n) = match_name
        && n.contains(['*', '?', '['])
        && set_name.is_none()
    {
        cx.unsupported(
            &body.sub("match.name"),
            "a name pattern: ifupdown needs each interface's name",
        );
    }
    if match_mac.is_some() && set_name.is_none() && match_name.is_none() {
        cx.unsupported(
            &body.sub("match.macaddress"),
            "a MAC match without set-name: the interface's name is unknown to ifupdown; add set-name",
        );
    }
    if set_name.is_some() && match_mac.is_none() {
        cx.unsupported(
            &body.sub("set-name"),
            "a rename needs match.macaddress (the migration writes a .link file matching the MAC)",
        );
    }
}

/// `id:` and `link:`, both required.
fn vlan(body: &Node, names: &BTreeMap<String, String>, cx: &mut Cx) -> Kind {
    let id = body.uint("id", 4094, cx);
    let link = body.string("link", cx);
    if body.get("id").is_none() {
        cx.err(&body.sub("id"), "missing: a VLAN needs its id");
    }
    let link = match link {
        Some(l) => kernel_name(names, &l, &body.sub("link"), cx).unwrap_or(l),
        None => {
            cx.err(&body.sub("link"), "missing: a VLAN needs its link");
            String::new()
        }
    };
    Kind::Vlan {
        id: id.unwrap_or(0) as u16,
        link,
    }
}

/// `interfaces:` (the members) and `parameters:`.
fn bond_or_bridge(sec: &str, body: &Node, names: &BTreeMap<String, String>, cx: &mut Cx) -> Kind {
    let interfaces = body.list("interfaces", cx, |cx, m, p| {
        let m = cx.string(m, p)?;
        kernel_name(names, &m, p, cx)
    });
    let bond = sec == "bonds";
    let params = body
        .child("parameters", cx)
        .map(|m| {
            if bond {
                bond_params(&m, names, cx)
            } else {
                bridge_params(&m, cx)
            }
        })
        .unwrap_or_default();
    if bond {
        Kind::Bond { interfaces, params }
    } else {
        Kind::Bridge { interfaces, params }
    }
}

/// The kernel name of the device with netplan ID `id`, referred to at `path`.
fn kernel_name(
    names: &BTreeMap<String, String>,
    id: &str,
    path: &str,
    cx: &mut Cx,
) -> Option<String> {
    let name = names.get(id).cloned();
    if name.is_none() {
        cx.err(path, format!("{id} is not a netplan device"));
    }
    name
}

/// An option and its value (`None` when the value was bad, and reported);
/// `None` for a key that has no option.
type Opt = Option<(&'static str, Option<String>)>;

/// The options of a `parameters:` mapping, in its order: `option` translates
/// one key (with its value and key path).
fn options(
    m: &Node,
    cx: &mut Cx,
    mut option: impl FnMut(&str, &Value, &str, &mut Cx) -> Opt,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in m.map {
        let k = key_text(k);
        if let Some((opt, Some(val))) = option(&k, v, &m.sub(&k), cx) {
            out.push((opt.to_string(), val));
        }
    }
    out
}

const BOND_PARAMS: [&str; 11] = [
    "mode",
    "mii-monitor-interval",
    "lacp-rate",
    "transmit-hash-policy",
    "primary",
    "up-delay",
    "down-delay",
    "min-links",
    "ad-select",
    "arp-interval",
    "arp-ip-targets",
];

fn bond_params(m: &Node, names: &BTreeMap<String, String>, cx: &mut Cx) -> Vec<(String, String)> {
    m.check_keys(
        &BOND_PARAMS,
        "bond parameter the migration does not translate to ifenslave",
        cx,
    );
    options(m, cx, |k, v, p, cx| bond_option(k, v, p, names, cx))
}

/// One bond parameter as an ifenslave option.
fn bond_option(k: &str, v: &Value, p: &str, names: &BTreeMap<String, String>, cx: &mut Cx) -> Opt {
    // netplan: bare numbers are milliseconds for the durations.
    let ms = |cx: &mut Cx| cx.duration_ms(v, p, 1).map(|x| x.to_string());
    Some(match k {
        "mode" => ("bond-mode", cx.string(v, p)),
        "lacp-rate" => ("bond-lacp-rate", cx.string(v, p)),
        "transmit-hash-policy" => ("bond-xmit-hash-policy", cx.string(v, p)),
        "ad-select" => ("bond-ad-select", cx.string(v, p)),
        "primary" => (
            "bond-primary",
            cx.string(v, p)
                .map(|id| names.get(&id).cloned().unwrap_or(id)),
        ),
        "mii-monitor-interval" => ("bond-miimon", ms(cx)),
        "up-delay" => ("bond-updelay", ms(cx)),
        "down-delay" => ("bond-downdelay", ms(cx)),
        "arp-interval" => ("bond-arp-interval", ms(cx)),
        "min-links" => ("bond-min-links", cx.uint(v, p, 1024).map(|x| x.to_string())),
        "arp-ip-targets" => {
            let t: Vec<String> = cx
                .list(v, p, |cx, a, p| cx.ip(a, p))
                .iter()
                .map(ToString::to_string)
                .collect();
            ("bond-arp-ip-target", Some(t.join(" ")))
        }
        _ => return None,
    })
}

fn bridge_params(m: &Node, cx: &mut Cx) -> Vec<(String, String)> {
    m.check_keys(
        &[
            "stp",
            "forward-delay",
            "hello-time",
            "max-age",
            "ageing-time",
            "priority",
        ],
        "bridge parameter the migration does not translate to bridge-utils",
        cx,
    );
    options(m, cx, bridge_option)
}

/// One bridge parameter as a bridge-utils option.
fn bridge_option(k: &str, v: &Value, p: &str, cx: &mut Cx) -> Opt {
    let opt = match k {
        "stp" => {
            let on = cx.boolean(v, p);
            return Some(("bridge_stp", Some(if on { "on" } else { "off" }.into())));
        }
        "priority" => {
            return Some((
                "bridge_bridgeprio",
                cx.uint(v, p, 65535).map(|x| x.to_string()),
            ));
        }
        "forward-delay" => "bridge_fd",
        "hello-time" => "bridge_hello",
        "max-age" => "bridge_maxage",
        "ageing-time" => "bridge_ageing",
        _ => return None,
    };
    // netplan: bare numbers are seconds; bridge-utils takes seconds.
    let val = cx.duration_ms(v, p, 1000).map(|ms| {
        if ms % 1000 == 0 {
            (ms / 1000).to_string()
        } else {
            format!("{}.{:03}", ms / 1000, ms % 1000)
        }
    });
    Some((opt, val))
}

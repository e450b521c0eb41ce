//! The `network:` level of the merged document: which device sections there
//! are, the kernel name of every netplan ID, and the devices in netplan's
//! order.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::{Mapping, Value};

use super::Device;
use super::cx::{Cx, Node};
use super::device::device;
use super::merge::key_text;

/// The sections of `network:` that hold devices, in netplan's order.
const SECTIONS: [&str; 4] = ["ethernets", "bonds", "bridges", "vlans"];

/// Translates the merged document into devices, reporting every problem.
pub(super) fn translate(root: &Value, cx: &mut Cx) -> Vec<Device> {
    let Some(net) = network(root, cx) else {
        return Vec::new();
    };
    check_network(net, cx);
    let names = kernel_names(net, cx);
    let devices = devices(net, &names, cx);
    check_unique_names(&devices, cx);
    devices
}

/// The `network:` mapping, when the document has one.
fn network<'v>(root: &'v Value, cx: &mut Cx) -> Option<&'v Mapping> {
    let top = cx.mapping(root, "")?;
    cx.check_keys(top, "", &["network"], "only `network:` is netplan");
    let Some(net) = top.get("network") else {
        if !top.is_empty() {
            cx.err(
                "network",
                "missing: netplan files have a `network:` mapping",
            );
        }
        return None;
    };
    cx.mapping(net, "network")
}

/// The keys of `network:` itself, its version and renderer.
fn check_network(net: &Mapping, cx: &mut Cx) {
    cx.check_keys(
        net,
        "network",
        &[
            "version",
            "renderer",
            "ethernets",
            "vlans",
            "bonds",
            "bridges",
        ],
        "only ethernets, vlans, bonds and bridges can be migrated",
    );
    if let Some(v) = net.get("version")
        && cx.uint(v, "network.version", 255) != Some(2)
        && matches!(v, Value::Number(_) | Value::String(_))
    {
        cx.err("network.version", "netplan knows only version 2");
    }
    if let Some(r) = net.get("renderer") {
        check_renderer(r, "network.renderer", cx);
    }
}

/// The device sections present, each a mapping from netplan ID to
/// definition, in netplan's order (one that is not a mapping is reported
/// and skipped).
fn sections<'v>(net: &'v Mapping, cx: &mut Cx) -> Vec<(&'static str, &'v Mapping)> {
    SECTIONS
        .into_iter()
        .filter_map(|sec| {
            let m = cx.mapping(net.get(sec)?, &format!("network.{sec}"))?;
            Some((sec, m))
        })
        .collect()
}

/// Pass 1: every netplan ID's kernel name, so that the references between
/// devices (bond members, VLAN links) can be mapped while reading them.
fn kernel_names(net: &Mapping, cx: &mut Cx) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (sec, m) in sections(net, cx) {
        for (id, body) in m {
            let id = key_text(id);
            let name = if sec == "ethernets" {
                ethernet_name(&id, body)
            } else {
                id.clone()
            };
            names.insert(id, name);
        }
    }
    names
}

/// Pass 2: every device definition, translated.
fn devices(net: &Mapping, names: &BTreeMap<String, String>, cx: &mut Cx) -> Vec<Device> {
    let mut devices = Vec::new();
    for (sec, m) in sections(net, cx) {
        for (id, body) in m {
            let id = key_text(id);
            let dpath = format!("network.{sec}.{id}");
            let empty = Mapping::new();
            let body = cx.mapping(body, &dpath).unwrap_or(&empty);
            devices.push(device(sec, &id, &Node::new(body, &dpath), names, cx));
        }
    }
    devices
}

fn check_unique_names(devices: &[Device], cx: &mut Cx) {
    let mut seen = BTreeSet::new();
    for d in devices {
        if !seen.insert(d.name.clone()) {
            cx.err(
                &format!("network.*.{}", d.id),
                format!("two netplan devices get the interface name {}", d.name),
            );
        }
    }
}

pub(super) fn check_renderer(r: &Value, path: &str, cx: &mut Cx) {
    if r.as_str() != Some("networkd") {
        cx.err(
            path,
            "only renderer: networkd is migrated (a NetworkManager host keeps NetworkManager)",
        );
    }
}

/// The kernel name an ethernet definition ends up with.
fn ethernet_name(id: &str, body: &Value) -> String {
    if let Some(n) = body.get("set-name").and_then(Value::as_str) {
        return n.to_string();
    }
    if let Some(n) = body
        .get("match")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
    {
        return n.to_string();
    }
    id.to_string()
}

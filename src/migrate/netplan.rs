//! Reading a host's netplan configuration the way `netplan generate` does,
//! into typed devices the ifupdown renderer can translate.
//!
//! Files and merge order (netplan-generate(8), checked against netplan.io
//! 0.106's `netplan generate --root-dir`): every `*.yaml` in `/lib/netplan`,
//! `/etc/netplan` and `/run/netplan`; a file in /run shadows one with the same
//! name in /etc, which shadows /lib; the survivors are read in lexicographic
//! order of their basenames, and each later file merges into what came
//! before: mappings merge key by key, scalars are replaced, sequences are
//! appended (two files each giving `addresses:` give both addresses, as
//! netplan's own output shows).
//!
//! Every key the migration cannot translate is an error naming its full key
//! path (`network.ethernets.eth0.routing-policy`) and the file(s) that set it;
//! all of them are reported at once, before anything is rendered or written.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use crate::config::parse_cidr;
use crate::family::Family;

/// The netplan directories, lowest priority first.
pub const NETPLAN_DIRS: [&str; 3] = ["/lib/netplan", "/etc/netplan", "/run/netplan"];

/// What kind of netplan device, with the kind's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Ethernet {
        /// `match.macaddress` (then `set-name` gives the name).
        match_mac: Option<String>,
        /// `set-name`: a rename by MAC address.
        set_name: Option<String>,
    },
    Vlan {
        id: u16,
        /// The kernel name of the parent.
        link: String,
    },
    Bond {
        /// Kernel names of the members.
        interfaces: Vec<String>,
        /// ifenslave options, in netplan's order: (`bond-mode`, `802.3ad`).
        params: Vec<(String, String)>,
    },
    Bridge {
        interfaces: Vec<String>,
        /// bridge-utils options: (`bridge_stp`, `off`).
        params: Vec<(String, String)>,
    },
}

/// A route; `to` is `None` for the default route of its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub to: Option<(IpAddr, u8)>,
    pub family: Family,
    pub via: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
    pub on_link: bool,
}

/// One netplan device definition after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The netplan ID (`ethernets.<id>`).
    pub id: String,
    /// The kernel name: `set-name`, else an exact `match.name`, else the ID.
    pub name: String,
    pub kind: Kind,
    pub dhcp4: bool,
    pub dhcp6: bool,
    pub addresses: Vec<(IpAddr, u8)>,
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
    pub routes: Vec<Route>,
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub mtu: Option<u32>,
    /// `optional: true`: boot does not wait for it (ifupdown: allow-hotplug).
    pub optional: bool,
    pub macaddress: Option<String>,
    /// `accept-ra`: IPv6 router advertisements on or off (unset: kernel default).
    pub accept_ra: Option<bool>,
    /// `dhcp4-overrides.route-metric` (netplan's default is 100).
    pub dhcp4_route_metric: Option<u32>,
}

/// The merged configuration.
#[derive(Debug, Clone, Default)]
pub struct Netplan {
    /// The files read, in merge order (paths on the target system).
    pub files: Vec<PathBuf>,
    pub devices: Vec<Device>,
}

/// Why the netplan configuration cannot be migrated: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetplanError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for NetplanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the netplan configuration cannot be migrated ({} problem{}); nothing was written:",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NetplanError {}

/// The YAML files netplan would read under `root`, in merge order, as
/// (path on the target system, path under root).
pub fn netplan_files(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>, NetplanError> {
    let mut by_name: BTreeMap<String, (PathBuf, PathBuf)> = BTreeMap::new();
    for dir in NETPLAN_DIRS {
        let real = root.join(dir.trim_start_matches('/'));
        let entries = match std::fs::read_dir(&real) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(NetplanError {
                    problems: vec![format!(
                        "{}: cannot list the directory: {e}",
                        real.display()
                    )],
                });
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".yaml") || entry.path().is_dir() {
                continue;
            }
            by_name.insert(name.clone(), (Path::new(dir).join(&name), entry.path()));
        }
    }
    Ok(by_name.into_values().collect())
}

/// Reads and merges the netplan files under `root` and translates them.
pub fn load(root: &Path) -> Result<Netplan, NetplanError> {
    let files = netplan_files(root)?;
    let mut texts = Vec::new();
    for (shown, real) in &files {
        match std::fs::read_to_string(real) {
            Ok(t) => texts.push((shown.clone(), t)),
            Err(e) => {
                return Err(NetplanError {
                    problems: vec![format!("{}: cannot read: {e}", real.display())],
                });
            }
        }
    }
    parse_texts(&texts)
}

/// Merges and translates netplan YAML texts given in merge order
/// (`path` only names the file in errors).
pub fn parse_texts(texts: &[(PathBuf, String)]) -> Result<Netplan, NetplanError> {
    let mut problems = Vec::new();
    let mut merged = Value::Mapping(Mapping::new());
    let mut prov: Provenance = BTreeMap::new();
    for (path, text) in texts {
        let doc: Value = match serde_norway::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        // An empty file is allowed by netplan.
        if doc.is_null() {
            continue;
        }
        if !doc.is_mapping() {
            problems.push(format!(
                "{}: the top level must be a mapping with a `network:` key",
                path.display()
            ));
            continue;
        }
        merge(&mut merged, doc, "", path, &mut prov);
    }
    if !problems.is_empty() {
        return Err(NetplanError { problems });
    }
    let mut cx = Cx {
        prov: &prov,
        problems: Vec::new(),
    };
    let devices = translate(&merged, &mut cx);
    if !cx.problems.is_empty() {
        // A bad value is seen by both passes over the devices: once is enough.
        let mut seen = BTreeSet::new();
        let problems = cx
            .problems
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect();
        return Err(NetplanError { problems });
    }
    Ok(Netplan {
        files: texts.iter().map(|(p, _)| p.clone()).collect(),
        devices,
    })
}

/// For every key path, the files that set it (for error messages).
type Provenance = BTreeMap<String, Vec<PathBuf>>;

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// netplan's merge: mappings key by key, sequences appended, scalars replaced.
fn merge(dst: &mut Value, src: Value, path: &str, file: &Path, prov: &mut Provenance) {
    match (dst, src) {
        (Value::Mapping(d), Value::Mapping(s)) => {
            for (k, v) in s {
                let p = join(path, &key_text(&k));
                record(prov, &p, file, &v);
                match d.get_mut(&k) {
                    Some(existing) => merge(existing, v, &p, file, prov),
                    None => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(d), Value::Sequence(s)) => d.extend(s),
        (d, s) => *d = s,
    }
}

/// Records `file` for `path` and every key path below it.
fn record(prov: &mut Provenance, path: &str, file: &Path, v: &Value) {
    let files = prov.entry(path.to_string()).or_default();
    if !files.iter().any(|f| f == file) {
        files.push(file.to_path_buf());
    }
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                record(prov, &join(path, &key_text(k)), file, v);
            }
        }
        Value::Sequence(s) => {
            for v in s {
                // Keys inside sequence items are attributed to the sequence.
                if let Value::Mapping(m) = v {
                    for (k, v) in m {
                        record(prov, &format!("{path}[].{}", key_text(k)), file, v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Translation context: provenance and the problems found so far.
struct Cx<'a> {
    prov: &'a Provenance,
    problems: Vec<String>,
}

impl Cx<'_> {
    fn files_of(&self, path: &str) -> String {
        // Sequence items: `routes[2].type` was recorded as `routes[].type`.
        let mut generic = String::new();
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => {
                    in_index = true;
                    generic.push('[');
                }
                ']' => {
                    in_index = false;
                    generic.push(']');
                }
                _ if in_index => {}
                _ => generic.push(c),
            }
        }
        let mut p = generic.as_str();
        loop {
            if let Some(files) = self.prov.get(p) {
                return files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return "netplan".into(),
            }
        }
    }

    fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        let files = self.files_of(path);
        self.problems.push(format!("{files}: {path}: {msg}"));
    }

    fn unsupported(&mut self, path: &str, why: &str) {
        self.err(
            path,
            format!("not supported by vipctl migrate-ifupdown ({why}); remove it, or migrate this host by hand"),
        );
    }

    /// Reports every key of `m` not in `allowed`.
    fn check_keys(&mut self, m: &Mapping, path: &str, allowed: &[&str], why: &str) {
        for k in m.keys() {
            let name = key_text(k);
            if !allowed.contains(&name.as_str()) {
                self.unsupported(&join(path, &name), why);
            }
        }
    }

    fn mapping<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                self.err(path, "expected a mapping");
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value, path: &str) -> bool {
        // netplan reads YAML 1.1 booleans: yes/no/on/off/y/n as well.
        let text = match v {
            Value::Bool(b) => return *b,
            Value::String(s) => s.to_ascii_lowercase(),
            _ => String::new(),
        };
        match text.as_str() {
            "true" | "yes" | "on" | "y" => true,
            "false" | "no" | "off" | "n" => false,
            _ => {
                self.err(path, "expected true or false");
                false
            }
        }
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.err(path, "expected a string");
                None
            }
        }
    }

    fn uint(&mut self, v: &Value, path: &str, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n <= max => Some(n),
            _ => {
                self.err(path, format!("expected a whole number from 0 to {max}"));
                None
            }
        }
    }

    fn seq<'v>(&mut self, v: &'v Value, path: &str) -> &'v [Value] {
        match v {
            Value::Sequence(s) => s,
            Value::Null => &[],
            _ => {
                self.err(path, "expected a list");
                &[]
            }
        }
    }

    fn ip(&mut self, v: &Value, path: &str) -> Option<IpAddr> {
        let s = self.string(v, path)?;
        match s.trim().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{s:?} is not an IP address"));
                None
            }
        }
    }

    /// A duration in netplan's bond/bridge syntax: a bare number in `unit_ms`
    /// units, or `Nms` / `Ns`. Returns milliseconds.
    fn duration_ms(&mut self, v: &Value, path: &str, unit_ms: u64) -> Option<u64> {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            _ => String::new(),
        };
        let parsed = if let Some(ms) = text.strip_suffix("ms") {
            ms.parse::<u64>().ok()
        } else if let Some(s) = text.strip_suffix('s') {
            s.parse::<u64>().ok().and_then(|s| s.checked_mul(1000))
        } else {
            text.parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(unit_ms))
        };
        if parsed.is_none() {
            self.err(
                path,
                format!("{text:?} is not a duration (a whole number, or with ms / s)"),
            );
        }
        parsed
    }
}

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

fn translate(root: &Value, cx: &mut Cx) -> Vec<Device> {
    let Some(top) = cx.mapping(root, "") else {
        return Vec::new();
    };
    cx.check_keys(top, "", &["network"], "only `network:` is netplan");
    let Some(net) = top.get("network") else {
        if !top.is_empty() {
            cx.err(
                "network",
                "missing: netplan files have a `network:` mapping",
            );
        }
        return Vec::new();
    };
    let Some(net) = cx.mapping(net, "network") else {
        return Vec::new();
    };
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

    // Pass 1: names, so references (bond members, vlan links) can be mapped.
    let sections = ["ethernets", "bonds", "bridges", "vlans"];
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for sec in sections {
        let path = format!("network.{sec}");
        let Some(m) = net.get(sec).and_then(|v| cx.mapping(v, &path)) else {
            continue;
        };
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

    let mut devices = Vec::new();
    for sec in sections {
        let path = format!("network.{sec}");
        let Some(m) = net.get(sec).and_then(|v| cx.mapping(v, &path)) else {
            continue;
        };
        for (id, body) in m {
            let id = key_text(id);
            let dpath = format!("{path}.{id}");
            let empty = Mapping::new();
            let body = cx.mapping(body, &dpath).unwrap_or(&empty);
            if let Some(d) = device(sec, &id, body, &dpath, &names, cx) {
                devices.push(d);
            }
        }
    }
    let mut seen = BTreeSet::new();
    for d in &devices {
        if !seen.insert(d.name.clone()) {
            cx.err(
                &format!("network.*.{}", d.id),
                format!("two netplan devices get the interface name {}", d.name),
            );
        }
    }
    devices
}

fn check_renderer(r: &Value, path: &str, cx: &mut Cx) {
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

fn device(
    sec: &str,
    id: &str,
    body: &Mapping,
    path: &str,
    names: &BTreeMap<String, String>,
    cx: &mut Cx,
) -> Option<Device> {
    let mut allowed: Vec<&str> = COMMON_KEYS.to_vec();
    match sec {
        "ethernets" => allowed.extend(["match", "set-name"]),
        "vlans" => allowed.extend(["id", "link"]),
        _ => allowed.extend(["interfaces", "parameters"]),
    }
    cx.check_keys(body, path, &allowed, WHY_DEVICE);
    let get = |k: &str| body.get(k);
    let sub = |k: &str| format!("{path}.{k}");

    let mut name = id.to_string();
    let kind = match sec {
        "ethernets" => {
            let mut match_mac = None;
            let mut match_name = None;
            if let Some(m) = get("match").and_then(|v| cx.mapping(v, &sub("match"))) {
                cx.check_keys(
                    m,
                    &sub("match"),
                    &["macaddress", "name"],
                    "ifupdown matches interfaces by name only; a rename by MAC is supported",
                );
                if let Some(v) = m.get("macaddress") {
                    match_mac = cx.string(v, &sub("match.macaddress"));
                }
                if let Some(v) = m.get("name") {
                    match_name = cx.string(v, &sub("match.name"));
                }
            }
            let set_name = get("set-name").and_then(|v| cx.string(v, &sub("set-name")));
            if let Some(n) = &match_name
                && n.contains(['*', '?', '['])
                && set_name.is_none()
            {
                cx.unsupported(
                    &sub("match.name"),
                    "a name pattern: ifupdown needs each interface's name",
                );
            }
            if match_mac.is_some() && set_name.is_none() && match_name.is_none() {
                cx.unsupported(
                    &sub("match.macaddress"),
                    "a MAC match without set-name: the interface's name is unknown to ifupdown; add set-name",
                );
            }
            if set_name.is_some() && match_mac.is_none() {
                cx.unsupported(
                    &sub("set-name"),
                    "a rename needs match.macaddress (the migration writes a .link file matching the MAC)",
                );
            }
            name = set_name.clone().or(match_name).unwrap_or(name);
            Kind::Ethernet {
                match_mac,
                set_name,
            }
        }
        "vlans" => {
            let id_v = get("id").and_then(|v| cx.uint(v, &sub("id"), 4094));
            let link = get("link").and_then(|v| cx.string(v, &sub("link")));
            if get("id").is_none() {
                cx.err(&sub("id"), "missing: a VLAN needs its id");
            }
            let link = match link {
                Some(l) => match names.get(&l) {
                    Some(n) => n.clone(),
                    None => {
                        cx.err(&sub("link"), format!("{l} is not a netplan device"));
                        l
                    }
                },
                None => {
                    cx.err(&sub("link"), "missing: a VLAN needs its link");
                    String::new()
                }
            };
            Kind::Vlan {
                id: id_v.unwrap_or(0) as u16,
                link,
            }
        }
        _ => {
            let mut members = Vec::new();
            if let Some(v) = get("interfaces") {
                for (i, m) in cx.seq(v, &sub("interfaces")).iter().enumerate() {
                    let p = format!("{}[{i}]", sub("interfaces"));
                    if let Some(m) = cx.string(m, &p) {
                        match names.get(&m) {
                            Some(n) => members.push(n.clone()),
                            None => cx.err(&p, format!("{m} is not a netplan device")),
                        }
                    }
                }
            }
            let params = get("parameters")
                .and_then(|v| cx.mapping(v, &sub("parameters")))
                .map(|m| {
                    if sec == "bonds" {
                        bond_params(m, &sub("parameters"), names, cx)
                    } else {
                        bridge_params(m, &sub("parameters"), cx)
                    }
                })
                .unwrap_or_default();
            if sec == "bonds" {
                Kind::Bond {
                    interfaces: members,
                    params,
                }
            } else {
                Kind::Bridge {
                    interfaces: members,
                    params,
                }
            }
        }
    };

    let flag = |k: &str, cx: &mut Cx| get(k).map(|v| cx.boolean(v, &sub(k))).unwrap_or(false);
    let dhcp4 = flag("dhcp4", cx);
    let dhcp6 = flag("dhcp6", cx);
    let optional = flag("optional", cx);
    if let Some(r) = get("renderer") {
        check_renderer(r, &sub("renderer"), cx);
    }
    if get("critical").is_some() && flag("critical", cx) {
        cx.unsupported(
            &sub("critical"),
            "ifupdown always removes addresses on ifdown",
        );
    }

    let mut addresses = Vec::new();
    if let Some(v) = get("addresses") {
        for (i, a) in cx.seq(v, &sub("addresses")).iter().enumerate() {
            let p = format!("{}[{i}]", sub("addresses"));
            match a {
                Value::String(s) => match parse_cidr(s) {
                    Ok(x) if s.contains('/') => addresses.push(x),
                    Ok(_) => cx.err(
                        &p,
                        format!("{s:?} needs a prefix length (netplan requires one)"),
                    ),
                    Err(e) => cx.err(&p, e),
                },
                Value::Mapping(_) => cx.unsupported(
                    &p,
                    "address options (lifetime, label): write the plain ADDRESS/PREFIX",
                ),
                _ => cx.err(&p, "expected ADDRESS/PREFIX"),
            }
        }
    }
    let gw = |k: &str, family: Family, cx: &mut Cx| {
        get(k).and_then(|v| cx.ip(v, &sub(k))).filter(|a| {
            if !family.contains(*a) {
                cx.err(&sub(k), "address of the wrong family");
                false
            } else {
                true
            }
        })
    };
    let gateway4 = gw("gateway4", Family::V4, cx);
    let gateway6 = gw("gateway6", Family::V6, cx);

    let mut routes = Vec::new();
    if let Some(v) = get("routes") {
        for (i, r) in cx.seq(v, &sub("routes")).iter().enumerate() {
            let p = format!("{}[{i}]", sub("routes"));
            if let Some(m) = cx.mapping(r, &p)
                && let Some(r) = route(m, &p, cx)
            {
                routes.push(r);
            }
        }
    }

    let mut nameservers = Vec::new();
    let mut search = Vec::new();
    if let Some(ns) = get("nameservers").and_then(|v| cx.mapping(v, &sub("nameservers"))) {
        let np = sub("nameservers");
        cx.check_keys(ns, &np, &["addresses", "search"], WHY_DEVICE);
        if let Some(v) = ns.get("addresses") {
            for (i, a) in cx.seq(v, &format!("{np}.addresses")).iter().enumerate() {
                if let Some(a) = cx.ip(a, &format!("{np}.addresses[{i}]")) {
                    nameservers.push(a);
                }
            }
        }
        if let Some(v) = ns.get("search") {
            for (i, s) in cx.seq(v, &format!("{np}.search")).iter().enumerate() {
                if let Some(s) = cx.string(s, &format!("{np}.search[{i}]")) {
                    search.push(s);
                }
            }
        }
    }
    // netplan drops repeated addresses and routes (a merge of two files
    // that both list one gives it once); ifup would fail on the second add.
    dedup(&mut addresses);
    dedup(&mut routes);
    let mtu = get("mtu")
        .and_then(|v| cx.uint(v, &sub("mtu"), 65535))
        .map(|m| m as u32);
    let macaddress = get("macaddress").and_then(|v| cx.string(v, &sub("macaddress")));
    let accept_ra = get("accept-ra").map(|v| cx.boolean(v, &sub("accept-ra")));
    let mut dhcp4_route_metric = None;
    if let Some(o) = get("dhcp4-overrides").and_then(|v| cx.mapping(v, &sub("dhcp4-overrides"))) {
        let op = sub("dhcp4-overrides");
        cx.check_keys(
            o,
            &op,
            &["route-metric"],
            "dhclient has no per-interface switch for it",
        );
        dhcp4_route_metric = o
            .get("route-metric")
            .and_then(|v| cx.uint(v, &format!("{op}.route-metric"), u32::MAX as u64))
            .map(|m| m as u32);
    }

    if let Err(e) = crate::config::check_ifname(&name) {
        let key = match sec {
            "ethernets" if body.contains_key("set-name") => sub("set-name"),
            "ethernets" if body.get("match").and_then(|m| m.get("name")).is_some() => {
                sub("match.name")
            }
            _ => path.to_string(),
        };
        cx.err(&key, e);
    }
    Some(Device {
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
    })
}

fn route(m: &Mapping, path: &str, cx: &mut Cx) -> Option<Route> {
    cx.check_keys(
        m,
        path,
        &["to", "via", "metric", "table", "on-link"],
        "ip route options other than to, via, metric, table and on-link",
    );
    let Some(to_v) = m.get("to") else {
        cx.err(&join(path, "to"), "missing: a route needs `to`");
        return None;
    };
    let to_s = cx.string(to_v, &join(path, "to"))?;
    let via = m.get("via").and_then(|v| cx.ip(v, &join(path, "via")));
    let (to, family) = match to_s.as_str() {
        "default" => (None, via.map(Family::of).unwrap_or(Family::V4)),
        "0.0.0.0/0" => (None, Family::V4),
        "::/0" => (None, Family::V6),
        s => match parse_cidr(s) {
            Ok((a, l)) => (Some((a, l)), Family::of(a)),
            Err(e) => {
                cx.err(&join(path, "to"), e);
                return None;
            }
        },
    };
    if let Some(v) = via
        && !family.contains(v)
    {
        cx.err(&join(path, "via"), "gateway of the other address family");
    }
    let metric = m
        .get("metric")
        .and_then(|v| cx.uint(v, &join(path, "metric"), u32::MAX as u64))
        .map(|x| x as u32);
    let table = m
        .get("table")
        .and_then(|v| cx.uint(v, &join(path, "table"), u32::MAX as u64))
        .map(|x| x as u32);
    let on_link = m
        .get("on-link")
        .map(|v| cx.boolean(v, &join(path, "on-link")))
        .unwrap_or(false);
    Some(Route {
        to,
        family,
        via,
        metric,
        table,
        on_link,
    })
}

fn bond_params(
    m: &Mapping,
    path: &str,
    names: &BTreeMap<String, String>,
    cx: &mut Cx,
) -> Vec<(String, String)> {
    cx.check_keys(
        m,
        path,
        &[
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
        ],
        "bond parameter the migration does not translate to ifenslave",
    );
    let mut out = Vec::new();
    for (k, v) in m {
        let k = key_text(k);
        let p = join(path, &k);
        let (opt, val) = match k.as_str() {
            "mode" | "lacp-rate" | "transmit-hash-policy" | "ad-select" => {
                let opt = match k.as_str() {
                    "mode" => "bond-mode",
                    "lacp-rate" => "bond-lacp-rate",
                    "transmit-hash-policy" => "bond-xmit-hash-policy",
                    _ => "bond-ad-select",
                };
                (opt, cx.string(v, &p))
            }
            "primary" => (
                "bond-primary",
                cx.string(v, &p)
                    .map(|id| names.get(&id).cloned().unwrap_or(id)),
            ),
            // netplan: bare numbers are milliseconds for these.
            "mii-monitor-interval" => (
                "bond-miimon",
                cx.duration_ms(v, &p, 1).map(|x| x.to_string()),
            ),
            "up-delay" => (
                "bond-updelay",
                cx.duration_ms(v, &p, 1).map(|x| x.to_string()),
            ),
            "down-delay" => (
                "bond-downdelay",
                cx.duration_ms(v, &p, 1).map(|x| x.to_string()),
            ),
            "arp-interval" => (
                "bond-arp-interval",
                cx.duration_ms(v, &p, 1).map(|x| x.to_string()),
            ),
            "min-links" => (
                "bond-min-links",
                cx.uint(v, &p, 1024).map(|x| x.to_string()),
            ),
            "arp-ip-targets" => {
                let mut t = Vec::new();
                for (i, a) in cx.seq(v, &p).iter().enumerate() {
                    if let Some(a) = cx.ip(a, &format!("{p}[{i}]")) {
                        t.push(a.to_string());
                    }
                }
                ("bond-arp-ip-target", Some(t.join(" ")))
            }
            _ => continue,
        };
        if let Some(val) = val {
            out.push((opt.to_string(), val));
        }
    }
    out
}

fn bridge_params(m: &Mapping, path: &str, cx: &mut Cx) -> Vec<(String, String)> {
    cx.check_keys(
        m,
        path,
        &[
            "stp",
            "forward-delay",
            "hello-time",
            "max-age",
            "ageing-time",
            "priority",
        ],
        "bridge parameter the migration does not translate to bridge-utils",
    );
    let mut out = Vec::new();
    for (k, v) in m {
        let k = key_text(k);
        let p = join(path, &k);
        let (opt, val) = match k.as_str() {
            "stp" => (
                "bridge_stp",
                Some(if cx.boolean(v, &p) { "on" } else { "off" }.to_string()),
            ),
            "priority" => (
                "bridge_bridgeprio",
                cx.uint(v, &p, 65535).map(|x| x.to_string()),
            ),
            "forward-delay" | "hello-time" | "max-age" | "ageing-time" => {
                let opt = match k.as_str() {
                    "forward-delay" => "bridge_fd",
                    "hello-time" => "bridge_hello",
                    "max-age" => "bridge_maxage",
                    _ => "bridge_ageing",
                };
                // netplan: bare numbers are seconds; bridge-utils takes seconds.
                let val = cx.duration_ms(v, &p, 1000).map(|ms| {
                    if ms % 1000 == 0 {
                        (ms / 1000).to_string()
                    } else {
                        format!("{}.{:03}", ms / 1000, ms % 1000)
                    }
                });
                (opt, val)
            }
            _ => continue,
        };
        if let Some(val) = val {
            out.push((opt.to_string(), val));
        }
    }
    out
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

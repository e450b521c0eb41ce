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
//!
//! The parts: `merge` (the files into one document, remembering which file
//! set each key), `cx` (typed reads that collect problems), `translate`
//! (the `network:` level: sections, names, devices in order), `device` (a
//! device's keys common to every kind) and `kind` (each kind's own keys).

mod cx;
mod device;
mod kind;
mod merge;
mod translate;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use crate::family::Family;
use cx::Cx;
use merge::{Provenance, merge};
use translate::translate;

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

//! Persisting vipd's devices and addresses through systemd-networkd's own files.
//!
//! networkd removes addresses it did not configure ("foreign" addresses) when
//! it configures a link: on `networkctl reconfigure`, reload, restart,
//! `netplan apply`, DHCP events. vipd restores a purged VIP at once, but the
//! clean answer is to tell networkd to leave them alone. This module plans
//! the files that do so and applies the plan atomically, under a root
//! directory (`/` for the live system, any directory for tests and for
//! preparing an image):
//!
//! - a VIP device (MACVLAN / IPVLAN) gets a `.netdev` and a `.network` in
//!   `/etc/systemd/network` (`60-vipd-<dev>.*`), so networkd creates it at boot
//!   and keeps vipd's addresses on it (`KeepConfiguration=yes`);
//! - the parent interface's `.network` (netplan's `10-netplan-eth0.network`)
//!   gets a drop-in `50-vipd.conf` that attaches the device (`MACVLAN=` /
//!   `IPVLAN=`) and, when VIPs sit on the interface itself, keeps static
//!   foreign addresses (`KeepConfiguration=static`);
//! - systemd older than 243 has no `KeepConfiguration=`: the files say
//!   `[DHCP] CriticalConnection=yes` instead.
//!
//! Every file starts with [`header`]; nothing without it is ever overwritten
//! or removed.
//!
//! What this relies on in systemd's documentation (systemd.network(5) and
//! systemd.netdev(5) of v252, Debian 12; behaviour checked against a real
//! systemd-networkd 252 in a network namespace, see tests/networkd_files.rs):
//!
//! - Search path, highest priority first: `/etc/systemd/network`,
//!   `/run/systemd/network`, `/usr/local/lib/systemd/network`,
//!   `/usr/lib/systemd/network`, `/lib/systemd/network` (the last one on
//!   split-/usr builds such as Debian's; the strings are in the binary). "All
//!   configuration files are collectively sorted and processed in
//!   alphanumeric order, regardless of the directories in which they live.
//!   However, files with identical filenames replace each other"; an empty
//!   file or a symlink to /dev/null masks the name. "The first (in
//!   alphanumeric order) of the network files that matches a given interface
//!   is applied".
//! - Drop-ins: "Along with the network file foo.network, a drop-in directory
//!   foo.network.d/ may exist ... In addition to /etc/systemd/network, drop-in
//!   .d directories can be placed in /lib/systemd/network or
//!   /run/systemd/network directories." The drop-in directory is looked up by
//!   the file's *name* in every search directory, so
//!   `/etc/systemd/network/10-netplan-eth0.network.d/50-vipd.conf` applies to
//!   netplan's `/run/systemd/network/10-netplan-eth0.network`. vipd always
//!   writes to /etc: it survives reboots, and netplan regenerates /run.
//! - `KeepConfiguration=` ([Network], since v243, systemd PR #12511): a
//!   boolean or `static`, `dhcp-on-stop`, `dhcp`. "When static,
//!   systemd-networkd will not drop static addresses and routes on starting up
//!   process"; "yes implies dhcp and static". VIPs have infinite lifetimes,
//!   so networkd counts them as static foreign addresses.
//! - `CriticalConnection=` ([DHCP] section, v242 and older; deprecated in
//!   v243 in favour of `KeepConfiguration=`, still accepted in [DHCP] by v252,
//!   rejected in [Network]): with `yes` networkd skips dropping foreign
//!   configuration when it configures the link, even without a DHCP client
//!   (systemd maintainers in systemd issues #13555 and #10660).
//! - `MACVLAN=` / `IPVLAN=` in [Network] of the parent's .network create the
//!   netdev of that name on the link ("This option may be specified more than
//!   once").

mod apply;
pub mod install;
mod matching;
mod plan;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::{Config, VipDeviceKind};

pub use apply::apply;
pub use matching::{
    LinkInfo, NetworkMatch, find_network_file, link_info_from_sysfs, matched_network_file,
};
pub use plan::{plan_install, plan_remove};

/// Every file vipd writes starts with this; nothing else is ever touched.
pub const HEADER_PREFIX: &str = "# Written by vipd";

/// Where vipd writes (the administrator's directory: survives reboots and
/// `netplan generate`, and takes precedence over /run and /usr/lib).
pub const ETC_NETWORK_DIR: &str = "/etc/systemd/network";

/// networkd's search path for .network/.netdev files, highest priority first
/// (systemd 252 as built by Debian, with the split-/usr /lib directory).
pub const NETWORK_DIRS: [&str; 5] = [
    "/etc/systemd/network",
    "/run/systemd/network",
    "/usr/local/lib/systemd/network",
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
];

/// The directories where vipd's files can be (it writes only /etc; /run is
/// cleaned too in case an older layout or an operator put them there).
pub const VIPD_DIRS: [&str; 2] = ["/etc/systemd/network", "/run/systemd/network"];

/// The first systemd with `KeepConfiguration=` (and without a working
/// `CriticalConnection=` in [Network]).
pub const KEEP_CONFIGURATION_SINCE: u32 = 243;

/// File name of the drop-in added to a parent interface's .network.
pub const DROPIN_NAME: &str = "50-vipd.conf";

/// The first line of every generated file.
pub fn header(config_path: &Path) -> String {
    let shown: String = config_path
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!(
        "{HEADER_PREFIX} (vipctl networkd install) from {shown}. Do not edit: vipctl networkd remove deletes it.\n"
    )
}

/// True when `content` is a file vipd wrote (its first line is the header).
pub fn is_vipd_content(content: &[u8]) -> bool {
    content.starts_with(HEADER_PREFIX.as_bytes())
}

/// What the planner knows about the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostView {
    /// `networkctl --version` / `systemctl --version`; `None` when unknown
    /// (then systemd >= 243 is assumed and the plan says so in a note).
    pub systemd_version: Option<u32>,
    /// Interface name -> the .network file networkd matched for it, absolute,
    /// as seen on the live system (`/run/systemd/network/10-netplan-eth0.network`).
    /// Interfaces networkd does not manage are absent.
    pub matched: BTreeMap<String, PathBuf>,
}

/// One change to one file. Paths are absolute paths on the target system;
/// [`apply`] re-roots them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// Write this exact content (only if it differs from what is there).
    Write { path: PathBuf, content: String },
    /// Remove a vipd file, or a drop-in directory if it is empty by then.
    Remove { path: PathBuf },
}

impl FileAction {
    pub fn path(&self) -> &Path {
        match self {
            FileAction::Write { path, .. } | FileAction::Remove { path } => path,
        }
    }
}

/// The planned changes, in a deterministic order (writes by path, then file
/// removals by path, then directory removals), and what the operator should
/// know about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<FileAction>,
    pub notes: Vec<String>,
}

/// What [`apply`] did. Paths are where the files are on this machine
/// (re-rooted under the root given to `apply`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Created or changed.
    pub written: Vec<PathBuf>,
    /// Already had the planned content; not touched (mtime unchanged).
    pub unchanged: Vec<PathBuf>,
    /// Files and empty drop-in directories removed.
    pub removed: Vec<PathBuf>,
}

/// Errors, phrased so an operator knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetworkdError {
    #[error(
        "instance {instance:?}: {interface} is not managed by systemd-networkd (no .network file matches it), so networkd cannot create {kind} {device} on it: add {interface} to netplan (ethernets: {{{interface}: {{}}}}) or write a .network file for it, then run vipctl networkd install again; or skip the networkd files on this host (vipd still creates {device} itself)"
    )]
    ParentNotManaged {
        instance: String,
        interface: String,
        device: String,
        kind: &'static str,
    },
    #[error(
        "{network_file} configures several of vipd's interfaces ({interfaces}); a drop-in attaching {devices} to it would attach them to every one of them: give each interface its own .network file (netplan: one entry per interface instead of a match pattern), then run vipctl networkd install again"
    )]
    SharedNetworkFile {
        network_file: PathBuf,
        interfaces: String,
        devices: String,
    },
    #[error(
        "{}: not written by vipd; move it away or remove it, then run vipctl networkd install again (nothing was changed)",
        join_paths(.paths)
    )]
    Foreign { paths: Vec<PathBuf> },
    #[error("{path}: the plan needs an absolute path without '..' (got {path:?})", path = .path.display())]
    BadPath { path: PathBuf },
    #[error("{path}: cannot {action}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::io::files::FsError> for NetworkdError {
    fn from(e: crate::io::files::FsError) -> Self {
        NetworkdError::Io {
            path: e.path,
            action: e.action,
            source: e.source,
        }
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses the first line of `networkctl --version` or `systemctl --version`
/// ("systemd 252 (252.30-1~deb12u2)") into 252.
pub fn systemd_version_from(output: &str) -> Option<u32> {
    let line = output.lines().find(|l| !l.trim().is_empty())?;
    let mut words = line.split_whitespace();
    if words.next()? != "systemd" {
        return None;
    }
    let num: String = words
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    num.parse().ok()
}

/// A VIP device an instance asks for.
#[derive(Debug, Clone)]
struct VipDev {
    name: String,
    kind: VipDeviceKind,
    parent: String,
    instance: String,
    vrid: u8,
    mac: Option<[u8; 6]>,
}

/// What one interface's drop-in must say.
#[derive(Debug, Default, Clone)]
struct Needs {
    macvlans: BTreeSet<String>,
    ipvlans: BTreeSet<String>,
    keep_static: bool,
}

impl Needs {
    fn has_devices(&self) -> bool {
        !self.macvlans.is_empty() || !self.ipvlans.is_empty()
    }
    fn merge(&mut self, other: &Needs) {
        self.macvlans.extend(other.macvlans.iter().cloned());
        self.ipvlans.extend(other.ipvlans.iter().cloned());
        self.keep_static |= other.keep_static;
    }
}

fn vip_devices(config: &Config) -> Vec<VipDev> {
    let mut out = Vec::new();
    for inst in &config.instances {
        let (Some(dev), Some(name)) = (&inst.vip_device, inst.vip_device_name()) else {
            continue;
        };
        out.push(VipDev {
            name,
            kind: dev.kind,
            parent: inst.interface.clone(),
            instance: inst.name.clone(),
            vrid: inst.vrid,
            mac: match dev.kind {
                VipDeviceKind::Macvlan => Some(crate::io::netlink::virtual_mac(
                    inst.vrid,
                    inst.mac_family(),
                )),
                VipDeviceKind::Ipvlan => None,
            },
        });
    }
    out
}

/// The interfaces whose .network files matter: every instance's interface
/// (parent of its VIPs or of its VIP device) and every other plain device a
/// VIP is put on (`dev:`). Feed these to [`find_network_file`] to build a
/// [`HostView`].
pub fn interfaces_to_persist(config: &Config) -> BTreeSet<String> {
    needs_by_interface(config).into_keys().collect()
}

fn needs_by_interface(config: &Config) -> BTreeMap<String, Needs> {
    let devices = vip_devices(config);
    let generated: BTreeSet<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    let mut needs: BTreeMap<String, Needs> = BTreeMap::new();
    for d in &devices {
        let n = needs.entry(d.parent.clone()).or_default();
        match d.kind {
            VipDeviceKind::Macvlan => n.macvlans.insert(d.name.clone()),
            VipDeviceKind::Ipvlan => n.ipvlans.insert(d.name.clone()),
        };
    }
    for inst in &config.instances {
        for vip in inst.all_vips() {
            let dev = inst.device_for(vip);
            // On a VIP device vipd generates: its own .network keeps it.
            if generated.contains(dev.as_str()) {
                continue;
            }
            needs.entry(dev).or_default().keep_static = true;
        }
    }
    needs
}

/// Builds the [`HostView`] for `config`: the systemd version given, and for
/// every interface of [`interfaces_to_persist`] the .network file networkd
/// uses (its state file when `link` gives the ifindex, else emulated
/// matching). Returns the notes of the detection too.
pub fn detect_host(
    config: &Config,
    root: &Path,
    systemd_version: Option<u32>,
    link: impl Fn(&str) -> LinkInfo,
) -> (HostView, Vec<String>) {
    let mut host = HostView {
        systemd_version,
        matched: BTreeMap::new(),
    };
    let mut notes = Vec::new();
    for ifname in interfaces_to_persist(config) {
        let info = link(&ifname);
        let m = find_network_file(root, &ifname, info.ifindex, info.mac);
        notes.extend(m.notes);
        if let Some(p) = m.path {
            host.matched.insert(ifname, p);
        }
    }
    (host, notes)
}

#[cfg(test)]
mod tests;

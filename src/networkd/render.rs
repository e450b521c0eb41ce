//! The text of the generated files. Pure string building; the layout is
//! fixed so that re-running gives byte-identical files.

use std::fmt::Write as _;
use std::path::Path;

use super::{Needs, VipDev};
use crate::config::VipDeviceKind;

/// How a file asks networkd to keep vipd's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Keep {
    /// `[Network] KeepConfiguration=<value>` (systemd >= 243).
    Modern(String),
    /// `[DHCP] CriticalConnection=yes` (systemd < 243).
    Legacy,
}

pub(super) fn kind_name(kind: VipDeviceKind) -> &'static str {
    match kind {
        VipDeviceKind::Macvlan => "MACVLAN",
        VipDeviceKind::Ipvlan => "IPVLAN",
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `60-vipd-<dev>.netdev`: networkd creates the device at boot.
pub(super) fn device_netdev(header: &str, d: &VipDev) -> String {
    let mut s = String::from(header);
    let _ = writeln!(
        s,
        "# VIP device of vipd instance {} (VRID {}) on {}; networkd creates it.",
        d.instance, d.vrid, d.parent
    );
    s.push_str("[NetDev]\n");
    let _ = writeln!(s, "Name={}", d.name);
    match d.kind {
        VipDeviceKind::Macvlan => {
            s.push_str("Kind=macvlan\n");
            if let Some(mac) = d.mac {
                let _ = writeln!(s, "MACAddress={}", mac_text(mac));
            }
            s.push_str("\n[MACVLAN]\nMode=bridge\n");
        }
        VipDeviceKind::Ipvlan => {
            s.push_str("Kind=ipvlan\n\n[IPVLAN]\nMode=L2\n");
        }
    }
    s
}

/// `60-vipd-<dev>.network`: no addresses of networkd's own on the device
/// (no DHCP, no link-local from the shared MAC, no router advertisements),
/// up without carrier, and vipd's addresses kept.
pub(super) fn device_network(header: &str, d: &VipDev, modern: bool) -> String {
    let mut s = String::from(header);
    let _ = writeln!(
        s,
        "# VIP device of vipd instance {} (VRID {}): vipd puts the VIPs on it, networkd brings it up and keeps them.",
        d.instance, d.vrid
    );
    s.push_str("[Match]\n");
    let _ = writeln!(s, "Name={}", d.name);
    s.push_str("\n[Network]\nDHCP=no\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n");
    if modern {
        s.push_str("KeepConfiguration=yes\n");
    } else {
        s.push_str("\n[DHCP]\nCriticalConnection=yes\n");
    }
    s
}

/// `<parent>.network.d/50-vipd.conf`.
pub(super) fn parent_dropin(
    header: &str,
    matched: &Path,
    ifaces: &[String],
    needs: &Needs,
    keep: Option<Keep>,
) -> String {
    let mut s = String::from(header);
    let what = match (needs.has_devices(), keep.is_some()) {
        (true, true) => "attaches vipd's VIP devices and keeps vipd's addresses",
        (true, false) => "attaches vipd's VIP devices",
        _ => "keeps vipd's addresses when networkd configures the link again",
    };
    let _ = writeln!(
        s,
        "# Drop-in for {} ({}): {what}.",
        matched.display(),
        ifaces.join(", ")
    );
    let mut network = String::new();
    for m in &needs.macvlans {
        let _ = writeln!(network, "MACVLAN={m}");
    }
    for i in &needs.ipvlans {
        let _ = writeln!(network, "IPVLAN={i}");
    }
    if let Some(Keep::Modern(v)) = &keep {
        let _ = writeln!(network, "KeepConfiguration={v}");
    }
    if !network.is_empty() {
        s.push_str("[Network]\n");
        s.push_str(&network);
    }
    if keep == Some(Keep::Legacy) {
        if !network.is_empty() {
            s.push('\n');
        }
        s.push_str("[DHCP]\nCriticalConnection=yes\n");
    }
    s
}

/// systemd's parse_boolean().
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// The `KeepConfiguration=` value the parent's drop-in needs, given the one
/// its .network (with other drop-ins) already has: `static`, unless that
/// would weaken an existing setting. `None`: nothing to write.
pub(super) fn keep_value_for_parent(existing: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(v) = existing.map(str::trim) else {
        return (Some("static".into()), None);
    };
    if v.is_empty() || v == "static" || parse_bool(v) == Some(false) {
        return (Some("static".into()), None);
    }
    if parse_bool(v) == Some(true) {
        return (
            None,
            Some(format!(
                "already has KeepConfiguration={v}, which keeps static addresses too: the drop-in does not repeat it (if that setting goes, run vipctl networkd install again)"
            )),
        );
    }
    match v {
        // v257 renamed dhcp/dhcp-on-stop to dynamic/dynamic-on-stop.
        "dhcp" | "dhcp-on-stop" | "dynamic" | "dynamic-on-stop" => (
            Some("yes".into()),
            Some(format!(
                "has KeepConfiguration={v}; the drop-in sets KeepConfiguration=yes ({v} and static together) so vipd's addresses are kept without dropping that setting"
            )),
        ),
        _ => (
            Some("static".into()),
            Some(format!(
                "has KeepConfiguration={v}, a value vipctl does not know; the drop-in sets static, which overrides it: check that this is what you want"
            )),
        ),
    }
}

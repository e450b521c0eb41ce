//! The rules of one instance, one function each, and the one validator that
//! runs them: `InstanceConfig::try_from(RawInstance)`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::RuleError;
use super::raw::{PRIORITY, RawInstance, VRID};
use crate::config::InstanceConfig;
use crate::config::duration_text;
use crate::config::types::{AuthType, InitialState, Vip, VrrpVersion, check_ifname};
use crate::family::Family;

type InstanceRule = fn(&RawInstance) -> Result<(), RuleError>;

/// In the order they are checked.
const INSTANCE_RULES: &[InstanceRule] = &[
    values_read_back,
    name_is_valid,
    v3_advert_interval,
    v3_has_no_auth,
    v2_advert_interval,
    v2_carries_ipv4_only,
    auth_pass_length,
    auth_type_needs_pass,
    vips_not_empty,
    addresses_once_and_labels_named,
    owner_preempts,
    master_preempts,
    unicast_has_peers,
    unicast_peers_usable,
    unicast_one_source_per_family,
    unicast_peer_per_family,
    vip_device_name_differs,
    v3_ipv4_checksum_is_v3,
];

/// The one validator of an instance, for YAML and for instances built in code.
impl TryFrom<RawInstance> for InstanceConfig {
    type Error = RuleError;

    fn try_from(raw: RawInstance) -> Result<InstanceConfig, RuleError> {
        for rule in INSTANCE_RULES {
            rule(&raw)?;
        }
        Ok(accept(raw))
    }
}

/// Every rule the instance breaks, in the rules' order, for `vipctl check`,
/// which reports them all at once.
pub fn instance_rule_errors(raw: &RawInstance) -> Vec<RuleError> {
    INSTANCE_RULES
        .iter()
        .filter_map(|rule| rule(raw).err())
        .collect()
}

/// The instance once every rule passed.
fn accept(raw: RawInstance) -> InstanceConfig {
    InstanceConfig {
        name: raw.name,
        interface: raw.interface,
        vrid: raw.vrid,
        version: raw.version,
        priority: raw.priority,
        preempt: raw.preempt,
        preempt_delay: raw.preempt_delay,
        advert_interval: raw.advert_interval,
        initial_state: raw.initial_state,
        auth_type: raw.auth_type.unwrap_or_default(),
        found_vips: raw.found_vips,
        auth_pass: raw.auth_pass,
        vips: raw.vips,
        excluded_vips: raw.excluded_vips,
        unicast: raw.unicast,
        garp: raw.garp,
        vip_device: raw.vip_device,
        track: raw.track,
        notify: raw.notify,
        units: raw.units,
        v3_ipv4_checksum: raw.v3_ipv4_checksum,
        v3_ipv4_checksum_accept: raw.v3_ipv4_checksum_accept,
        dscp: raw.dscp,
        lower_priority_master: raw.lower_priority_master,
    }
}

/// The checks the serde visitors make where each value is written, again
/// for a `RawInstance` built in code (the keepalived importer), so that an
/// accepted instance always loads back from its YAML. Read from a file, an
/// instance never fails here: the visitor refused the value first, at its
/// line. The message starts with the value's path, as serde's would.
fn values_read_back(raw: &RawInstance) -> Result<(), RuleError> {
    let at = |field: &'static str| move |m| RuleError::new(field, format!("{field}: {m}"));
    let item =
        |field: &'static str, i| move |m| RuleError::new(field, format!("{field}[{i}]: {m}"));
    check_ifname(&raw.interface).map_err(at("interface"))?;
    VRID.check(raw.vrid.into()).map_err(at("vrid"))?;
    PRIORITY
        .check(raw.priority.into())
        .map_err(at("priority"))?;
    duration_text::check(&raw.preempt_delay).map_err(at("preempt_delay"))?;
    duration_text::check(&raw.advert_interval).map_err(at("advert_interval"))?;
    for (i, v) in raw.vips.iter().enumerate() {
        v.check().map_err(item("vips", i))?;
    }
    for (i, v) in raw.excluded_vips.iter().enumerate() {
        v.check().map_err(item("excluded_vips", i))?;
    }
    duration_text::check(&raw.garp.interval).map_err(at("garp.interval"))?;
    duration_text::check(&raw.garp.second_burst_after).map_err(at("garp.second_burst_after"))?;
    duration_text::check(&raw.garp.refresh).map_err(at("garp.refresh"))?;
    if let Some(name) = raw.vip_device.as_ref().and_then(|d| d.name.as_ref()) {
        check_ifname(name).map_err(at("vip_device.name"))?;
    }
    Ok(())
}

/// Names appear in logs, metrics and file names: keep them plain.
fn name_is_valid(raw: &RawInstance) -> Result<(), RuleError> {
    let n = &raw.name;
    if n.is_empty()
        || n.len() > 64
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(RuleError::new(
            "name",
            format!(
                "instance name {n:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(())
}

/// VRRPv3 counts the interval in centiseconds, 12 bits (RFC 5798 5.2.7).
fn v3_advert_interval(raw: &RawInstance) -> Result<(), RuleError> {
    let us = raw.advert_interval.as_micros();
    if raw.version == VrrpVersion::V3
        && (!us.is_multiple_of(10_000) || !(10_000..=40_950_000).contains(&us))
    {
        return Err(RuleError::new(
            "advert_interval",
            format!(
                "advert_interval {} is not valid for VRRPv3: use a multiple of 10ms between 10ms and 40.95s (RFC 5798 5.2.7)",
                duration_text::format(&raw.advert_interval)
            ),
        ));
    }
    Ok(())
}

fn v3_has_no_auth(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.version == VrrpVersion::V3 && raw.auth_type.is_some() {
        return Err(RuleError::new(
            "auth_type",
            "auth_type exists only in VRRPv2 (RFC 5798 removed authentication): remove it or set version: 2",
        ));
    }
    if raw.version == VrrpVersion::V3 && raw.auth_pass.is_some() {
        return Err(RuleError::new(
            "auth_pass",
            "auth_pass exists only in VRRPv2 (RFC 5798 removed authentication): remove it or set version: 2",
        ));
    }
    Ok(())
}

/// VRRPv2 counts the interval in whole seconds, 8 bits (RFC 3768 5.3.7).
fn v2_advert_interval(raw: &RawInstance) -> Result<(), RuleError> {
    let d = raw.advert_interval;
    if raw.version == VrrpVersion::V2
        && (d.subsec_nanos() != 0 || !(1..=255).contains(&d.as_secs()))
    {
        return Err(RuleError::new(
            "advert_interval",
            format!(
                "advert_interval {} is not valid for VRRPv2: use whole seconds 1s-255s (RFC 3768 5.3.7), or version: 3 for sub-second intervals",
                duration_text::format(&d)
            ),
        ));
    }
    Ok(())
}

fn v2_carries_ipv4_only(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.version == VrrpVersion::V2 && raw.vips.iter().any(|v| v.family() == Family::V6) {
        return Err(RuleError::new(
            "vips",
            "VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips",
        ));
    }
    Ok(())
}

fn auth_pass_length(raw: &RawInstance) -> Result<(), RuleError> {
    if let Some(p) = &raw.auth_pass
        && (p.is_empty() || p.len() > 8 || !p.is_ascii())
    {
        return Err(RuleError::new(
            "auth_pass",
            "auth_pass must be 1-8 ASCII characters (RFC 3768 5.3.10); keepalived also truncates to 8",
        ));
    }
    Ok(())
}

/// `auth_type` says what the password is for: without one it means nothing.
fn auth_type_needs_pass(raw: &RawInstance) -> Result<(), RuleError> {
    if let Some(t) = raw.auth_type
        && raw.auth_pass.is_none()
    {
        let name = match t {
            AuthType::Pass => "pass",
            AuthType::Ah => "ah",
        };
        return Err(RuleError::new(
            "auth_type",
            format!(
                "auth_type: {name} needs auth_pass (the password, 1-8 characters, the same on every router of the group)"
            ),
        ));
    }
    Ok(())
}

fn vips_not_empty(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.vips.is_empty() {
        return Err(RuleError::new(
            "vips",
            "vips is empty: an instance needs at least one virtual address to advertise",
        ));
    }
    Ok(())
}

/// Every VIP, advertised or excluded, with the key of its list.
fn listed_vips(raw: &RawInstance) -> impl Iterator<Item = (&'static str, &Vip)> {
    let vips = raw.vips.iter().map(|v| ("vips", v));
    vips.chain(raw.excluded_vips.iter().map(|v| ("excluded_vips", v)))
}

/// Checked VIP by VIP, so the first VIP that breaks either rule is reported.
fn addresses_once_and_labels_named(raw: &RawInstance) -> Result<(), RuleError> {
    let mut seen = BTreeSet::new();
    for (field, v) in listed_vips(raw) {
        address_listed_once(&mut seen, field, v)?;
        label_names_its_device(field, v, &raw.interface)?;
    }
    Ok(())
}

fn address_listed_once(
    seen: &mut BTreeSet<IpAddr>,
    field: &'static str,
    v: &Vip,
) -> Result<(), RuleError> {
    if !seen.insert(v.address) {
        return Err(RuleError::new(
            field,
            format!("address {} is listed twice: remove one", v.address),
        ));
    }
    Ok(())
}

/// The kernel requires the device name as the label's prefix.
fn label_names_its_device(field: &'static str, v: &Vip, interface: &str) -> Result<(), RuleError> {
    if let Some(l) = &v.label {
        let dev = v.dev.as_deref().unwrap_or(interface);
        if !l.starts_with(&format!("{dev}:")) && l != dev {
            return Err(RuleError::new(
                field,
                format!(
                    "label {l:?} of {} must start with \"{dev}:\" (the kernel requires the device name as prefix)",
                    v.address
                ),
            ));
        }
    }
    Ok(())
}

fn owner_preempts(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.priority == 255 && !raw.preempt {
        return Err(RuleError::new(
            "preempt",
            "priority 255 (address owner) always preempts (RFC 5798 6.4.1): drop preempt: false or lower the priority",
        ));
    }
    Ok(())
}

fn master_preempts(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.initial_state == InitialState::Master && !raw.preempt {
        return Err(RuleError::new(
            "initial_state",
            "initial_state master contradicts preempt: false (a non-preempting router must start as backup)",
        ));
    }
    Ok(())
}

fn unicast_has_peers(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.unicast.as_ref().is_some_and(|u| u.peers.is_empty()) {
        return Err(RuleError::new(
            "unicast.peers",
            "unicast.peers is empty: list the other routers' addresses, or remove unicast for multicast",
        ));
    }
    Ok(())
}

fn vip_families(raw: &RawInstance) -> BTreeSet<Family> {
    raw.vips.iter().map(Vip::family).collect()
}

/// Checked peer by peer, so the first peer that breaks either rule is reported.
fn unicast_peers_usable(raw: &RawInstance) -> Result<(), RuleError> {
    let Some(u) = &raw.unicast else {
        return Ok(());
    };
    let families = vip_families(raw);
    for p in &u.peers {
        peer_has_vips_of_its_family(&families, *p)?;
        peer_is_unicast(*p)?;
    }
    Ok(())
}

/// Adverts of a family carry that family's VIPs: a peer of a family without
/// VIPs would get empty adverts.
fn peer_has_vips_of_its_family(families: &BTreeSet<Family>, p: IpAddr) -> Result<(), RuleError> {
    if !families.contains(&Family::of(p)) {
        return Err(RuleError::new(
            "unicast.peers",
            format!(
                "unicast peer {p} has no VIP of its family in vips: adverts of a family carry that family's VIPs"
            ),
        ));
    }
    Ok(())
}

fn peer_is_unicast(p: IpAddr) -> Result<(), RuleError> {
    if p.is_multicast() || p.is_unspecified() {
        return Err(RuleError::new(
            "unicast.peers",
            format!("unicast peer {p} must be a unicast address"),
        ));
    }
    Ok(())
}

fn unicast_one_source_per_family(raw: &RawInstance) -> Result<(), RuleError> {
    let Some(u) = &raw.unicast else {
        return Ok(());
    };
    let mut families = BTreeSet::new();
    if !u.sources.iter().all(|s| families.insert(Family::of(*s))) {
        return Err(RuleError::new(
            "unicast.sources",
            "unicast.sources has two addresses of one family: give at most one IPv4 and one IPv6",
        ));
    }
    Ok(())
}

/// In unicast mode a family's VIPs are advertised only to peers of that family.
fn unicast_peer_per_family(raw: &RawInstance) -> Result<(), RuleError> {
    let Some(u) = &raw.unicast else {
        return Ok(());
    };
    for fam in vip_families(raw) {
        if !u.peers.iter().any(|p| fam.contains(*p)) {
            return Err(RuleError::new(
                "unicast.peers",
                format!(
                    "unicast mode but no {fam} peer for the {fam} VIPs: add a peer of that family"
                ),
            ));
        }
    }
    Ok(())
}

/// The VIP device is created on the interface: it cannot be the interface.
fn vip_device_name_differs(raw: &RawInstance) -> Result<(), RuleError> {
    if let Some(dev) = &raw.vip_device
        && let Some(name) = &dev.name
        && name == &raw.interface
    {
        return Err(RuleError::new(
            "vip_device.name",
            format!(
                "vip_device.name must differ from interface {:?}",
                raw.interface
            ),
        ));
    }
    Ok(())
}

/// The checksum forms exist only for VRRPv3 over IPv4: set on a VRRPv2
/// instance they would silently do nothing.
fn v3_ipv4_checksum_is_v3(raw: &RawInstance) -> Result<(), RuleError> {
    if raw.version != VrrpVersion::V3 {
        if !raw.v3_ipv4_checksum.is_default() {
            return Err(RuleError::new(
                "v3_ipv4_checksum",
                "v3_ipv4_checksum applies to VRRPv3 only (VRRPv2 always sums the message alone, RFC 3768 5.3.8): remove it or set version: 3",
            ));
        }
        if !raw.v3_ipv4_checksum_accept.is_default() {
            return Err(RuleError::new(
                "v3_ipv4_checksum_accept",
                "v3_ipv4_checksum_accept applies to VRRPv3 only (VRRPv2 always sums the message alone, RFC 3768 5.3.8): remove it or set version: 3",
            ));
        }
    }
    Ok(())
}

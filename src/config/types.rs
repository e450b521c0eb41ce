//! The value types of an instance and the checks on single values, run by
//! their serde visitors where the value is written (so errors carry its line
//! and column) and offered to code that builds values itself.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration_text;
use crate::family::Family;

/// How a VRRPv2 instance authenticates its adverts with `auth_pass`
/// (keepalived's `auth_type`; see docs/authentication.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// RFC 2338 5.3.6.1: the password in clear in every advert. Guards
    /// against misconfiguration only.
    #[default]
    Pass,
    /// RFC 2338 5.3.6.2: an IPsec AH header with an HMAC-MD5-96 of the
    /// advert keyed with the password, and a sequence number against
    /// replays, as keepalived builds it.
    Ah,
}

impl AuthType {
    /// The default is not written out (configurations read back unchanged).
    pub fn is_pass(&self) -> bool {
        *self == AuthType::Pass
    }
}

/// VRRP protocol version of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpVersion {
    V2,
    V3,
}

impl VrrpVersion {
    pub fn number(self) -> u8 {
        match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

impl Serialize for VrrpVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for VrrpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VrrpVersion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("VRRP version 2 or 3")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VrrpVersion, E> {
                match v {
                    2 => Ok(VrrpVersion::V2),
                    3 => Ok(VrrpVersion::V3),
                    _ => Err(E::custom(format!(
                        "version {v} is not a VRRP version: use 3 (RFC 5798, IPv4 and IPv6) or 2 (RFC 3768, IPv4 only)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VrrpVersion, E> {
                self.visit_u64(v.max(0) as u64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VrrpVersion, E> {
                match v.trim() {
                    "2" => Ok(VrrpVersion::V2),
                    "3" => Ok(VrrpVersion::V3),
                    _ => Err(E::custom(format!(
                        "version {v:?} is not a VRRP version: use 3 or 2"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// State an instance enters at startup (RFC 5798 6.4.1 plus keepalived's
/// `state MASTER`, which skips the initial wait as backup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

/// What a starting vipd does with this instance's VIPs when it finds all of
/// them already in place (a vipd restarted after SIGKILL, the watchdog or
/// the OOM killer left them there: it was master a moment ago). See
/// docs/restart.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FoundVips {
    /// Warm start: keep them and resume as master at once (advert and
    /// announcements right away); the RFC 5798 6.4.3 master rules then
    /// settle any other master heard. A restart inside the backup's
    /// Master_Down_Interval costs no outage and no role change.
    #[default]
    Keep,
    /// Cold start: remove them and start as backup (as vipd did before
    /// warm restarts; a non-preempting router never takes mastership back
    /// after a restart).
    Remove,
}

impl FoundVips {
    pub fn is_default(&self) -> bool {
        *self == FoundVips::Keep
    }
}

/// Which device carries an instance's VIPs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VipDevice {
    pub kind: VipDeviceKind,
    /// Interface name; defaults to `vrrp.<vrid>` (MACVLAN) or `vipd.<vrid>` (IPVLAN).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_opt_ifname"
    )]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VipDeviceKind {
    /// A MACVLAN with the RFC virtual MAC 00:00:5e:00:01:VRID (IPv4) or
    /// 00:00:5e:00:02:VRID (IPv6-only instances); keepalived's `use_vmac`.
    Macvlan,
    /// An IPVLAN in L2 mode sharing the parent's MAC; keepalived's `use_ipvlan`.
    Ipvlan,
}

/// Unicast transport, for networks without multicast (clouds).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnicastConfig {
    /// Source address per family; defaults to the interface's first address
    /// of that family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<IpAddr>,
    pub peers: Vec<IpAddr>,
}

/// Gratuitous ARP / unsolicited NA on becoming master (RFC 5798 6.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GarpConfig {
    /// Announcements per VIP in the first burst.
    #[serde(default = "default_garp_repeat")]
    pub repeat: u32,
    /// Gap between two announcements of one burst.
    #[serde(default, with = "duration_text")]
    pub interval: Duration,
    /// A second burst this long after becoming master (0 = none); catches
    /// switches that were still converging during the first one.
    #[serde(default = "default_garp_second_burst", with = "duration_text")]
    pub second_burst_after: Duration,
    /// Re-announce periodically while master (0 = never).
    #[serde(default, with = "duration_text")]
    pub refresh: Duration,
}

fn default_garp_repeat() -> u32 {
    5
}
fn default_garp_second_burst() -> Duration {
    Duration::from_secs(5)
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            repeat: default_garp_repeat(),
            interval: Duration::ZERO,
            second_burst_after: default_garp_second_burst(),
            refresh: Duration::ZERO,
        }
    }
}

/// One virtual address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// Device to put the address on instead of the instance's interface.
    pub dev: Option<String>,
    /// IPv4 label (`eth0:vip`), as `ip addr add ... label` would set.
    pub label: Option<String>,
}

/// Written back in the short form (`192.0.2.10/24`) unless it has a dev or label.
impl Serialize for Vip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.dev.is_none() && self.label.is_none() {
            return s.serialize_str(&self.to_string());
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("address", &self.to_string())?;
        if let Some(d) = &self.dev {
            m.serialize_entry("dev", d)?;
        }
        if let Some(l) = &self.label {
            m.serialize_entry("label", l)?;
        }
        m.end()
    }
}

impl Vip {
    pub fn family(&self) -> Family {
        Family::of(self.address)
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// `ADDR[/PREFIX]` (see [`parse_cidr`]), on the instance's interface, without label.
impl FromStr for Vip {
    type Err = String;

    fn from_str(s: &str) -> Result<Vip, String> {
        let (address, prefix_len) = parse_cidr(s)?;
        Ok(Vip {
            address,
            prefix_len,
            dev: None,
            label: None,
        })
    }
}

/// Parses `ADDR[/PREFIX]`; the default prefix is the host prefix (/32, /128).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let address: IpAddr = addr.parse().map_err(|_| {
        format!("{s:?} is not an IP address (expected e.g. 192.0.2.10/24 or 2001:db8::10/64)")
    })?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("prefix /{p} of {addr} is invalid: use 0-{max}")),
        },
    };
    check_address_kind(address)?;
    Ok((address, prefix_len))
}

/// Addresses no router can own.
fn check_address_kind(address: IpAddr) -> Result<(), String> {
    if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
        return Err(format!(
            "{address} cannot be a virtual address (unspecified, multicast or loopback)"
        ));
    }
    Ok(())
}

/// A label as `ip addr add ... label` accepts it: IPv4 only, and at most
/// IFNAMSIZ - 1 characters. (That it starts with the device name is a rule
/// of the instance, which knows the device.)
fn check_label(address: IpAddr, label: &str) -> Result<(), String> {
    if !address.is_ipv4() {
        return Err(format!(
            "label {label:?} on {address}: labels exist only for IPv4 addresses; remove it"
        ));
    }
    if label.len() > 15 {
        return Err(format!(
            "label {label:?} is longer than 15 characters; shorten it"
        ));
    }
    Ok(())
}

impl Vip {
    /// What reading a VIP checks, for a VIP built in code (the keepalived
    /// importer): the same messages as for a written one.
    pub fn check(&self) -> Result<(), String> {
        let max = if self.address.is_ipv4() { 32 } else { 128 };
        if self.prefix_len > max {
            return Err(format!(
                "prefix /{} of {} is invalid: use 0-{max}",
                self.prefix_len, self.address
            ));
        }
        check_address_kind(self.address)?;
        if let Some(dev) = &self.dev {
            check_ifname(dev)?;
        }
        match &self.label {
            Some(label) => check_label(self.address, label),
            None => Ok(()),
        }
    }
}

/// The keys of a VIP written as a mapping (its visitor is written by hand,
/// so serde has no list of them: this is it, for errors and the reference).
pub(crate) const VIP_KEYS: &[&str] = &["address", "dev", "label"];

impl<'de> Deserialize<'de> for Vip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vip;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address with optional prefix (\"192.0.2.10/24\") or a mapping {address, dev, label}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vip, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vip, A::Error> {
                let mut cidr: Option<(IpAddr, u8)> = None;
                let mut dev = None;
                let mut label: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "address" => {
                            let s: String = map.next_value()?;
                            cidr = Some(parse_cidr(&s).map_err(de::Error::custom)?);
                        }
                        "dev" => dev = Some(map.next_value::<IfName>()?.0),
                        "label" => label = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(other, VIP_KEYS));
                        }
                    }
                }
                let (address, prefix_len) =
                    cidr.ok_or_else(|| de::Error::missing_field("address"))?;
                if let Some(l) = &label {
                    check_label(address, l).map_err(de::Error::custom)?;
                }
                Ok(Vip {
                    address,
                    prefix_len,
                    dev,
                    label,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A validated interface name (the kernel's rules: 1-15 bytes, no '/', ':' or blanks).
struct IfName(String);

/// The kernel's rules for interface names (`dev_valid_name`).
pub fn check_ifname(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 15 || v == "." || v == ".." {
        return Err(format!(
            "{v:?} is not a valid interface name (1-15 characters)"
        ));
    }
    if v.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "{v:?} is not a valid interface name ('/', ':' and blanks are not allowed)"
        ));
    }
    Ok(())
}

impl<'de> Deserialize<'de> for IfName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IfName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an interface name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IfName, E> {
                check_ifname(v).map_err(E::custom)?;
                Ok(IfName(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

pub(super) fn deserialize_ifname<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    IfName::deserialize(d).map(|n| n.0)
}
fn deserialize_opt_ifname<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    IfName::deserialize(d).map(|n| Some(n.0))
}

//! The YAML configuration: schema, defaults and validation.
//!
//! Every field-level check runs inside a serde visitor, so serde_norway
//! attaches the exact line and column of the offending value to the error.
//! Checks that relate several fields of one instance run when the instance's
//! mapping is complete and point at the instance; checks across instances
//! name both instances. Unknown keys are rejected everywhere.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::family::Family;

/// Where the daemon reads its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/vipd/vipd.yaml";

/// A configuration error, located in its file so an operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Free-form name of this router, shown in logs and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    #[serde(deserialize_with = "deserialize_instances")]
    pub instances: Vec<InstanceConfig>,
    #[serde(default, skip_serializing_if = "NetworkdConfig::is_default")]
    pub networkd: NetworkdConfig,
}

/// systemd-networkd integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkdConfig {
    /// Write networkd's files for the instances at start and on reload, as
    /// `vipctl networkd install` does, and ask networkd to reload them.
    #[serde(default)]
    pub manage_files: bool,
}

impl NetworkdConfig {
    fn is_default(&self) -> bool {
        *self == NetworkdConfig::default()
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        serde_norway::from_str::<Config>(text).map_err(|e| {
            let loc = e.location();
            // serde_norway appends " at line L column C" to the message; the
            // location is reported separately, so strip it from the text.
            let mut message = e.to_string();
            if let Some(pos) = message.rfind(" at line ") {
                message.truncate(pos);
            }
            ConfigError {
                path: path.to_path_buf(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message,
            }
        })
    }

    /// Renders the configuration as YAML (used by the keepalived importer).
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
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
    if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
        return Err(format!(
            "{address} cannot be a virtual address (unspecified, multicast or loopback)"
        ));
    }
    Ok((address, prefix_len))
}

impl<'de> Deserialize<'de> for Vip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vip;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address with optional prefix (\"192.0.2.10/24\") or a mapping {address, dev, label}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vip, E> {
                let (address, prefix_len) = parse_cidr(v).map_err(E::custom)?;
                Ok(Vip {
                    address,
                    prefix_len,
                    dev: None,
                    label: None,
                })
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
                            return Err(de::Error::unknown_field(
                                other,
                                &["address", "dev", "label"],
                            ));
                        }
                    }
                }
                let (address, prefix_len) =
                    cidr.ok_or_else(|| de::Error::missing_field("address"))?;
                if let Some(l) = &label {
                    if !address.is_ipv4() {
                        return Err(de::Error::custom(format!(
                            "label {l:?} on {address}: labels exist only for IPv4 addresses; remove it"
                        )));
                    }
                    if l.len() > 15 {
                        return Err(de::Error::custom(format!(
                            "label {l:?} is longer than 15 characters; shorten it"
                        )));
                    }
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

fn deserialize_ifname<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    IfName::deserialize(d).map(|n| n.0)
}
fn deserialize_opt_ifname<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    IfName::deserialize(d).map(|n| Some(n.0))
}

/// Integer in an inclusive range, checked where it is read.
fn deserialize_ranged<'de, D: Deserializer<'de>>(
    d: D,
    what: &'static str,
    min: u64,
    max: u64,
    hint: &'static str,
) -> Result<u64, D::Error> {
    struct V {
        what: &'static str,
        min: u64,
        max: u64,
        hint: &'static str,
    }
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{} between {} and {}", self.what, self.min, self.max)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            if v < self.min || v > self.max {
                return Err(E::custom(format!(
                    "{} {v} is out of range {}-{}{}",
                    self.what, self.min, self.max, self.hint
                )));
            }
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            if v < 0 {
                return Err(E::custom(format!(
                    "{} {v} is out of range {}-{}{}",
                    self.what, self.min, self.max, self.hint
                )));
            }
            self.visit_u64(v as u64)
        }
    }
    d.deserialize_u64(V {
        what,
        min,
        max,
        hint,
    })
}

fn deserialize_vrid<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    deserialize_ranged(d, "vrid", 1, 255, "").map(|v| v as u8)
}
fn deserialize_priority<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    deserialize_ranged(
        d,
        "priority",
        1,
        255,
        ": use 1-254 for backups, 255 only on the router that owns the addresses",
    )
    .map(|v| v as u8)
}

/// Durations written as `100ms`, `1s`, `1.5s`, `2m`, or a bare number of seconds.
pub mod duration_text {
    use super::*;

    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration (write e.g. 100ms, 1s, 1.5s, 2m)"))?;
        let scale = match unit.trim() {
            "" | "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "unknown duration unit {other:?} in {s:?} (use us, ms, s, m or h)"
                ));
            }
        };
        let secs = value * scale;
        if !secs.is_finite() || !(0.0..=86400.0 * 365.0).contains(&secs) {
            return Err(format!("duration {s:?} is out of range"));
        }
        Ok(Duration::from_nanos((secs * 1e9).round() as u64))
    }

    pub fn format(d: &Duration) -> String {
        let ms = d.as_millis();
        if d.subsec_nanos() == 0 {
            format!("{}s", d.as_secs())
        } else if Duration::from_millis(ms as u64) == *d {
            format!("{ms}ms")
        } else {
            format!("{}us", d.as_micros())
        }
    }

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 100ms, 1s or 1.5s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 {
                    return Err(E::custom(format!("duration {v} is negative")));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// One VRRP virtual router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceConfig {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: VrrpVersion,
    pub priority: u8,
    pub preempt: bool,
    #[serde(with = "duration_text")]
    pub preempt_delay: Duration,
    #[serde(with = "duration_text")]
    pub advert_interval: Duration,
    pub initial_state: InitialState,
    /// VRRPv2 simple password (RFC 3768 5.3.6.1), for keepalived `auth_type PASS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_pass: Option<String>,
    pub vips: Vec<Vip>,
    /// Moved with the instance but not carried in adverts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_vips: Vec<Vip>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicast: Option<UnicastConfig>,
    pub garp: GarpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_device: Option<VipDevice>,
}

/// The instance as written; `InstanceConfig` is built from it after the
/// cross-field checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: String,
    #[serde(deserialize_with = "deserialize_ifname")]
    interface: String,
    #[serde(deserialize_with = "deserialize_vrid")]
    vrid: u8,
    #[serde(default = "default_version")]
    version: VrrpVersion,
    #[serde(
        default = "default_priority",
        deserialize_with = "deserialize_priority"
    )]
    priority: u8,
    #[serde(default = "default_true")]
    preempt: bool,
    #[serde(default, with = "duration_text")]
    preempt_delay: Duration,
    #[serde(default = "default_advert_interval", with = "duration_text")]
    advert_interval: Duration,
    #[serde(default)]
    initial_state: InitialState,
    #[serde(default)]
    auth_pass: Option<String>,
    vips: Vec<Vip>,
    #[serde(default)]
    excluded_vips: Vec<Vip>,
    #[serde(default)]
    unicast: Option<UnicastConfig>,
    #[serde(default)]
    garp: GarpConfig,
    #[serde(default)]
    vip_device: Option<VipDevice>,
}

fn default_version() -> VrrpVersion {
    VrrpVersion::V3
}
fn default_priority() -> u8 {
    100
}
fn default_true() -> bool {
    true
}
fn default_advert_interval() -> Duration {
    Duration::from_secs(1)
}

impl<'de> Deserialize<'de> for InstanceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawInstance::deserialize(d)?;
        raw.validate().map_err(de::Error::custom)
    }
}

impl RawInstance {
    fn validate(self) -> Result<InstanceConfig, String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "instance name {n:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
            ));
        }
        let ctx = format!("instance {n:?}");
        match self.version {
            VrrpVersion::V3 => {
                let cs = self.advert_interval.as_micros();
                if !cs.is_multiple_of(10_000) || !(10_000..=40_950_000).contains(&cs) {
                    return Err(format!(
                        "{ctx}: advert_interval {} is not valid for VRRPv3: use a multiple of 10ms between 10ms and 40.95s (RFC 5798 5.2.7)",
                        duration_text::format(&self.advert_interval)
                    ));
                }
                if self.auth_pass.is_some() {
                    return Err(format!(
                        "{ctx}: auth_pass exists only in VRRPv2 (RFC 5798 removed authentication): remove it or set version: 2"
                    ));
                }
            }
            VrrpVersion::V2 => {
                let d = self.advert_interval;
                if d.subsec_nanos() != 0 || !(1..=255).contains(&d.as_secs()) {
                    return Err(format!(
                        "{ctx}: advert_interval {} is not valid for VRRPv2: use whole seconds 1s-255s (RFC 3768 5.3.7), or version: 3 for sub-second intervals",
                        duration_text::format(&d)
                    ));
                }
                if self.vips.iter().any(|v| v.family() == Family::V6) {
                    return Err(format!(
                        "{ctx}: VRRPv2 carries IPv4 only (RFC 3768): use version: 3 for IPv6 VIPs, or move them to excluded_vips"
                    ));
                }
            }
        }
        if let Some(p) = &self.auth_pass
            && (p.is_empty() || p.len() > 8 || !p.is_ascii())
        {
            return Err(format!(
                "{ctx}: auth_pass must be 1-8 ASCII characters (RFC 3768 5.3.10); keepalived also truncates to 8"
            ));
        }
        if self.vips.is_empty() {
            return Err(format!(
                "{ctx}: vips is empty: an instance needs at least one virtual address to advertise"
            ));
        }
        let mut seen = BTreeSet::new();
        for v in self.vips.iter().chain(&self.excluded_vips) {
            if !seen.insert(v.address) {
                return Err(format!(
                    "{ctx}: address {} is listed twice: remove one",
                    v.address
                ));
            }
            if let Some(l) = &v.label {
                let dev = v.dev.as_deref().unwrap_or(&self.interface);
                if !l.starts_with(&format!("{dev}:")) && l != dev {
                    return Err(format!(
                        "{ctx}: label {l:?} of {} must start with \"{dev}:\" (the kernel requires the device name as prefix)",
                        v.address
                    ));
                }
            }
        }
        if self.priority == 255 && !self.preempt {
            return Err(format!(
                "{ctx}: priority 255 (address owner) always preempts (RFC 5798 6.4.1): drop preempt: false or lower the priority"
            ));
        }
        if self.initial_state == InitialState::Master && !self.preempt {
            return Err(format!(
                "{ctx}: initial_state master contradicts preempt: false (a non-preempting router must start as backup)"
            ));
        }
        let families: BTreeSet<Family> = self.vips.iter().map(Vip::family).collect();
        if let Some(u) = &self.unicast {
            if u.peers.is_empty() {
                return Err(format!(
                    "{ctx}: unicast.peers is empty: list the other routers' addresses, or remove unicast for multicast"
                ));
            }
            for p in &u.peers {
                if !families.contains(&Family::of(*p)) {
                    return Err(format!(
                        "{ctx}: unicast peer {p} has no VIP of its family in vips: adverts of a family carry that family's VIPs"
                    ));
                }
                if p.is_multicast() || p.is_unspecified() {
                    return Err(format!("{ctx}: unicast peer {p} must be a unicast address"));
                }
            }
            let mut src_fams = BTreeSet::new();
            for s in &u.sources {
                if !src_fams.insert(Family::of(*s)) {
                    return Err(format!(
                        "{ctx}: unicast.sources has two addresses of one family: give at most one IPv4 and one IPv6"
                    ));
                }
            }
            for fam in &families {
                if !u.peers.iter().any(|p| fam.contains(*p)) {
                    return Err(format!(
                        "{ctx}: unicast mode but no {fam} peer for the {fam} VIPs: add a peer of that family"
                    ));
                }
            }
        }
        if let Some(dev) = &self.vip_device
            && let Some(name) = &dev.name
            && name == &self.interface
        {
            return Err(format!(
                "{ctx}: vip_device.name must differ from interface {:?}",
                self.interface
            ));
        }
        Ok(InstanceConfig {
            name: self.name,
            interface: self.interface,
            vrid: self.vrid,
            version: self.version,
            priority: self.priority,
            preempt: self.preempt,
            preempt_delay: self.preempt_delay,
            advert_interval: self.advert_interval,
            initial_state: self.initial_state,
            auth_pass: self.auth_pass,
            vips: self.vips,
            excluded_vips: self.excluded_vips,
            unicast: self.unicast,
            garp: self.garp,
            vip_device: self.vip_device,
        })
    }
}

impl InstanceConfig {
    /// True when the adverts of this family are sent (the instance has VIPs of it).
    pub fn advertises(&self, family: Family) -> bool {
        self.vips.iter().any(|v| v.family() == family)
    }

    /// The families the instance advertises, IPv4 first.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        Family::ALL.into_iter().filter(|f| self.advertises(*f))
    }

    /// The family whose virtual MAC (RFC 5798 7.3) a MACVLAN VIP device
    /// gets: IPv4's unless the instance advertises IPv6 only.
    pub fn mac_family(&self) -> Family {
        if self.advertises(Family::V4) {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// Every address the instance moves, advertised or excluded.
    pub fn all_vips(&self) -> impl Iterator<Item = &Vip> {
        self.vips.iter().chain(&self.excluded_vips)
    }

    /// The name of the VIP device, when the instance uses one.
    pub fn vip_device_name(&self) -> Option<String> {
        self.vip_device.as_ref().map(|d| {
            d.name.clone().unwrap_or_else(|| match d.kind {
                VipDeviceKind::Macvlan => format!("vrrp.{}", self.vrid),
                VipDeviceKind::Ipvlan => format!("vipd.{}", self.vrid),
            })
        })
    }

    /// The device a VIP goes on: its own `dev`, else the VIP device, else the interface.
    pub fn device_for(&self, vip: &Vip) -> String {
        vip.dev
            .clone()
            .or_else(|| self.vip_device_name())
            .unwrap_or_else(|| self.interface.clone())
    }
}

/// Instances list with checks across instances.
fn deserialize_instances<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<InstanceConfig>, D::Error> {
    let list = Vec::<InstanceConfig>::deserialize(d)?;
    if list.is_empty() {
        return Err(de::Error::custom(
            "instances is empty: configure at least one instance",
        ));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    // VRIDs are per interface and per address family (RFC 5798 5.2.3, 7.3).
    let mut vrids: HashMap<(&str, u8, Family), &str> = HashMap::new();
    let mut devices: HashMap<String, &str> = HashMap::new();
    for (i, inst) in list.iter().enumerate() {
        if let Some(j) = names.insert(&inst.name, i) {
            return Err(de::Error::custom(format!(
                "instances[{i}]: name {:?} is already used by instances[{j}]: names must be unique",
                inst.name
            )));
        }
        for fam in inst.families() {
            if let Some(other) = vrids.insert((&inst.interface, inst.vrid, fam), &inst.name) {
                return Err(de::Error::custom(format!(
                    "instances {other:?} and {:?} both use vrid {} for {fam} on {}: give one of them another vrid",
                    inst.name, inst.vrid, inst.interface
                )));
            }
        }
        if let Some(dev) = inst.vip_device_name()
            && let Some(other) = devices.insert(dev.clone(), &inst.name)
        {
            return Err(de::Error::custom(format!(
                "instances {other:?} and {:?} both use VIP device {dev}: name them apart with vip_device.name",
                inst.name
            )));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.yaml"))
    }

    const MINIMAL: &str =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        let i = &c.instances[0];
        assert_eq!(i.version, VrrpVersion::V3);
        assert_eq!(i.priority, 100);
        assert!(i.preempt);
        assert_eq!(i.advert_interval, Duration::from_secs(1));
        assert_eq!(i.vips[0].prefix_len, 24);
        assert_eq!(i.garp, GarpConfig::default());
        assert_eq!(i.device_for(&i.vips[0]), "eth0");
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: 300\n    vips: [192.0.2.10]\n";
        let e = parse(text).unwrap_err();
        assert_eq!((e.line, e.column), (Some(5), Some(15)), "{e}");
        assert!(
            e.message.contains("priority 300 is out of range 1-255"),
            "{e}"
        );
        assert!(e.to_string().starts_with("test.yaml:5:15: "), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priorty: 100\n    vips: [192.0.2.10]\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown field `priorty`"), "{e}");
        let e = parse("instance: []\n").unwrap_err();
        assert!(e.message.contains("unknown field `instance`"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected_where_they_stand() {
        let cases: &[(&str, &str, usize)] = &[
            ("vrid: 0", "vrid 0 is out of range", 4),
            ("vrid: 256", "vrid 256 is out of range", 4),
            ("vrid: 51\n    interface2: x", "unknown field", 5),
        ];
        for (repl, msg, line) in cases {
            let text = MINIMAL.replace("vrid: 51", repl);
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains(msg), "{repl}: {e}");
            assert_eq!(e.line, Some(*line), "{repl}: {e}");
        }
        let e = parse(&MINIMAL.replace("192.0.2.10/24", "192.0.2.10/33")).unwrap_err();
        assert!(e.message.contains("prefix /33"), "{e}");
        assert_eq!(e.line, Some(5));
        let e = parse(&MINIMAL.replace("192.0.2.10/24", "not-an-ip")).unwrap_err();
        assert!(e.message.contains("is not an IP address"), "{e}");
        let e = parse(&MINIMAL.replace("eth0", "a/b")).unwrap_err();
        assert!(e.message.contains("not a valid interface name"), "{e}");
        assert_eq!(e.line, Some(3));
        let e = parse(&format!("{MINIMAL}    advert_interval: 15ms\n")).unwrap_err();
        assert!(e.message.contains("multiple of 10ms"), "{e}");
        let e = parse(&format!("{MINIMAL}    advert_interval: 1 fortnight\n")).unwrap_err();
        assert!(e.message.contains("unknown duration unit"), "{e}");
        assert_eq!(e.line, Some(6));
    }

    #[test]
    fn version_rules() {
        let v2 = format!("{MINIMAL}    version: 2\n");
        assert_eq!(parse(&v2).unwrap().instances[0].version, VrrpVersion::V2);
        let e = parse(&format!("{v2}    advert_interval: 100ms\n")).unwrap_err();
        assert!(e.message.contains("whole seconds"), "{e}");
        let e = parse(&format!("{MINIMAL}    auth_pass: secret\n")).unwrap_err();
        assert!(e.message.contains("only in VRRPv2"), "{e}");
        let ok = parse(&format!("{v2}    auth_pass: secret\n")).unwrap();
        assert_eq!(ok.instances[0].auth_pass.as_deref(), Some("secret"));
        let e = parse(&format!("{v2}    auth_pass: waytoolongpassword\n")).unwrap_err();
        assert!(e.message.contains("1-8 ASCII"), "{e}");
        let e = parse(&v2.replace("192.0.2.10/24", "2001:db8::1/64")).unwrap_err();
        assert!(e.message.contains("IPv4 only"), "{e}");
        let e = parse(&format!("{MINIMAL}    version: 4\n")).unwrap_err();
        assert!(e.message.contains("not a VRRP version"), "{e}");
    }

    #[test]
    fn mixed_families_and_unicast() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24, \"2001:db8::10/64\"]\n    unicast:\n      peers: [192.0.2.2]\n";
        let e = parse(text).unwrap_err();
        assert!(e.message.contains("no IPv6 peer"), "{e}");
        let ok = text.replace("[192.0.2.2]", "[192.0.2.2, \"2001:db8::2\"]");
        let c = parse(&ok).unwrap();
        assert!(c.instances[0].advertises(Family::V4) && c.instances[0].advertises(Family::V6));
        let e = parse(&text.replace("peers: [192.0.2.2]", "peers: []")).unwrap_err();
        assert!(e.message.contains("unicast.peers is empty"), "{e}");
    }

    #[test]
    fn cross_instance_conflicts_are_named() {
        let two = format!(
            "{MINIMAL}  - name: api\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.11]\n"
        );
        let e = parse(&two).unwrap_err();
        assert!(
            e.message
                .contains("\"web\" and \"api\" both use vrid 51 for IPv4 on eth0"),
            "{e}"
        );
        // Same VRID for another family is fine (RFC 5798 7.3: VRID space per family).
        let v6 = two.replace("192.0.2.11", "\"2001:db8::11\"");
        assert!(parse(&v6).is_ok());
        let dup = two.replace("name: api", "name: web").replace(
            "vrid: 51\n    vips: [192.0.2.11]",
            "vrid: 52\n    vips: [192.0.2.11]",
        );
        let e = parse(&dup).unwrap_err();
        assert!(e.message.contains("name \"web\" is already used"), "{e}");
    }

    #[test]
    fn vip_mapping_form_and_labels() {
        let text = MINIMAL.replace(
            "vips: [192.0.2.10/24]",
            "vips:\n      - address: 192.0.2.10/24\n        label: \"eth0:web\"\n      - {address: 192.0.2.11, dev: eth1}",
        );
        let c = parse(&text).unwrap();
        let i = &c.instances[0];
        assert_eq!(i.vips[0].label.as_deref(), Some("eth0:web"));
        assert_eq!(i.device_for(&i.vips[1]), "eth1");
        let bad = text.replace("eth0:web", "lo:web");
        let e = parse(&bad).unwrap_err();
        assert!(e.message.contains("must start with \"eth0:\""), "{e}");
        let e = parse(&text.replace("dev: eth1", "device: eth1")).unwrap_err();
        assert!(e.message.contains("unknown field `device`"), "{e}");
    }

    #[test]
    fn owner_and_state_rules() {
        let e = parse(&format!("{MINIMAL}    priority: 255\n    preempt: false\n")).unwrap_err();
        assert!(e.message.contains("always preempts"), "{e}");
        let e = parse(&format!(
            "{MINIMAL}    initial_state: master\n    preempt: false\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("must start as backup"), "{e}");
        let e = parse(&format!("{MINIMAL}    excluded_vips: [192.0.2.10]\n")).unwrap_err();
        assert!(e.message.contains("listed twice"), "{e}");
    }

    #[test]
    fn round_trips_through_yaml() {
        let text = "router_id: a\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    version: 2\n    auth_pass: pw\n    advert_interval: 2s\n    vips: [192.0.2.10/24]\n    excluded_vips: [\"2001:db8::5/64\"]\n    unicast: {sources: [192.0.2.1], peers: [192.0.2.2]}\n    vip_device: {kind: macvlan}\n    garp: {repeat: 3, interval: 10ms, refresh: 60s}\n";
        let c = parse(text).unwrap();
        let again = parse(&c.to_yaml()).unwrap();
        assert_eq!(c, again);
        assert_eq!(c.instances[0].vip_device_name().as_deref(), Some("vrrp.51"));
    }

    #[test]
    fn networkd_section() {
        let c = parse(&format!("networkd: {{manage_files: true}}\n{MINIMAL}")).unwrap();
        assert!(c.networkd.manage_files);
        assert!(!parse(MINIMAL).unwrap().networkd.manage_files);
        let e = parse(&format!("networkd: {{manage: true}}\n{MINIMAL}")).unwrap_err();
        assert!(e.message.contains("unknown field `manage`"), "{e}");
        assert!(!parse(MINIMAL).unwrap().to_yaml().contains("networkd"));
    }

    #[test]
    fn durations() {
        use duration_text::parse as p;
        assert_eq!(p("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(p("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(p("2").unwrap(), Duration::from_secs(2));
        assert_eq!(p("2m").unwrap(), Duration::from_secs(120));
        assert!(p("").is_err() && p("-1s").is_err() && p("1e400s").is_err());
        assert_eq!(duration_text::format(&Duration::from_millis(20)), "20ms");
        assert_eq!(duration_text::format(&Duration::from_secs(3)), "3s");
    }
}

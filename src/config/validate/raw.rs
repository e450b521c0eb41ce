//! The instance as written, with its defaults, and the ranges of its integer
//! fields (checked where they are read, so serde reports their line).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::config::duration_text;
use crate::config::health::{NotifyConfig, TrackUse, unit_name};
use crate::config::types::{
    AuthType, FoundVips, GarpConfig, InitialState, UnicastConfig, Vip, VipDevice, VrrpVersion,
    deserialize_ifname,
};
use crate::config::wire_options::{ChecksumAccept, Dscp, LowerPriorityMaster, V3Ipv4ChecksumForm};

/// One instance as written, with the defaults filled in: every value has
/// passed its own check (serde visitors), the rules relating several values
/// have not. `InstanceConfig::try_from` applies them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    pub name: String,
    #[serde(deserialize_with = "deserialize_ifname")]
    pub interface: String,
    #[serde(deserialize_with = "deserialize_vrid")]
    pub vrid: u8,
    #[serde(default = "default_version")]
    pub version: VrrpVersion,
    #[serde(
        default = "default_priority",
        deserialize_with = "deserialize_priority"
    )]
    pub priority: u8,
    #[serde(default = "default_true")]
    pub preempt: bool,
    #[serde(default, with = "duration_text")]
    pub preempt_delay: Duration,
    #[serde(default = "default_advert_interval", with = "duration_text")]
    pub advert_interval: Duration,
    #[serde(default)]
    pub initial_state: InitialState,
    #[serde(default)]
    pub auth_type: Option<AuthType>,
    #[serde(default)]
    pub found_vips: FoundVips,
    #[serde(default)]
    pub auth_pass: Option<String>,
    pub vips: Vec<Vip>,
    #[serde(default)]
    pub excluded_vips: Vec<Vip>,
    #[serde(default)]
    pub unicast: Option<UnicastConfig>,
    #[serde(default)]
    pub garp: GarpConfig,
    #[serde(default)]
    pub vip_device: Option<VipDevice>,
    #[serde(default)]
    pub track: Vec<TrackUse>,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default, deserialize_with = "deserialize_units")]
    pub units: Vec<String>,
    // Wire variants (issue 11).
    #[serde(default)]
    pub v3_ipv4_checksum: V3Ipv4ChecksumForm,
    #[serde(default)]
    pub v3_ipv4_checksum_accept: ChecksumAccept,
    #[serde(default)]
    pub dscp: Dscp,
    #[serde(default)]
    pub lower_priority_master: LowerPriorityMaster,
}

/// Unit names, each checked where it is written.
fn deserialize_units<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let units = Vec::<String>::deserialize(d)?;
    for u in &units {
        unit_name(u).map_err(de::Error::custom)?;
    }
    Ok(units)
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

/// An integer field's accepted range, checked where it is read.
pub(super) struct Range {
    what: &'static str,
    min: u64,
    max: u64,
    hint: &'static str,
}

pub(super) const VRID: Range = Range {
    what: "vrid",
    min: 1,
    max: 255,
    hint: "",
};

pub(super) const PRIORITY: Range = Range {
    what: "priority",
    min: 1,
    max: 255,
    hint: ": use 1-254 for backups, 255 only on the router that owns the addresses",
};

impl Range {
    pub(super) fn check(&self, v: i128) -> Result<u64, String> {
        if v < i128::from(self.min) || v > i128::from(self.max) {
            return Err(format!(
                "{} {v} is out of range {}-{}{}",
                self.what, self.min, self.max, self.hint
            ));
        }
        Ok(v as u64)
    }

    fn deserialize<'de, D: Deserializer<'de>>(&'static self, d: D) -> Result<u64, D::Error> {
        struct V(&'static Range);
        impl Visitor<'_> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "{} between {} and {}",
                    self.0.what, self.0.min, self.0.max
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                self.0.check(v.into()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                self.0.check(v.into()).map_err(E::custom)
            }
        }
        d.deserialize_u64(V(self))
    }
}

fn deserialize_vrid<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    VRID.deserialize(d).map(|v| v as u8)
}
fn deserialize_priority<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    PRIORITY.deserialize(d).map(|v| v as u8)
}

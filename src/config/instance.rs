//! One validated VRRP instance and what the daemon asks of it.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::duration_text;
use super::health::{NotifyConfig, TrackUse};
use super::types::{
    AuthType, FoundVips, GarpConfig, InitialState, UnicastConfig, Vip, VipDevice, VipDeviceKind,
    VrrpVersion,
};
use super::validate::RawInstance;
use super::wire_options::{ChecksumAccept, Dscp, LowerPriorityMaster, V3Ipv4ChecksumForm};
use crate::family::Family;

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
    /// VIPs found in place at startup: kept (warm start) or removed.
    #[serde(skip_serializing_if = "FoundVips::is_default")]
    pub found_vips: FoundVips,
    /// What `auth_pass` is used for: the cleartext password (keepalived
    /// `auth_type PASS`) or the key of an IPsec AH header (`auth_type AH`).
    #[serde(skip_serializing_if = "AuthType::is_pass")]
    pub auth_type: AuthType,
    /// VRRPv2 password (RFC 2338 5.3.6), 1-8 characters.
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
    /// Trackers this instance follows (see `health.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<TrackUse>,
    #[serde(skip_serializing_if = "NotifyConfig::is_empty")]
    pub notify: NotifyConfig,
    /// systemd units started on MASTER and stopped on leaving it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    // Wire variants (issue 11; docs/wire-variants.md).
    /// The VRRPv3-over-IPv4 checksum form sent.
    #[serde(skip_serializing_if = "V3Ipv4ChecksumForm::is_default")]
    pub v3_ipv4_checksum: V3Ipv4ChecksumForm,
    /// The forms accepted on receive.
    #[serde(skip_serializing_if = "ChecksumAccept::is_default")]
    pub v3_ipv4_checksum_accept: ChecksumAccept,
    /// DSCP of the adverts sent.
    #[serde(skip_serializing_if = "Dscp::is_default")]
    pub dscp: Dscp,
    /// A master's answer to a lower-priority master's advert.
    #[serde(skip_serializing_if = "LowerPriorityMaster::is_default")]
    pub lower_priority_master: LowerPriorityMaster,
}

/// Read as a [`RawInstance`], then checked by the instance rules; serde
/// places their errors at the instance's mapping.
impl<'de> Deserialize<'de> for InstanceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawInstance::deserialize(d)?;
        let name = raw.name.clone();
        InstanceConfig::try_from(raw).map_err(|e| de::Error::custom(e.in_instance(&name)))
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

    /// The AH key when the instance authenticates with AH (VRRPv2 only).
    pub fn ah_key(&self) -> Option<crate::wire::ah::AhKey> {
        match (&self.version, self.auth_type, &self.auth_pass) {
            (VrrpVersion::V2, AuthType::Ah, Some(p)) => {
                Some(crate::wire::ah::AhKey::from_password(p))
            }
            _ => None,
        }
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

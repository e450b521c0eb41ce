//! The YAML configuration: schema, defaults and validation.
//!
//! Every field-level check runs inside a serde visitor, so serde_norway
//! attaches the exact line and column of the offending value to the error.
//! Checks that relate several fields of one instance, and checks across
//! instances (which name both), point at the key they are about in the
//! instance concerned (`check`, which also finds every error of a file in
//! one run). Unknown keys are rejected everywhere.
//!
//! Layout: `check` (every error of a file, placed and explained), `types` (the value types and their field-level checks),
//! `duration_text` (durations as written), `instance` ([`InstanceConfig`]
//! and what the daemon asks of it), `validate` (the instance as written,
//! [`RawInstance`], and the rules that turn it into an [`InstanceConfig`]:
//! one function per rule, shared with the keepalived importer, which builds
//! a `RawInstance` in code instead of reading YAML).

use std::path::Path;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

mod check;
pub mod duration_text;
mod health;
mod instance;
mod locate;
pub mod metrics;
mod read;
pub mod reference;
pub(crate) mod types;
mod validate;
pub mod wire_options;

#[cfg(test)]
mod tests;

pub use check::{instance_field_location, nearest};
pub use health::{
    Command, DEFAULT_NOTIFY_TIMEOUT, GroupConfig, Groups, NotifyConfig, OnTimeout, ProcessMatch,
    TrackUse, TrackerConfig, TrackerKind, Trackers, unit_name,
};
pub use instance::InstanceConfig;
pub use metrics::{Exposure, MetricsConfig};
pub use read::{MAX_CONFIG_BYTES, MAX_NESTING, check_nesting, read_config_text};
pub use types::{
    AuthType, FoundVips, GarpConfig, InitialState, UnicastConfig, Vip, VipDevice, VipDeviceKind,
    VrrpVersion, check_ifname, parse_cidr,
};
pub use validate::{Place, RawInstance, RuleError, validate_health, validate_instances};
pub use wire_options::{ChecksumAccept, Dscp, LowerPriorityMaster, V3Ipv4ChecksumForm};

/// Where the daemon reads its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/vipd/vipd.yaml";

/// A configuration error, located in its file so an operator can fix it.
pub type ConfigError = crate::diagnostic::Diagnostic;

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
    /// The user exec trackers and notify hooks run as (default: `vipd-script`
    /// where it exists, else `nobody`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_user: Option<String>,
    #[serde(default, skip_serializing_if = "Trackers::is_empty")]
    pub trackers: Trackers,
    #[serde(default, skip_serializing_if = "Groups::is_empty")]
    pub groups: Groups,
    /// The Prometheus listener; None (the key absent): nothing listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
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
    /// Reads and validates a configuration file: a regular file only, of at
    /// most [`MAX_CONFIG_BYTES`], nested at most [`MAX_NESTING`] levels
    /// (see `read`). Blocking file I/O and CPU: the daemon calls it off its
    /// event loop.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::parse(&Config::read_text(path)?, path)
    }

    /// The text of a configuration file, for [`Config::parse_all`]: a
    /// regular file within the size limit (read.rs).
    pub fn read_text(path: &Path) -> Result<String, ConfigError> {
        read_config_text(path)
    }

    /// Parses and validates configuration text; `path` is only used in
    /// errors. Several errors come as one: the first, its message followed
    /// by the others, one a line, and their count.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_all(text, path).map_err(|errors| {
            let mut first = errors[0].clone();
            if errors.len() > 1 {
                for e in &errors[1..] {
                    first.message.push_str(&format!("\n{e}"));
                }
                first
                    .message
                    .push_str(&format!("\n{} errors", errors.len()));
            }
            first
        })
    }

    /// Parses and validates configuration text: every error, sorted by
    /// position (never an empty list). The nesting is checked first, so no
    /// text costs the YAML scanner more than linear time in its size.
    pub fn parse_all(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        check_nesting(text, path).map_err(|e| vec![e])?;
        check::parse_all(text, path)
    }

    /// Renders the configuration as YAML (`vipctl import-keepalived` prints
    /// it); it always parses back to the same configuration.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// The instances list, not empty. The rules across instances run once the
/// file is read ([`check::parse_all`]), so that they point at the instance
/// they blame, not at the `instances` key.
fn deserialize_instances<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<InstanceConfig>, D::Error> {
    let list = Vec::<InstanceConfig>::deserialize(d)?;
    if list.is_empty() {
        validate_instances(&list).map_err(de::Error::custom)?;
    }
    Ok(list)
}

//! The instance as written ([`RawInstance`]) and the rules that make it an
//! [`InstanceConfig`]: one function per rule, run in a fixed order so the
//! first broken rule is the one reported (or all of them, in that order, for
//! `vipctl check`: [`instance_rule_errors`], [`instance_conflicts`],
//! [`health_errors`]). Each rule says which YAML key it is
//! about ([`RuleError::field`]): a configuration file reports the message at
//! the instance, the keepalived importer at the instance it translated.
//!
//! Layout: `raw` (the instance as written and its field-level ranges),
//! `instance_rules` (the rules of one instance and the one validator,
//! `InstanceConfig::try_from`), `across` (the rules between instances),
//! `health` (trackers, groups and their uses, across the whole file).

use std::fmt;

mod across;
mod health;
mod instance_rules;
mod raw;

pub use across::{instance_conflicts, validate_instances};
pub use health::{Place, health_errors, validate_health};
pub use instance_rules::instance_rule_errors;
pub use raw::RawInstance;

/// A broken rule: what is wrong and how to fix it, and the YAML key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The key the rule is about, as written in YAML (`"advert_interval"`,
    /// `"unicast.peers"`, `"vips"`), so a translator can point at whatever
    /// set it.
    pub field: &'static str,
    /// The message, without the instance's name: instance rules are reported
    /// in the instance's context ([`RuleError::in_instance`]); messages of the
    /// rules across instances name the instances themselves.
    pub message: String,
}

impl RuleError {
    fn new(field: &'static str, message: impl Into<String>) -> RuleError {
        RuleError {
            field,
            message: message.into(),
        }
    }

    /// The message as a configuration file reports it: `instance "NAME":
    /// MESSAGE`. A rejected name is not repeated as context: the message
    /// quotes it.
    pub fn in_instance(&self, name: &str) -> String {
        if self.field == "name" {
            self.message.clone()
        } else {
            format!("instance {name:?}: {}", self.message)
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

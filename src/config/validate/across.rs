//! The rules between the instances of one file, one function each.

use super::RuleError;
use crate::config::InstanceConfig;

/// A rule between one instance and the instances listed before it.
type AcrossRule = fn(earlier: &[InstanceConfig], this: &InstanceConfig) -> Result<(), RuleError>;

/// In the order they are checked, instance by instance.
const ACROSS_RULES: &[AcrossRule] = &[name_is_unique, vrid_is_unique, vip_device_is_unique];

/// The rules across instances. Each instance is checked against the ones
/// before it, so the later of two conflicting instances is the one blamed.
pub fn validate_instances(list: &[InstanceConfig]) -> Result<(), RuleError> {
    if list.is_empty() {
        return Err(RuleError::new(
            "instances",
            "instances is empty: configure at least one instance",
        ));
    }
    for (i, this) in list.iter().enumerate() {
        for rule in ACROSS_RULES {
            rule(&list[..i], this)?;
        }
    }
    Ok(())
}

/// Every rule broken across instances, with the index of the instance blamed
/// (the later of two), for `vipctl check`, which reports them all at once.
pub fn instance_conflicts(list: &[InstanceConfig]) -> Vec<(usize, RuleError)> {
    let mut out = Vec::new();
    for (i, this) in list.iter().enumerate() {
        for rule in ACROSS_RULES {
            if let Err(e) = rule(&list[..i], this) {
                out.push((i, e));
            }
        }
    }
    out
}

fn name_is_unique(earlier: &[InstanceConfig], this: &InstanceConfig) -> Result<(), RuleError> {
    if let Some(j) = earlier.iter().position(|o| o.name == this.name) {
        return Err(RuleError::new(
            "name",
            format!(
                "instances[{}]: name {:?} is already used by instances[{j}]: names must be unique",
                earlier.len(),
                this.name
            ),
        ));
    }
    Ok(())
}

/// VRIDs are per interface and per address family (RFC 5798 5.2.3, 7.3).
fn vrid_is_unique(earlier: &[InstanceConfig], this: &InstanceConfig) -> Result<(), RuleError> {
    for fam in this.families() {
        if let Some(other) = earlier
            .iter()
            .find(|o| o.interface == this.interface && o.vrid == this.vrid && o.advertises(fam))
        {
            return Err(RuleError::new(
                "vrid",
                format!(
                    "instances {:?} and {:?} both use vrid {} for {fam} on {}: give one of them another vrid",
                    other.name, this.name, this.vrid, this.interface
                ),
            ));
        }
    }
    Ok(())
}

fn vip_device_is_unique(
    earlier: &[InstanceConfig],
    this: &InstanceConfig,
) -> Result<(), RuleError> {
    if let Some(dev) = this.vip_device_name()
        && let Some(other) = earlier
            .iter()
            .find(|o| o.vip_device_name().as_deref() == Some(dev.as_str()))
    {
        return Err(RuleError::new(
            "vip_device",
            format!(
                "instances {:?} and {:?} both use VIP device {dev}: name them apart with vip_device.name",
                other.name, this.name
            ),
        ));
    }
    Ok(())
}

//! The rules of service health across the file: trackers named by an
//! instance or a group exist, weights fit the instance, and a group's
//! members can move together. Each error says where it belongs
//! ([`Place`]), so the file's error points at that instance or group.

use std::collections::BTreeMap;

use super::RuleError;
use crate::config::{Config, GroupConfig, InstanceConfig, TrackUse};
use crate::health::Effect;

/// Where in the file a rule's error belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Instance(String),
    Group(String),
    /// A top-level key.
    Key(&'static str),
}

type Broken = (Place, RuleError);

/// The rules of health across the file, in order; the first broken one.
pub fn validate_health(c: &Config) -> Result<(), Broken> {
    match health_errors(c).into_iter().next() {
        Some(b) => Err(b),
        None => Ok(()),
    }
}

/// Every broken rule of health across the file, in the rules' order, for
/// `vipctl check`, which reports them all at once.
pub fn health_errors(c: &Config) -> Vec<Broken> {
    let mut out = Vec::new();
    let mut keep = |r: Result<(), Broken>| {
        if let Err(b) = r {
            out.push(b);
        }
    };
    keep(script_user_is_a_name(c));
    for inst in &c.instances {
        keep(uses_exist(
            c,
            Place::Instance(inst.name.clone()),
            &inst.track,
        ));
        keep(owner_has_no_weights(c, inst));
    }
    let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, g) in &c.groups {
        let place = || Place::Group(name.clone());
        keep(uses_exist(c, place(), &g.track));
        let members = match members_exist(c, name, g) {
            Ok(m) => m,
            Err(b) => {
                keep(Err(b));
                continue;
            }
        };
        let mut shared = false;
        for m in &members {
            if let Some(other) = member_of.insert(&m.name, name) {
                shared = true;
                keep(Err((
                    place(),
                    RuleError::new(
                        "groups",
                        format!(
                            "instance {:?} is in groups {other:?} and {name:?}: an instance follows one group",
                            m.name
                        ),
                    ),
                )));
            }
        }
        if shared {
            continue;
        }
        keep(members_agree(name, &members));
        keep(one_weight_per_tracker(c, name, g, &members));
    }
    out
}

/// ` (did you mean "X"?)` when a valid name is near `name`, else nothing.
fn did_you_mean<'a>(name: &str, valid: impl Iterator<Item = &'a str>) -> String {
    let valid: Vec<&str> = valid.collect();
    crate::config::nearest(name, &valid)
        .map(|n| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default()
}

fn script_user_is_a_name(c: &Config) -> Result<(), Broken> {
    match &c.script_user {
        Some(u) if u.is_empty() || u.contains(['/', ':']) || u.chars().any(char::is_whitespace) => {
            Err((
                Place::Key("script_user"),
                RuleError::new(
                    "script_user",
                    format!("script_user {u:?} is not a user name"),
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn uses_exist(c: &Config, place: Place, uses: &[TrackUse]) -> Result<(), Broken> {
    for u in uses {
        if !c.trackers.contains_key(&u.tracker) {
            let known: Vec<&str> = c.trackers.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                "there is no trackers: section".to_string()
            } else {
                format!("the trackers are {}", known.join(", "))
            };
            return Err((
                place,
                RuleError::new(
                    "track",
                    format!(
                        "track: no tracker is named {:?}{} ({hint})",
                        u.tracker,
                        did_you_mean(&u.tracker, c.trackers.keys().map(String::as_str))
                    ),
                ),
            ));
        }
    }
    Ok(())
}

/// The address owner's priority is 255 and never moves (RFC 5798 6.4.1).
fn owner_has_no_weights(c: &Config, inst: &InstanceConfig) -> Result<(), Broken> {
    if inst.priority != 255 {
        return Ok(());
    }
    let weighted = inst.track.iter().find(|u| {
        c.trackers
            .get(&u.tracker)
            .is_some_and(|t| !matches!(u.effect(t), Effect::Fault))
    });
    match weighted {
        Some(u) => Err((
            Place::Instance(inst.name.clone()),
            RuleError::new(
                "track",
                format!(
                    "tracker {:?} has a weight, but priority 255 (the address owner) never moves: track it without a weight (FAULT) or lower the priority",
                    u.tracker
                ),
            ),
        )),
        None => Ok(()),
    }
}

fn members_exist<'a>(
    c: &'a Config,
    name: &str,
    g: &GroupConfig,
) -> Result<Vec<&'a InstanceConfig>, Broken> {
    let place = || Place::Group(name.to_string());
    if g.instances.is_empty() {
        return Err((
            place(),
            RuleError::new("instances", format!("group {name:?} has no instances")),
        ));
    }
    g.instances
        .iter()
        .map(|m| {
            c.instances.iter().find(|i| &i.name == m).ok_or_else(|| {
                (
                    place(),
                    RuleError::new(
                        "instances",
                        format!(
                            "group {name:?}: there is no instance named {m:?}{}",
                            did_you_mean(m, c.instances.iter().map(|i| i.name.as_str()))
                        ),
                    ),
                )
            })
        })
        .collect()
}

/// Members take their decisions from the same numbers, or they cannot be
/// MASTER together.
fn members_agree(name: &str, members: &[&InstanceConfig]) -> Result<(), Broken> {
    let first = members[0];
    for m in &members[1..] {
        let differs = [
            ("priority", first.priority != m.priority),
            ("preempt", first.preempt != m.preempt),
            ("preempt_delay", first.preempt_delay != m.preempt_delay),
        ]
        .into_iter()
        .find(|(_, d)| *d);
        if let Some((key, _)) = differs {
            return Err((
                Place::Group(name.to_string()),
                RuleError::new(
                    "instances",
                    format!(
                        "group {name:?}: {:?} and {:?} have different {key}: members move together, so give them the same {key} (on every router, in the same order)",
                        first.name, m.name
                    ),
                ),
            ));
        }
    }
    Ok(())
}

/// In a group a tracker counts once for every member: one weight.
fn one_weight_per_tracker(
    c: &Config,
    name: &str,
    g: &GroupConfig,
    members: &[&InstanceConfig],
) -> Result<(), Broken> {
    let mut seen: BTreeMap<&str, Effect> = BTreeMap::new();
    let uses = g
        .track
        .iter()
        .chain(members.iter().flat_map(|m| m.track.iter()));
    for u in uses {
        let Some(t) = c.trackers.get(&u.tracker) else {
            continue;
        };
        let effect = u.effect(t);
        if let Some(before) = seen.insert(&u.tracker, effect)
            && before != effect
        {
            return Err((
                Place::Group(name.to_string()),
                RuleError::new(
                    "track",
                    format!(
                        "group {name:?}: tracker {:?} is used with two weights; in a group a tracker counts once for every member: give it one weight",
                        u.tracker
                    ),
                ),
            ));
        }
    }
    Ok(())
}

//! Notify hooks and the `units:` shortcut, sans I/O: what a state change of
//! an instance or a group runs, with which environment, and how a target's
//! waiting events are bounded. (Not systemd's sd_notify: that is
//! `crate::io::notify`.)
//!
//! The daemon (`daemon/hooks.rs`) turns each state change into a [`Job`]
//! and runs the jobs of one target one after the other, in event order, off
//! the protocol's loop; `group` decides a group's state from its members',
//! `plan` which steps an event runs and the bound on waiting events.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::vrrp::{Reason, State};

mod group;
mod plan;

pub use group::{group_state, next_group_state};
pub use plan::{MAX_PENDING, Pending, Step, steps};

/// The states hooks run for. STOP is the end of an instance (its shutdown,
/// on SIGTERM or removed by a reload) or of a group (its last member
/// stopped); INIT runs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HookState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl HookState {
    /// What an instance's transition to `to` is for hooks: None for a
    /// transition to INIT other than a shutdown (the router has none today).
    pub fn of_instance(to: State, reason: Reason) -> Option<HookState> {
        match to {
            State::Master => Some(HookState::Master),
            State::Backup => Some(HookState::Backup),
            State::Fault => Some(HookState::Fault),
            State::Initialize if reason == Reason::Shutdown => Some(HookState::Stop),
            State::Initialize => None,
        }
    }

    /// The `notify:` key of the command specific to this state.
    pub fn key(self) -> &'static str {
        match self {
            HookState::Master => "master",
            HookState::Backup => "backup",
            HookState::Fault => "fault",
            HookState::Stop => "stop",
        }
    }
}

impl fmt::Display for HookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookState::Master => "MASTER",
            HookState::Backup => "BACKUP",
            HookState::Fault => "FAULT",
            HookState::Stop => "STOP",
        })
    }
}

/// Whose hooks: an instance's or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Instance,
    Group,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Instance => "instance",
            TargetKind::Group => "group",
        })
    }
}

/// An instance or a group, by name: one queue, one pair of counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub kind: TargetKind,
    pub name: String,
}

impl Target {
    pub fn instance(name: &str) -> Target {
        Target {
            kind: TargetKind::Instance,
            name: name.to_string(),
        }
    }

    pub fn group(name: &str) -> Target {
        Target {
            kind: TargetKind::Group,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What hooks are told about a change besides the states: the same for an
/// instance and for the group it moves (but the VIPs and the number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub reason: Reason,
    /// Configured priority (a group's members share one).
    pub priority: u8,
    pub effective_priority: u8,
    /// The advertised VIPs as `vipctl status` shows them (a group: every
    /// member's).
    pub vips: Vec<String>,
    /// The master's address when known.
    pub master: Option<IpAddr>,
    /// The event's sequence number in the event stream (`vipctl watch`).
    pub seq: u64,
}

/// One state change, as a target's hooks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    pub target: Target,
    pub state: HookState,
    /// The state before: an instance's (`INIT` at start-up), a group's
    /// (`INIT` before its first state).
    pub previous: String,
    pub facts: Facts,
}

impl HookEvent {
    /// The `VIPD_*` variables a hook gets (docs/configuration.md has the table).
    pub fn env(&self) -> Vec<(String, String)> {
        let f = &self.facts;
        [
            ("VIPD_KIND", self.target.kind.to_string()),
            ("VIPD_NAME", self.target.name.clone()),
            ("VIPD_STATE", self.state.to_string()),
            ("VIPD_PREVIOUS", self.previous.clone()),
            ("VIPD_REASON", f.reason.to_string()),
            ("VIPD_PRIORITY", f.priority.to_string()),
            ("VIPD_EFFECTIVE_PRIORITY", f.effective_priority.to_string()),
            ("VIPD_VIPS", f.vips.join(" ")),
            (
                "VIPD_MASTER",
                f.master.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("VIPD_SEQ", f.seq.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_states_for_hooks() {
        use HookState::*;
        let of = HookState::of_instance;
        assert_eq!(of(State::Master, Reason::MasterDown), Some(Master));
        assert_eq!(of(State::Backup, Reason::Startup), Some(Backup));
        assert_eq!(of(State::Fault, Reason::HealthFault), Some(Fault));
        assert_eq!(of(State::Initialize, Reason::Shutdown), Some(Stop));
        assert_eq!(of(State::Initialize, Reason::Startup), None);
    }

    #[test]
    fn environment_names_every_field() {
        let ev = HookEvent {
            target: Target::instance("web"),
            state: HookState::Master,
            previous: "BACKUP".into(),
            facts: Facts {
                reason: Reason::MasterDown,
                priority: 150,
                effective_priority: 90,
                vips: vec!["192.0.2.10/24".into(), "2001:db8::10/64".into()],
                master: Some("192.0.2.1".parse().unwrap()),
                seq: 7,
            },
        };
        let env: Vec<String> = ev.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            [
                "VIPD_KIND=instance",
                "VIPD_NAME=web",
                "VIPD_STATE=MASTER",
                "VIPD_PREVIOUS=BACKUP",
                "VIPD_REASON=master_down",
                "VIPD_PRIORITY=150",
                "VIPD_EFFECTIVE_PRIORITY=90",
                "VIPD_VIPS=192.0.2.10/24 2001:db8::10/64",
                "VIPD_MASTER=192.0.2.1",
                "VIPD_SEQ=7",
            ]
        );
        let mut group = HookEvent {
            target: Target::group("lb"),
            ..ev
        };
        group.facts.master = None;
        let env = group.env();
        assert!(env.contains(&("VIPD_KIND".into(), "group".into())));
        assert!(env.contains(&("VIPD_MASTER".into(), String::new())));
    }
}

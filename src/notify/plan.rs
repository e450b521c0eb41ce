//! What one event runs, in which order, and how many events may wait.

use std::collections::VecDeque;

use super::HookState;
use crate::config::{Command, NotifyConfig};

/// One thing an event runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `systemctl start` (systemd's StartUnit) of a `units:` entry.
    StartUnit(String),
    /// `systemctl stop` of a `units:` entry.
    StopUnit(String),
    /// A `notify:` command, with its key (`master`, ..., `any`).
    Command { key: &'static str, command: Command },
}

impl Step {
    /// What the step is, as the `notify` event's `kind` says it.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::StartUnit(_) => "start_unit",
            Step::StopUnit(_) => "stop_unit",
            Step::Command { key, .. } => key,
        }
    }

    /// The unit or the command line, for logs and the event stream.
    pub fn what(&self) -> String {
        match self {
            Step::StartUnit(u) | Step::StopUnit(u) => u.clone(),
            Step::Command { command, .. } => command.to_string(),
        }
    }
}

/// The steps of one state change, in order: the units first (started on
/// becoming MASTER, in the order listed; stopped on leaving MASTER, in
/// reverse), so the service runs before a `master` hook says so and is
/// gone before a `backup` hook does; then the command for the new state,
/// then `any`.
pub fn steps(
    notify: &NotifyConfig,
    units: &[String],
    was_master: bool,
    state: HookState,
) -> Vec<Step> {
    let mut out = Vec::new();
    let master = state == HookState::Master;
    if master && !was_master {
        out.extend(units.iter().cloned().map(Step::StartUnit));
    } else if was_master && !master {
        out.extend(units.iter().rev().cloned().map(Step::StopUnit));
    }
    let specific = match state {
        HookState::Master => &notify.master,
        HookState::Backup => &notify.backup,
        HookState::Fault => &notify.fault,
        HookState::Stop => &notify.stop,
    };
    let commands = [(state.key(), specific), ("any", &notify.any)];
    for (key, command) in commands {
        if let Some(command) = command {
            out.push(Step::Command {
                key,
                command: command.clone(),
            });
        }
    }
    out
}

/// How many events of one target may wait while its hooks run. A hook that
/// hangs until its timeout while the instance flaps would otherwise pile
/// up events without end; past this, the oldest waiting ones are dropped
/// (the newest state is the one that matters).
pub const MAX_PENDING: usize = 64;

/// The events waiting for one target's queue, oldest first.
#[derive(Debug, Clone)]
pub struct Pending<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T> Pending<T> {
    /// At most `cap` (at least one) waiting.
    pub fn new(cap: usize) -> Pending<T> {
        Pending {
            items: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Adds `item` after the others; returns the oldest ones dropped to
    /// keep at most the cap waiting (empty almost always).
    pub fn push(&mut self, item: T) -> Vec<T> {
        self.items.push_back(item);
        let over = self.items.len().saturating_sub(self.cap);
        self.items.drain(..over).collect()
    }

    /// The oldest waiting item.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(word: &str) -> Option<Command> {
        Some(Command::argv(vec![format!("/bin/{word}")]))
    }

    fn kinds(s: &[Step]) -> Vec<String> {
        s.iter()
            .map(|s| format!("{} {}", s.kind(), s.what()))
            .collect()
    }

    #[test]
    fn units_first_then_the_state_command_then_any() {
        let notify = NotifyConfig {
            master: cmd("m"),
            backup: cmd("b"),
            stop: cmd("s"),
            any: cmd("a"),
            ..NotifyConfig::default()
        };
        let units = vec!["a.service".to_string(), "b.service".to_string()];
        assert_eq!(
            kinds(&steps(&notify, &units, false, HookState::Master)),
            [
                "start_unit a.service",
                "start_unit b.service",
                "master /bin/m",
                "any /bin/a"
            ]
        );
        // Leaving MASTER: units stopped in reverse order.
        assert_eq!(
            kinds(&steps(&notify, &units, true, HookState::Backup)),
            [
                "stop_unit b.service",
                "stop_unit a.service",
                "backup /bin/b",
                "any /bin/a"
            ]
        );
        assert_eq!(
            kinds(&steps(&notify, &units, true, HookState::Stop)),
            [
                "stop_unit b.service",
                "stop_unit a.service",
                "stop /bin/s",
                "any /bin/a"
            ]
        );
        // No fault command: only any; no unit was started, none stopped.
        assert_eq!(
            kinds(&steps(&notify, &units, false, HookState::Fault)),
            ["any /bin/a"]
        );
        assert!(steps(&NotifyConfig::default(), &[], true, HookState::Backup).is_empty());
    }

    #[test]
    fn pending_keeps_order_and_drops_the_oldest_past_the_cap() {
        let mut p = Pending::new(3);
        for i in 1..=3 {
            assert!(p.push(i).is_empty());
        }
        assert_eq!(p.push(4), vec![1]);
        assert_eq!(p.len(), 3);
        assert_eq!(p.pop(), Some(2));
        assert!(p.push(5).is_empty());
        let rest: Vec<i32> = std::iter::from_fn(|| p.pop()).collect();
        assert_eq!(rest, [3, 4, 5]);
        assert!(p.is_empty());
        // The real bound: 64 wait, the 65th drops the first.
        let mut p = Pending::new(MAX_PENDING);
        let dropped: Vec<usize> = (0..MAX_PENDING + 2).flat_map(|i| p.push(i)).collect();
        assert_eq!(dropped, [0, 1]);
        assert_eq!(p.pop(), Some(2));
    }
}

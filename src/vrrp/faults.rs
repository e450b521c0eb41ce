//! FAULT and its two causes: the link (RFC 5798's interface down) and
//! health (trackers, a group in FAULT). The router is in FAULT while either
//! says so, and starts again (RFC 5798 6.4.1) when both are clear.

use super::router::Router;
use super::{Action, Reason, State, Time};

/// What keeps (or would keep) the router in FAULT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Faults {
    /// The interface is down (or gone).
    pub link: bool,
    /// Health says FAULT.
    pub health: bool,
}

impl Router {
    /// Whether health holds the router in FAULT.
    pub fn health_fault(&self) -> bool {
        self.faults.health
    }

    /// Whether the link is down (FAULT, or held by a planned bounce).
    pub fn link_fault(&self) -> bool {
        self.faults.link
    }

    pub(super) fn link_down(&mut self, now: Time, out: &mut Vec<Action>) {
        self.faults.link = true;
        match self.state {
            State::Master => {
                // Nothing can be sent on a dead link.
                out.push(Action::RemoveVips);
                self.transition(now, State::Fault, Reason::InterfaceDown, out);
            }
            State::Backup | State::Initialize => {
                self.transition(now, State::Fault, Reason::InterfaceDown, out);
            }
            State::Fault => {}
        }
    }

    pub(super) fn link_up(&mut self, now: Time, out: &mut Vec<Action>) {
        self.faults.link = false;
        if self.state == State::Fault && !self.faults.health {
            self.start(now, Reason::InterfaceUp, out);
        }
    }

    /// [`super::Event::Health`].
    pub(super) fn health(&mut self, now: Time, fault: bool, out: &mut Vec<Action>) {
        self.faults.health = fault;
        match (self.state, fault) {
            (State::Master, true) => {
                // The link is up: leave as on shutdown, so backups take
                // over in Skew_Time (RFC 5798 6.4.2) instead of waiting
                // for Master_Down_Interval.
                out.push(Action::SendAdvert { priority: 0 });
                out.push(Action::RemoveVips);
                self.transition(now, State::Fault, Reason::HealthFault, out);
            }
            (State::Backup | State::Initialize, true) => {
                self.transition(now, State::Fault, Reason::HealthFault, out);
            }
            (State::Fault, false) if !self.faults.link => {
                self.start(now, Reason::HealthRecovered, out);
            }
            _ => {}
        }
    }
}

//! Planned link bounces (`vipctl hold`, ifupdown's pre-down hook): see
//! [`Event::Hold`].

use super::router::Router;
use super::timers::Timer;
use super::{Action, Event, Reason, State, Time};

/// Where a planned bounce stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    /// No hold announced (or it lapsed).
    None,
    /// Announced and lasting until then; the link is still up.
    Armed(Time),
    /// The link went down within the hold: the state is kept, every timer
    /// is suspended, and the hold's end decides.
    HeldDown(Time),
}

impl Hold {
    /// The hold an [`Event::Hold`] asks for: an end not after `now` cancels.
    pub(super) fn armed(now: Time, until: Time) -> Hold {
        if until > now {
            Hold::Armed(until)
        } else {
            Hold::None
        }
    }

    pub(super) fn is_held_down(self) -> bool {
        matches!(self, Hold::HeldDown(_))
    }

    /// Whether a link-down at `now` falls within an announced hold.
    pub(super) fn is_active(self, now: Time) -> bool {
        matches!(self, Hold::Armed(until) if until > now)
    }

    /// Whether the hold's end has come.
    pub(super) fn has_ended(self, now: Time) -> bool {
        match self {
            Hold::Armed(until) | Hold::HeldDown(until) => until <= now,
            Hold::None => false,
        }
    }

    /// An announced hold that saw no link-down is forgotten at its end.
    pub(super) fn lapse(&mut self, now: Time) {
        if matches!(self, Hold::Armed(_)) && self.has_ended(now) {
            *self = Hold::None;
        }
    }
}

impl Router {
    /// Whether the link is down and the state kept by a hold; the hold's end.
    pub fn held_down_until(&self) -> Option<Time> {
        match self.hold {
            Hold::HeldDown(until) => Some(until),
            _ => None,
        }
    }

    /// Events while the link is down within a hold.
    pub(super) fn handle_held_down(&mut self, now: Time, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::InterfaceUp => {
                self.faults.link = false;
                self.resume(now, out);
            }
            // Taken now, acted on when the link is back.
            Event::Health { fault } => self.faults.health = fault,
            // Nothing to send on a dead link; the VIPs come back with it.
            Event::InterfaceDown | Event::Advert { .. } | Event::VipsLost => {}
            Event::Hold { until } if until > now => self.hold = Hold::HeldDown(until),
            Event::Hold { .. } => self.hold_expired(now, out),
            Event::Startup | Event::StartupWith(_) => {}
            Event::SetPriority(p) => self.set_priority(p),
            // The new values apply when the link is back (VIPs included:
            // the master re-adds them all then).
            Event::Reconfigure { params, .. } => self.adopt_params(params),
            Event::Shutdown => {
                self.hold = Hold::None;
                out.extend(self.handle(now, Event::Shutdown));
            }
        }
    }

    /// The link went down during a hold: keep the state, suspend every timer
    /// (nothing can be sent or heard without a link; a backup must not
    /// elect itself on a dead link).
    pub(super) fn suspend(&mut self) {
        if let Hold::Armed(until) = self.hold {
            self.hold = Hold::HeldDown(until);
        }
        self.timers.clear_all(&Timer::ALL);
        self.announce_left = 0;
    }

    /// The link came back within the hold: resume at once (or FAULT, when
    /// health failed meanwhile).
    fn resume(&mut self, now: Time, out: &mut Vec<Action>) {
        self.hold = Hold::None;
        if self.faults.health {
            self.health(now, true, out);
            return;
        }
        match self.state {
            State::Master => {
                // Whatever the bounce flushed comes back first, then the
                // advert (peers keep us as master) and the announcements
                // (switches relearn the virtual MAC on this port).
                out.push(Action::AddVips);
                self.advertise_now(now, out);
                self.start_announcing(now, out);
            }
            State::Backup => {
                self.timers
                    .set(Timer::MasterDown, now + self.down_interval());
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// The hold ended with the link still down: FAULT, as without a hold.
    pub(super) fn hold_expired(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::RemoveVips);
        }
        self.transition(now, State::Fault, Reason::InterfaceDown, out);
    }
}

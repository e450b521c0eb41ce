//! Hitless reload: new settings applied to a running router (see
//! [`Event::Reconfigure`]).
//!
//! keepalived restarts an instance on a reload that changes it: the master
//! sends a priority-0 advert, a backup takes over, and the master preempts
//! back (two role changes for a one-number edit). Here a master stays
//! master through any change the driver does not restart it for (version,
//! VRID, interface, address families, VIP device), and the new values take
//! effect at once.

use super::router::Router;
use super::timers::Timer;
use super::{Action, Params, Reason, State, Time};
use crate::config::VrrpVersion;

impl Router {
    /// Takes new settings without acting on them: the base priority, the
    /// timers' inputs and the announcement plan.
    pub(super) fn adopt_params(&mut self, params: Params) {
        let priority_changed = params.priority != self.params.priority;
        self.params = params;
        if priority_changed {
            self.set_priority(self.params.priority);
        }
        if !self.params.preempt {
            self.timers.clear(Timer::Preempt);
        }
    }

    pub(super) fn reconfigure(
        &mut self,
        now: Time,
        params: Params,
        vips_changed: bool,
        out: &mut Vec<Action>,
    ) {
        let old = self.params.clone();
        self.adopt_params(params);
        let priority_changed = old.priority != self.params.priority;
        let interval_changed = old.advert_interval != self.params.advert_interval;
        match self.state {
            State::Master => {
                if interval_changed {
                    self.master_adver_interval = self.params.advert_interval;
                }
                if vips_changed {
                    out.push(Action::AddVips);
                }
                // What peers see changed: tell them now, not an interval later
                // (a v3 backup adopts the new interval from this advert).
                if priority_changed || interval_changed || vips_changed {
                    self.advertise_now(now, out);
                }
                if vips_changed {
                    self.announce_burst(now, out);
                }
                if old.announce.refresh != self.params.announce.refresh {
                    let refresh = self.params.announce.refresh;
                    self.timers
                        .set_opt(Timer::Refresh, (!refresh.is_zero()).then(|| now + refresh));
                }
            }
            State::Backup if self.priority == 255 => {
                // Now the address owner (RFC 5798 6.4.1): master at once.
                self.become_master(now, Reason::AddressOwner, out);
            }
            State::Backup => {
                // The Master_Down_Interval counts in our own interval in v2,
                // and in v3 until a master told us its own.
                let own_interval =
                    self.params.version == VrrpVersion::V2 || self.master_addr.is_none();
                if interval_changed && own_interval {
                    self.master_adver_interval = self.params.advert_interval;
                    if self.timers.get(Timer::MasterDown).is_some() {
                        self.timers
                            .set(Timer::MasterDown, now + self.down_interval());
                    }
                }
            }
            State::Initialize | State::Fault => {
                self.master_adver_interval = self.params.advert_interval;
            }
        }
    }
}

//! RFC 5798 6.4.2 and 6.4.3, "If an ADVERTISEMENT is received": what a
//! backup and a master do with a validated advert of their VRID.

use std::net::IpAddr;

use super::params::field_to_interval;
use super::router::Router;
use super::timers::Timer;
use super::{Action, Reason, State, Time};
use crate::config::LowerPriorityMaster;
use crate::config::VrrpVersion;

/// Compares two addresses as unsigned integers in network byte order
/// (RFC 5798 6.4.3 tie-break). Addresses of different families never win.
fn sender_wins_tie(sender: IpAddr, local: Option<IpAddr>) -> bool {
    match (sender, local) {
        (IpAddr::V4(s), Some(IpAddr::V4(l))) => s.octets() > l.octets(),
        (IpAddr::V6(s), Some(IpAddr::V6(l))) => s.octets() > l.octets(),
        // We do not know our own address of that family: the sender's is
        // greater than "nothing", so it keeps mastership (no split brain).
        _ => true,
    }
}

impl Router {
    /// RFC 5798 6.4.2, "If an ADVERTISEMENT is received".
    pub(super) fn backup_advert(&mut self, now: Time, src: IpAddr, priority: u8, field: u16) {
        if priority == 0 {
            // The master is leaving: take over after Skew_Time only.
            self.timers.set(Timer::MasterDown, now + self.skew());
            self.master_priority = Some(0);
            self.master_addr = Some(src);
            return;
        }
        let lower = priority < self.priority;
        if !self.params.preempt || !lower {
            self.accept_master(now, src, priority, field);
            return;
        }
        // Preempt is on and the sender has a lower priority.
        if self.params.preempt_delay.is_zero() {
            // RFC: discard; the Master_Down_Timer then makes us master.
            self.master_addr = Some(src);
            self.master_priority = Some(priority);
            return;
        }
        // preempt_delay (keepalived): tolerate the lower master for this long
        // after first seeing it, then take over at once.
        match self.timers.get(Timer::Preempt) {
            None => {
                self.timers
                    .set(Timer::Preempt, now + self.params.preempt_delay);
                self.accept_master(now, src, priority, field);
            }
            Some(at) if now < at => self.accept_master(now, src, priority, field),
            Some(_) => {}
        }
    }

    fn accept_master(&mut self, now: Time, src: IpAddr, priority: u8, field: u16) {
        if self.params.version == VrrpVersion::V3 {
            // RFC 5798 6.4.2: adopt the master's advertisement interval.
            self.master_adver_interval = field_to_interval(VrrpVersion::V3, field);
        }
        self.master_addr = Some(src);
        self.master_priority = Some(priority);
        self.timers
            .set(Timer::MasterDown, now + self.down_interval());
    }

    /// RFC 5798 6.4.3, "If an ADVERTISEMENT is received".
    pub(super) fn master_advert(
        &mut self,
        now: Time,
        src: IpAddr,
        priority: u8,
        field: u16,
        out: &mut Vec<Action>,
    ) {
        if priority == 0 {
            // Another router is leaving: answer at once so backups do not
            // take over in Skew_Time.
            self.advertise_now(now, out);
            return;
        }
        let higher = priority > self.priority
            || (priority == self.priority && sender_wins_tie(src, self.local_address_for(src)));
        if !higher {
            self.lower_master_heard(now, src, priority, out);
            return;
        }
        out.push(Action::RemoveVips);
        self.transition(now, State::Backup, Reason::HigherPriorityMaster, out);
        // As a backup hearing it (RFC 5798 6.4.3 repeats 6.4.2's steps).
        self.accept_master(now, src, priority, field);
    }

    /// RFC 5798 6.4.3 lets a master discard an advert of lower priority;
    /// but only a master sends adverts, so hearing one is a split brain
    /// (a healed partition, a one-way link). With
    /// [`LowerPriorityMaster::Reassert`] the master advertises at once,
    /// so the other steps down now instead of at our next interval, and
    /// announces its VIPs again once per episode, so switches and
    /// neighbours that learnt the other master's port relearn ours.
    fn lower_master_heard(&mut self, now: Time, src: IpAddr, priority: u8, out: &mut Vec<Action>) {
        let new_episode = self
            .dual_master_heard
            .is_none_or(|at| now - at > self.down_interval());
        self.dual_master_heard = Some(now);
        if new_episode {
            out.push(Action::DualMaster {
                peer: src,
                peer_priority: priority,
            });
        }
        if self.params.lower_priority_master == LowerPriorityMaster::Reassert {
            self.advertise_now(now, out);
            if new_episode {
                self.announce_burst(now, out);
                // Once more an advert interval later: the other's own
                // takeover burst can reach the LAN after ours (it adds the
                // VIPs before it announces them; tests/soak.rs saw a resumed
                // backup do so), and by then it has heard us and stopped.
                self.timers
                    .set(Timer::SecondBurst, now + self.params.advert_interval);
            }
        }
    }
}

//! RFC 5798 6.4.2 and 6.4.3, "If an ADVERTISEMENT is received": what a
//! backup and a master do with a validated advert of their VRID.

use std::net::IpAddr;

use super::params::field_to_interval;
use super::router::Router;
use super::timers::Timer;
use super::{Action, Reason, State, Time};
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
            // RFC 5798 6.4.3 says discard. But a lower-priority router that
            // advertises believes it is master (it could not hear us: this
            // daemon was stopped, or a partition healed) and has announced
            // the VIPs at its own MAC, so the LAN's neighbour caches point
            // at a router that is about to drop them. As keepalived does
            // (vrrp_state_master_rx: an advert and a gratuitous ARP/NA
            // burst), answer at once, so the sender steps down within a
            // packet's time, and announce the VIPs again. tests/soak.rs
            // found the observer cut off for seconds without this. Once
            // more one advert interval later: the sender's own takeover
            // burst can reach the LAN after ours (it adds the VIPs before
            // it announces them), and by then it has heard us and stopped.
            self.advertise_now(now, out);
            self.announce_burst(now, out);
            self.timers
                .set(Timer::SecondBurst, now + self.params.advert_interval);
            return;
        }
        out.push(Action::RemoveVips);
        self.transition(now, State::Backup, Reason::HigherPriorityMaster, out);
        // As a backup hearing it (RFC 5798 6.4.3 repeats 6.4.2's steps).
        self.accept_master(now, src, priority, field);
    }
}

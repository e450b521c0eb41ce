//! The VRRP state machine (RFC 5798 section 6, RFC 3768 section 6), sans I/O.
//!
//! A [`Router`] is one virtual router. It owns no socket, no clock and no
//! task: the driver feeds it [`Event`]s with the current [`Time`], asks
//! [`Router::poll_at`] when it next needs to run, and carries out the
//! [`Action`]s it returns. That keeps every timer and transition testable
//! with virtual time, exactly against the RFC's state tables (and the
//! simulated wire of N routers in `sim`, for tests).
//!
//! One instance may carry VIPs of both address families. It then runs one
//! state machine ("one fate") and the driver sends one advert per family;
//! adverts received in either family drive the same machine. The tie-break
//! on equal priority compares the sender with our own primary address of
//! the advert's family (RFC 5798 6.4.3).
//!
//! # Calling contract
//!
//! - `now` is monotonic: each call passes a time not earlier than the
//!   previous call's. A `now` earlier than one already seen is taken as
//!   the latest one seen (no timer runs backwards, nothing panics).
//! - Call [`Router::handle_timeout`] at or after [`Router::poll_at`]. A
//!   call when nothing is due (a spurious or early wakeup) does nothing and
//!   returns no action; a late call fires what is due, and the advert
//!   schedule keeps its phase (the next deadline is counted from the missed
//!   one, not from the late wakeup).
//! - [`Router::poll_at`] may change after every call: ask again each time.
//! - Carry out the returned actions in order (VIPs before the
//!   announcements that advertise them).
//!
//! Layout: `params` (configuration and the RFC's timer formulas), `time`
//! (the [`Time`] point type), `timers` (the timer table), `router` (the
//! state table and the timers' expiry), `received` (adverts heard as backup
//! and as master), `hold` (planned link bounces), `reconfigure` (in-place
//! reload).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

mod faults;
mod hold;
mod params;
mod received;
mod reconfigure;
mod router;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;
mod time;
mod timers;

pub use params::{
    ADVERT_SLOTS, AnnouncePlan, Params, field_to_interval, interval_to_field, master_down_interval,
    next_advert_at, skew_time,
};
pub use router::Router;
pub use time::Time;
pub use timers::Timer;

/// RFC 5798 section 6.4 states, plus FAULT (the interface is down), as
/// keepalived reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    #[serde(rename = "INIT")]
    Initialize,
    Backup,
    Master,
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// Why the machine changed state; shown in logs and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Startup,
    AddressOwner,
    InitialStateMaster,
    MasterDown,
    PriorityZeroSeen,
    Preempted,
    PreemptDelayElapsed,
    HigherPriorityMaster,
    InterfaceDown,
    InterfaceUp,
    /// A tracker without a weight failed (or the instance's group is in FAULT).
    HealthFault,
    /// Health is back (and the link is up).
    HealthRecovered,
    /// Started with every VIP found in place (a vipd restarted after an
    /// unclean death): master at once, nothing removed.
    WarmStart,
    Shutdown,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Startup => "startup",
            Reason::AddressOwner => "address_owner",
            Reason::InitialStateMaster => "initial_state_master",
            Reason::MasterDown => "master_down",
            Reason::PriorityZeroSeen => "priority_zero_seen",
            Reason::Preempted => "preempted",
            Reason::PreemptDelayElapsed => "preempt_delay_elapsed",
            Reason::HigherPriorityMaster => "higher_priority_master",
            Reason::InterfaceDown => "interface_down",
            Reason::InterfaceUp => "interface_up",
            Reason::HealthFault => "health_fault",
            Reason::HealthRecovered => "health_recovered",
            Reason::WarmStart => "warm_start",
            Reason::Shutdown => "shutdown",
        })
    }
}

/// What the driver found on the host before starting an instance: the
/// input of [`Event::StartupWith`]. The driver only observes; what to do
/// with it is the router's decision (docs/restart.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// None of the instance's VIPs (advertised or excluded) is on the host.
    Nothing,
    /// Every VIP is in place exactly as this configuration puts it: on its
    /// device, with its prefix length, and the VIP device (if any) is one
    /// vipd would make (MACVLAN with the RFC virtual MAC). Only a vipd
    /// that was master a moment ago leaves that behind (or another daemon
    /// holding the same VIPs, which the RFC election then meets).
    AllVips,
    /// Some VIPs are there but not all of them, or not as this
    /// configuration puts them (another prefix length, a device vipd would
    /// not make): left by a different configuration. Never a reason to be
    /// master; removed unless the router becomes master anyway.
    Stray,
}

/// What happened, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// RFC 5798 6.4.1 Startup, with nothing found on the host: the same
    /// as `StartupWith(Found::Nothing)`.
    Startup,
    /// RFC 5798 6.4.1 Startup, told what the driver found in place. With
    /// [`Found::AllVips`] (and `found_vips: keep`, the default) the router
    /// makes a warm start: MASTER at once (reason `warm_start`), the VIPs
    /// put in place again (they are: nothing is removed), an advert and the
    /// announcements at once. A backup that had not yet declared the
    /// master down hears it within its Master_Down_Interval and stays
    /// backup (no outage, no role change); any other master heard is
    /// settled by the RFC 5798 6.4.3 master rules: higher priority wins,
    /// equal priority the higher primary address, and we step down at
    /// once when it is the other one. Anything else starts cold (as
    /// [`Event::Startup`]) and removes what was found unless it becomes
    /// master anyway (address owner, `initial_state: master`).
    StartupWith(Found),
    /// RFC 5798 6.4.2/6.4.3 Shutdown: leave gracefully (priority-0 advert).
    Shutdown,
    /// A validated ADVERTISEMENT for our VRID. `max_adver_int` is in the
    /// packet's unit: centiseconds (v3) or seconds (v2).
    Advert {
        src: IpAddr,
        priority: u8,
        max_adver_int: u16,
    },
    /// The interface lost carrier or went administratively down.
    InterfaceDown,
    InterfaceUp,
    /// A VIP the master owns vanished (someone else deleted it). The master
    /// restores it in place: no election, no priority-0 advert.
    VipsLost,
    /// The effective priority changed (trackers: base priority plus the
    /// weights that apply). A master advertises the new priority at once.
    SetPriority(u8),
    /// Health says FAULT (`fault: true`: a tracker without a weight is
    /// down, or the instance's group is in FAULT) or no longer does. FAULT
    /// lasts while health or the link says so. A master entering it sends a
    /// priority-0 advert first (its link is up: backups take over in
    /// Skew_Time, not Master_Down_Interval) and removes its VIPs.
    Health {
        fault: bool,
    },
    /// A reload changed this instance's settings in place (see
    /// [`Params`] for what they are; a change of version is not one of
    /// them: the driver restarts the instance). `vips_changed`: the set
    /// of addresses moved or advertised changed. A master stays master:
    /// it puts the addresses back (the driver removed the ones no longer
    /// configured), advertises at once when what peers see changed
    /// (priority, interval, addresses) and announces new addresses; no
    /// priority-0 advert, no election. A backup takes the new values for
    /// its next decision.
    Reconfigure {
        params: Params,
        vips_changed: bool,
    },
    /// A planned bounce of the interface is coming (ifupdown's pre-down
    /// hook, `vipctl hold`): until `until`, a link-down does not fault a
    /// master or backup. They keep their state (and the master its VIPs)
    /// and wait for the link; when it comes back a master re-adds its VIPs,
    /// advertises and announces at once, a backup restarts its
    /// Master_Down_Timer. If the link is still down at `until`, FAULT as
    /// without a hold. No adverts can be sent while the link is down, so
    /// peers see exactly what RFC 5798 says they should: a backup takes
    /// over only if the bounce outlasts its Master_Down_Interval. An `until`
    /// not after `now` cancels the hold.
    Hold {
        until: Time,
    },
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one advert per advertised family with this priority.
    SendAdvert { priority: u8 },
    /// Put every VIP (advertised and excluded) in place.
    AddVips,
    /// Remove every VIP.
    RemoveVips,
    /// Send `rounds` back-to-back rounds of gratuitous ARP / unsolicited NA
    /// for every VIP.
    Announce { rounds: u32 },
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
    /// A split brain: as master we heard `peer`, another master we
    /// outrank (lower priority, or equal priority and a lower address).
    /// Given once per episode (until none has been heard for a
    /// Master_Down_Interval); the answer, if any, follows as
    /// [`Action::SendAdvert`] and [`Action::Announce`].
    DualMaster { peer: IpAddr, peer_priority: u8 },
}

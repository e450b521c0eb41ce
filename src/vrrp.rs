//! The VRRP state machine (RFC 5798 section 6, RFC 3768 section 6), sans I/O.
//!
//! A [`Router`] is one virtual router. It owns no socket, no clock and no
//! task: the driver feeds it [`Event`]s with the current [`Time`], asks
//! [`Router::poll_at`] when it next needs to run, and carries out the
//! [`Action`]s it returns. That keeps every timer and transition testable
//! with virtual time, exactly against the RFC's state tables.
//!
//! One instance may carry VIPs of both address families. It then runs one
//! state machine ("one fate") and the driver sends one advert per family;
//! adverts received in either family drive the same machine. The tie-break
//! on equal priority compares the sender with our own primary address of
//! the advert's family (RFC 5798 6.4.3).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{InitialState, InstanceConfig, VrrpVersion};

/// Virtual time: how long since the driver's epoch. The machine never reads a clock.
pub type Time = Duration;

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
            Reason::Shutdown => "shutdown",
        })
    }
}

/// What happened, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// RFC 5798 6.4.1 Startup.
    Startup,
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
    /// The effective priority changed (trackers, later).
    SetPriority(u8),
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
}

/// The announcement schedule on becoming master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncePlan {
    pub repeat: u32,
    pub interval: Duration,
    pub second_burst_after: Duration,
    pub refresh: Duration,
}

/// The configuration the machine needs; everything else stays with the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub version: VrrpVersion,
    pub priority: u8,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub advert_interval: Duration,
    pub initial_state: InitialState,
    pub announce: AnnouncePlan,
}

impl Params {
    pub fn from_config(c: &InstanceConfig) -> Params {
        Params {
            version: c.version,
            priority: c.priority,
            preempt: c.preempt,
            preempt_delay: c.preempt_delay,
            advert_interval: c.advert_interval,
            initial_state: c.initial_state,
            announce: AnnouncePlan {
                repeat: c.garp.repeat,
                interval: c.garp.interval,
                second_burst_after: c.garp.second_burst_after,
                refresh: c.garp.refresh,
            },
        }
    }
}

/// Converts an interval to the advert field: centiseconds (v3, 12 bits) or seconds (v2, 8 bits).
pub fn interval_to_field(version: VrrpVersion, d: Duration) -> u16 {
    match version {
        VrrpVersion::V3 => (d.as_millis() / 10).min(0x0fff) as u16,
        VrrpVersion::V2 => d.as_secs().min(0xff) as u16,
    }
}

/// Converts an advert's interval field back to a duration.
pub fn field_to_interval(version: VrrpVersion, field: u16) -> Duration {
    match version {
        VrrpVersion::V3 => Duration::from_millis(u64::from(field) * 10),
        VrrpVersion::V2 => Duration::from_secs(u64::from(field)),
    }
}

/// Skew_Time. RFC 5798 6.1: ((256 - Priority) * Master_Adver_Interval) / 256;
/// RFC 3768 6.1: (256 - Priority) / 256 seconds, which is the same formula
/// with the fixed 1 s unit. Evaluated in nanoseconds rather than truncated
/// to centiseconds, as keepalived does in microseconds.
pub fn skew_time(version: VrrpVersion, priority: u8, master_adver_interval: Duration) -> Duration {
    let unit = match version {
        VrrpVersion::V3 => master_adver_interval,
        VrrpVersion::V2 => Duration::from_secs(1),
    };
    let nanos = unit.as_nanos() * (256 - u128::from(priority)) / 256;
    Duration::from_nanos(nanos as u64)
}

/// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (RFC 5798 6.1,
/// RFC 3768 6.1 with Advertisement_Interval).
pub fn master_down_interval(
    version: VrrpVersion,
    priority: u8,
    master_adver_interval: Duration,
) -> Duration {
    3 * master_adver_interval + skew_time(version, priority, master_adver_interval)
}

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

/// One virtual router.
#[derive(Debug, Clone)]
pub struct Router {
    params: Params,
    state: State,
    /// Current priority (base priority, later adjusted by trackers).
    priority: u8,
    /// RFC 5798 6.1 Master_Adver_Interval: ours as master, the master's as backup.
    master_adver_interval: Duration,
    local_v4: Option<IpAddr>,
    local_v6: Option<IpAddr>,
    master_addr: Option<IpAddr>,
    master_priority: Option<u8>,
    master_down_at: Option<Time>,
    adver_at: Option<Time>,
    /// When preemption of a lower-priority master may happen (preempt_delay).
    preempt_at: Option<Time>,
    announce_left: u32,
    announce_at: Option<Time>,
    second_burst_at: Option<Time>,
    refresh_at: Option<Time>,
    last_transition: Option<(Time, Reason)>,
    /// End of the hold announced by [`Event::Hold`], while it lasts.
    hold_until: Option<Time>,
    /// The link went down during a hold: the state is kept, timers are
    /// suspended and `hold_until` decides (see [`Event::Hold`]).
    held_down: bool,
}

impl Router {
    pub fn new(params: Params) -> Router {
        Router {
            priority: params.priority,
            master_adver_interval: params.advert_interval,
            params,
            state: State::Initialize,
            local_v4: None,
            local_v6: None,
            master_addr: None,
            master_priority: None,
            master_down_at: None,
            adver_at: None,
            preempt_at: None,
            announce_left: 0,
            announce_at: None,
            second_burst_at: None,
            refresh_at: None,
            last_transition: None,
            hold_until: None,
            held_down: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn priority(&self) -> u8 {
        self.priority
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }
    /// The master's address as last heard (None when we are master or know none).
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }
    pub fn master_priority(&self) -> Option<u8> {
        self.master_priority
    }
    pub fn last_transition(&self) -> Option<(Time, Reason)> {
        self.last_transition
    }
    /// Deadline of the Master_Down_Timer, when armed.
    pub fn master_down_at(&self) -> Option<Time> {
        self.master_down_at
    }
    /// Whether the link is down and the state kept by a hold; the hold's end.
    pub fn held_down_until(&self) -> Option<Time> {
        self.hold_until.filter(|_| self.held_down)
    }

    /// Our primary address of a family, used for the equal-priority tie-break.
    pub fn set_local_address(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(_) => self.local_v4 = Some(addr),
            IpAddr::V6(_) => self.local_v6 = Some(addr),
        }
    }

    fn local_for(&self, family_of: IpAddr) -> Option<IpAddr> {
        match family_of {
            IpAddr::V4(_) => self.local_v4,
            IpAddr::V6(_) => self.local_v6,
        }
    }

    /// The earliest time the driver must call [`Router::handle_timeout`].
    pub fn poll_at(&self) -> Option<Time> {
        [
            self.master_down_at,
            self.adver_at,
            self.preempt_at,
            self.announce_at,
            self.second_burst_at,
            self.refresh_at,
            self.held_down_until(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn skew(&self) -> Duration {
        skew_time(
            self.params.version,
            self.priority,
            self.master_adver_interval,
        )
    }

    fn down_interval(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.priority,
            self.master_adver_interval,
        )
    }

    fn transition(&mut self, now: Time, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.last_transition = Some((now, reason));
        self.preempt_at = None;
        self.held_down = false;
        self.hold_until = None;
        if to != State::Master {
            self.adver_at = None;
            self.announce_at = None;
            self.announce_left = 0;
            self.second_burst_at = None;
            self.refresh_at = None;
        }
        if to != State::Backup {
            self.master_down_at = None;
        }
        out.push(Action::StateChanged { from, to, reason });
    }

    /// RFC 5798 6.4.1 / 6.4.2 "Master_Down_Timer fires": send an advert,
    /// announce the VIPs, arm the Adver_Timer, become master.
    fn become_master(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.master_adver_interval = self.params.advert_interval;
        self.master_addr = None;
        self.master_priority = Some(self.priority);
        self.transition(now, State::Master, reason, out);
        out.push(Action::AddVips);
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        self.adver_at = Some(now + self.params.advert_interval);
        self.start_announcing(now, out);
    }

    fn start_announcing(&mut self, now: Time, out: &mut Vec<Action>) {
        let plan = self.params.announce;
        self.announce_burst(now, out);
        self.second_burst_at = (!plan.second_burst_after.is_zero() && plan.repeat > 0)
            .then(|| now + plan.second_burst_after);
        self.refresh_at = (!plan.refresh.is_zero()).then(|| now + plan.refresh);
    }

    /// One burst: `repeat` rounds, back to back or spaced by `interval`.
    fn announce_burst(&mut self, now: Time, out: &mut Vec<Action>) {
        let plan = self.params.announce;
        if plan.repeat == 0 {
            return;
        }
        if plan.interval.is_zero() {
            out.push(Action::Announce {
                rounds: plan.repeat,
            });
            self.announce_left = 0;
            self.announce_at = None;
        } else {
            out.push(Action::Announce { rounds: 1 });
            self.announce_left = plan.repeat - 1;
            self.announce_at = (self.announce_left > 0).then(|| now + plan.interval);
        }
    }

    /// RFC 5798 6.4.1 (Initialize) on Startup, also used on InterfaceUp.
    fn start(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        if self.priority == 255 {
            self.become_master(now, Reason::AddressOwner, out);
        } else if self.params.initial_state == InitialState::Master {
            self.become_master(now, Reason::InitialStateMaster, out);
        } else {
            self.master_adver_interval = self.params.advert_interval;
            self.master_addr = None;
            self.master_priority = None;
            self.transition(now, State::Backup, reason, out);
            self.master_down_at = Some(now + self.down_interval());
        }
    }

    fn hold_active(&self, now: Time) -> bool {
        self.hold_until.is_some_and(|t| t > now)
    }

    /// The link went down during a hold: keep the state, suspend every timer
    /// (nothing can be sent or heard without a link; a backup must not
    /// elect itself on a dead link).
    fn suspend(&mut self) {
        self.held_down = true;
        self.adver_at = None;
        self.master_down_at = None;
        self.preempt_at = None;
        self.announce_at = None;
        self.announce_left = 0;
        self.second_burst_at = None;
        self.refresh_at = None;
    }

    /// The link came back within the hold: resume at once.
    fn resume(&mut self, now: Time, out: &mut Vec<Action>) {
        self.held_down = false;
        self.hold_until = None;
        match self.state {
            State::Master => {
                // Whatever the bounce flushed comes back first, then the
                // advert (peers keep us as master) and the announcements
                // (switches relearn the virtual MAC on this port).
                out.push(Action::AddVips);
                out.push(Action::SendAdvert {
                    priority: self.priority,
                });
                self.adver_at = Some(now + self.params.advert_interval);
                self.start_announcing(now, out);
            }
            State::Backup => {
                self.master_down_at = Some(now + self.down_interval());
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// The hold ended with the link still down: FAULT, as without a hold.
    fn hold_expired(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::RemoveVips);
        }
        self.transition(now, State::Fault, Reason::InterfaceDown, out);
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Time, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if self.held_down {
            match event {
                Event::InterfaceUp => self.resume(now, &mut out),
                // Nothing to send on a dead link; the VIPs come back with it.
                Event::InterfaceDown | Event::Advert { .. } | Event::VipsLost => {}
                Event::Hold { until } if until > now => self.hold_until = Some(until),
                Event::Hold { .. } => self.hold_expired(now, &mut out),
                Event::Startup => {}
                Event::SetPriority(p) => {
                    self.priority = p;
                    if self.state == State::Master {
                        self.master_priority = Some(p);
                    }
                }
                Event::Shutdown => {
                    self.held_down = false;
                    return self.handle(now, Event::Shutdown);
                }
            }
            return out;
        }
        match (self.state, event) {
            (State::Initialize, Event::Startup) => self.start(now, Reason::Startup, &mut out),
            (_, Event::Startup) => {}

            (State::Master, Event::Shutdown) => {
                // RFC 5798 6.4.3: cancel Adver_Timer, send priority 0, go to Initialize.
                out.push(Action::SendAdvert { priority: 0 });
                out.push(Action::RemoveVips);
                self.transition(now, State::Initialize, Reason::Shutdown, &mut out);
            }
            (State::Backup | State::Fault, Event::Shutdown) => {
                self.transition(now, State::Initialize, Reason::Shutdown, &mut out);
            }
            (State::Initialize, Event::Shutdown) => {}

            (
                State::Backup,
                Event::Advert {
                    src,
                    priority,
                    max_adver_int,
                },
            ) => self.backup_advert(now, src, priority, max_adver_int),
            (
                State::Master,
                Event::Advert {
                    src,
                    priority,
                    max_adver_int,
                },
            ) => self.master_advert(now, src, priority, max_adver_int, &mut out),
            (State::Initialize | State::Fault, Event::Advert { .. }) => {}

            (_, Event::Hold { until }) => {
                self.hold_until = (until > now).then_some(until);
            }
            (State::Master | State::Backup, Event::InterfaceDown) if self.hold_active(now) => {
                self.suspend();
            }
            (State::Master, Event::InterfaceDown) => {
                out.push(Action::RemoveVips);
                self.transition(now, State::Fault, Reason::InterfaceDown, &mut out);
            }
            (State::Backup | State::Initialize, Event::InterfaceDown) => {
                self.transition(now, State::Fault, Reason::InterfaceDown, &mut out);
            }
            (State::Fault, Event::InterfaceUp) => {
                self.start(now, Reason::InterfaceUp, &mut out);
            }
            (_, Event::InterfaceDown | Event::InterfaceUp) => {}

            (State::Master, Event::VipsLost) => {
                out.push(Action::AddVips);
                self.announce_burst(now, &mut out);
            }
            (_, Event::VipsLost) => {}

            (state, Event::SetPriority(p)) => {
                self.priority = p;
                if state == State::Master {
                    self.master_priority = Some(p);
                }
            }
        }
        out
    }

    /// RFC 5798 6.4.2, "If an ADVERTISEMENT is received".
    fn backup_advert(&mut self, now: Time, src: IpAddr, priority: u8, field: u16) {
        if priority == 0 {
            // The master is leaving: take over after Skew_Time only.
            self.master_down_at = Some(now + self.skew());
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
        match self.preempt_at {
            None => {
                self.preempt_at = Some(now + self.params.preempt_delay);
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
        self.master_down_at = Some(now + self.down_interval());
    }

    /// RFC 5798 6.4.3, "If an ADVERTISEMENT is received".
    fn master_advert(
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
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
            self.adver_at = Some(now + self.params.advert_interval);
            return;
        }
        let higher = priority > self.priority
            || (priority == self.priority && sender_wins_tie(src, self.local_for(src)));
        if !higher {
            return;
        }
        out.push(Action::RemoveVips);
        self.transition(now, State::Backup, Reason::HigherPriorityMaster, out);
        if self.params.version == VrrpVersion::V3 {
            self.master_adver_interval = field_to_interval(VrrpVersion::V3, field);
        }
        self.master_addr = Some(src);
        self.master_priority = Some(priority);
        self.master_down_at = Some(now + self.down_interval());
    }

    /// Fires every timer due at `now`; returns the actions in order.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<Action> {
        let mut out = Vec::new();
        let due = |t: Option<Time>| t.is_some_and(|t| t <= now);
        if self.held_down {
            if due(self.hold_until) {
                self.hold_expired(now, &mut out);
            }
            return out;
        }
        if self.hold_until.is_some_and(|t| t <= now) {
            self.hold_until = None;
        }
        match self.state {
            State::Backup => {
                if due(self.preempt_at) {
                    self.preempt_at = None;
                    self.become_master(now, Reason::PreemptDelayElapsed, &mut out);
                } else if due(self.master_down_at) {
                    let reason = if self.master_priority == Some(0) {
                        Reason::PriorityZeroSeen
                    } else if self.master_priority.is_some_and(|p| p < self.priority) {
                        Reason::Preempted
                    } else {
                        Reason::MasterDown
                    };
                    self.become_master(now, reason, &mut out);
                }
            }
            State::Master => {
                if due(self.adver_at) {
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    // Re-arm from the deadline, not from `now`, so a late
                    // wakeup does not stretch every later interval.
                    let mut next = self.adver_at.unwrap_or(now) + self.params.advert_interval;
                    if next <= now {
                        next = now + self.params.advert_interval;
                    }
                    self.adver_at = Some(next);
                }
                if due(self.announce_at) {
                    out.push(Action::Announce { rounds: 1 });
                    self.announce_left = self.announce_left.saturating_sub(1);
                    self.announce_at =
                        (self.announce_left > 0).then(|| now + self.params.announce.interval);
                }
                if due(self.second_burst_at) {
                    self.second_burst_at = None;
                    self.announce_burst(now, &mut out);
                }
                if due(self.refresh_at) {
                    out.push(Action::Announce { rounds: 1 });
                    self.refresh_at = Some(now + self.params.announce.refresh);
                }
            }
            State::Initialize | State::Fault => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MS: Duration = Duration::from_millis(1);

    fn params(version: VrrpVersion, priority: u8, interval: Duration) -> Params {
        Params {
            version,
            priority,
            preempt: true,
            preempt_delay: Duration::ZERO,
            advert_interval: interval,
            initial_state: InitialState::Backup,
            announce: AnnouncePlan {
                repeat: 1,
                interval: Duration::ZERO,
                second_burst_after: Duration::ZERO,
                refresh: Duration::ZERO,
            },
        }
    }

    fn v3(priority: u8) -> Router {
        let mut r = Router::new(params(VrrpVersion::V3, priority, Duration::from_secs(1)));
        r.set_local_address(ip(10));
        r
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn advert(src: u8, priority: u8) -> Event {
        Event::Advert {
            src: ip(src),
            priority,
            max_adver_int: 100,
        }
    }

    fn to(state: State, reason: Reason, actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::StateChanged { to, reason: r, .. } if *to == state && *r == reason))
    }

    /// Advances virtual time to the machine's next deadline and fires it.
    fn step(r: &mut Router) -> (Time, Vec<Action>) {
        let at = r.poll_at().expect("a timer is armed");
        (at, r.handle_timeout(at))
    }

    #[test]
    fn timer_formulas_match_the_rfcs() {
        // RFC 5798: priority 100, 1 s: skew = 156/256 s = 609.375 ms.
        let i = Duration::from_secs(1);
        assert_eq!(
            skew_time(VrrpVersion::V3, 100, i),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            master_down_interval(VrrpVersion::V3, 100, i),
            Duration::from_micros(3_609_375)
        );
        // v3 skew scales with the interval: 20 ms, priority 200 -> 56/256*20 ms = 4.375 ms.
        let i = Duration::from_millis(20);
        assert_eq!(
            skew_time(VrrpVersion::V3, 200, i),
            Duration::from_micros(4_375)
        );
        assert_eq!(
            master_down_interval(VrrpVersion::V3, 200, i),
            Duration::from_micros(64_375)
        );
        // RFC 3768: skew is (256-prio)/256 seconds whatever the interval.
        let i = Duration::from_secs(3);
        assert_eq!(
            skew_time(VrrpVersion::V2, 100, i),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            master_down_interval(VrrpVersion::V2, 100, i),
            Duration::from_micros(9_609_375)
        );
        // Priority 255 has the smallest skew, 254 beats 1.
        assert!(skew_time(VrrpVersion::V3, 254, i) < skew_time(VrrpVersion::V3, 1, i));
        assert_eq!(
            interval_to_field(VrrpVersion::V3, Duration::from_millis(20)),
            2
        );
        assert_eq!(
            interval_to_field(VrrpVersion::V2, Duration::from_secs(3)),
            3
        );
        assert_eq!(
            field_to_interval(VrrpVersion::V3, 4095),
            Duration::from_millis(40_950)
        );
    }

    // RFC 5798 6.4.1: Startup, priority != 255 -> Backup with Master_Down_Timer.
    #[test]
    fn startup_goes_backup_and_arms_master_down_timer() {
        let mut r = v3(100);
        let acts = r.handle(Duration::ZERO, Event::Startup);
        assert!(to(State::Backup, Reason::Startup, &acts));
        assert_eq!(r.state(), State::Backup);
        assert_eq!(r.poll_at(), Some(Duration::from_micros(3_609_375)));
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Action::SendAdvert { .. } | Action::AddVips))
        );
    }

    // RFC 5798 6.4.1: Startup with priority 255 -> advert, announce, Master.
    #[test]
    fn address_owner_goes_master_at_once() {
        let mut r = v3(255);
        let acts = r.handle(Duration::ZERO, Event::Startup);
        assert!(to(State::Master, Reason::AddressOwner, &acts));
        assert!(acts.contains(&Action::SendAdvert { priority: 255 }));
        assert!(acts.contains(&Action::AddVips));
        assert!(acts.contains(&Action::Announce { rounds: 1 }));
        assert_eq!(
            r.poll_at(),
            Some(Duration::from_secs(1)),
            "Adver_Timer armed"
        );
    }

    #[test]
    fn initial_state_master_skips_the_wait() {
        let mut p = params(VrrpVersion::V3, 100, Duration::from_secs(1));
        p.initial_state = InitialState::Master;
        let mut r = Router::new(p);
        let acts = r.handle(Duration::ZERO, Event::Startup);
        assert!(to(State::Master, Reason::InitialStateMaster, &acts));
    }

    // RFC 5798 6.4.2: Master_Down_Timer fires -> advert, GARP, Adver_Timer, Master.
    #[test]
    fn master_down_timer_makes_backup_master() {
        let mut r = v3(100);
        r.handle(Duration::ZERO, Event::Startup);
        let (at, acts) = step(&mut r);
        assert_eq!(at, Duration::from_micros(3_609_375));
        assert!(to(State::Master, Reason::MasterDown, &acts));
        let pos = |x: &Action| acts.iter().position(|a| a == x).unwrap();
        assert!(
            pos(&Action::AddVips) < pos(&Action::Announce { rounds: 1 }),
            "VIPs before GARP"
        );
        assert!(acts.contains(&Action::SendAdvert { priority: 100 }));
        assert_eq!(r.poll_at(), Some(at + Duration::from_secs(1)));
    }

    // RFC 5798 6.4.2: priority-0 advert -> Master_Down_Timer = Skew_Time.
    #[test]
    fn priority_zero_advert_gives_skew_time_takeover() {
        let mut r = v3(100);
        r.handle(Duration::ZERO, Event::Startup);
        let t = Duration::from_millis(500);
        r.handle(t, advert(20, 200));
        let acts = r.handle(t + MS, advert(20, 0));
        assert!(acts.is_empty());
        assert_eq!(r.poll_at(), Some(t + MS + Duration::from_micros(609_375)));
        let (_, acts) = step(&mut r);
        assert!(to(State::Master, Reason::PriorityZeroSeen, &acts));
    }

    // RFC 5798 6.4.2: higher (or equal) priority advert -> adopt interval, reset timer.
    #[test]
    fn backup_adopts_master_interval_in_v3() {
        let mut r = v3(100);
        r.handle(Duration::ZERO, Event::Startup);
        let t = Duration::from_millis(100);
        r.handle(
            t,
            Event::Advert {
                src: ip(20),
                priority: 200,
                max_adver_int: 2,
            },
        );
        assert_eq!(r.master_adver_interval(), Duration::from_millis(20));
        // 3*20ms + (156/256)*20ms = 60 + 12.1875
        assert_eq!(r.poll_at(), Some(t + Duration::from_nanos(72_187_500)));
        assert_eq!(r.master_addr(), Some(ip(20)));
    }

    #[test]
    fn v2_backup_keeps_its_own_interval() {
        let mut r = Router::new(params(VrrpVersion::V2, 100, Duration::from_secs(1)));
        r.handle(Duration::ZERO, Event::Startup);
        r.handle(
            Duration::ZERO,
            Event::Advert {
                src: ip(20),
                priority: 200,
                max_adver_int: 3,
            },
        );
        assert_eq!(r.master_adver_interval(), Duration::from_secs(1));
    }

    // RFC 5798 6.4.2: preempt true and lower priority -> discard (then take over).
    #[test]
    fn preempt_discards_lower_priority_and_takes_over() {
        let mut r = v3(150);
        r.handle(Duration::ZERO, Event::Startup);
        let first = r.poll_at().unwrap();
        r.handle(Duration::from_millis(100), advert(20, 100));
        assert_eq!(
            r.poll_at(),
            Some(first),
            "lower-priority advert must not reset the timer"
        );
        let (_, acts) = step(&mut r);
        assert!(to(State::Master, Reason::Preempted, &acts));
    }

    #[test]
    fn no_preempt_accepts_lower_priority_master_forever() {
        let mut p = params(VrrpVersion::V3, 150, Duration::from_secs(1));
        p.preempt = false;
        let mut r = Router::new(p);
        r.handle(Duration::ZERO, Event::Startup);
        for i in 1..100u64 {
            let now = Duration::from_secs(i);
            r.handle(now, advert(20, 100));
            assert!(r.poll_at().unwrap() > now);
            assert!(r.handle_timeout(now).is_empty());
        }
        assert_eq!(r.state(), State::Backup);
    }

    #[test]
    fn preempt_delay_tolerates_then_takes_over() {
        let mut p = params(VrrpVersion::V3, 150, Duration::from_secs(1));
        p.preempt_delay = Duration::from_secs(5);
        let mut r = Router::new(p);
        r.handle(Duration::ZERO, Event::Startup);
        let mut t = Duration::from_millis(100);
        let mut became = None;
        while t < Duration::from_secs(20) {
            r.handle(t, advert(20, 100));
            while r
                .poll_at()
                .is_some_and(|at| at <= t + Duration::from_secs(1))
            {
                let (at, acts) = step(&mut r);
                if to(State::Master, Reason::PreemptDelayElapsed, &acts) {
                    became = Some(at);
                }
                if r.state() == State::Master {
                    break;
                }
            }
            if became.is_some() {
                break;
            }
            t += Duration::from_secs(1);
        }
        assert_eq!(became, Some(Duration::from_millis(5100)));
    }

    // RFC 5798 6.4.2: Shutdown in Backup -> cancel timer, Initialize.
    #[test]
    fn backup_shutdown_is_silent() {
        let mut r = v3(100);
        r.handle(Duration::ZERO, Event::Startup);
        let acts = r.handle(MS, Event::Shutdown);
        assert!(to(State::Initialize, Reason::Shutdown, &acts));
        assert!(!acts.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
        assert_eq!(r.poll_at(), None);
    }

    fn master(priority: u8) -> Router {
        let mut r = v3(priority);
        r.handle(Duration::ZERO, Event::Startup);
        step(&mut r);
        assert_eq!(r.state(), State::Master);
        r
    }

    // RFC 5798 6.4.3: Adver_Timer fires -> send advert, re-arm.
    #[test]
    fn master_advertises_every_interval_without_drift() {
        let mut r = master(100);
        let start = r.poll_at().unwrap();
        let mut sent = 0;
        for i in 0..10u32 {
            let due = start + i * Duration::from_secs(1);
            assert_eq!(r.poll_at(), Some(due));
            // Wake up 3 ms late every time: the schedule must not drift.
            let acts = r.handle_timeout(due + 3 * MS);
            sent += acts
                .iter()
                .filter(|a| matches!(a, Action::SendAdvert { priority: 100 }))
                .count();
        }
        assert_eq!(sent, 10);
    }

    // RFC 5798 6.4.3: Shutdown -> priority-0 advert, Initialize.
    #[test]
    fn master_shutdown_sends_priority_zero_and_removes_vips() {
        let mut r = master(100);
        let acts = r.handle(Duration::from_secs(10), Event::Shutdown);
        assert_eq!(acts[0], Action::SendAdvert { priority: 0 });
        assert!(acts.contains(&Action::RemoveVips));
        assert!(to(State::Initialize, Reason::Shutdown, &acts));
        assert_eq!(r.poll_at(), None);
    }

    // RFC 5798 6.4.3: priority-0 advert received by master -> send advert, reset timer.
    #[test]
    fn master_answers_priority_zero_at_once() {
        let mut r = master(100);
        let now = Duration::from_millis(3_700);
        let acts = r.handle(now, advert(20, 0));
        assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(r.poll_at(), Some(now + Duration::from_secs(1)));
        assert_eq!(r.state(), State::Master);
    }

    // RFC 5798 6.4.3: greater priority -> Backup with the sender's interval.
    #[test]
    fn master_yields_to_higher_priority() {
        let mut r = master(100);
        let now = Duration::from_secs(5);
        let acts = r.handle(
            now,
            Event::Advert {
                src: ip(20),
                priority: 200,
                max_adver_int: 50,
            },
        );
        assert!(acts.contains(&Action::RemoveVips));
        assert!(to(State::Backup, Reason::HigherPriorityMaster, &acts));
        assert_eq!(r.master_adver_interval(), Duration::from_millis(500));
        assert_eq!(
            r.master_down_at(),
            Some(now + master_down_interval(VrrpVersion::V3, 100, Duration::from_millis(500)))
        );
    }

    // RFC 5798 6.4.3: equal priority, larger primary address wins.
    #[test]
    fn equal_priority_tie_break_by_address() {
        let mut r = master(100); // our address is .10
        assert!(r.handle(Duration::from_secs(5), advert(9, 100)).is_empty());
        assert_eq!(r.state(), State::Master);
        let acts = r.handle(Duration::from_secs(5), advert(11, 100));
        assert!(to(State::Backup, Reason::HigherPriorityMaster, &acts));
    }

    // RFC 5798 6.4.3: lower priority -> discard.
    #[test]
    fn master_ignores_lower_priority() {
        let mut r = master(100);
        assert!(r.handle(Duration::from_secs(5), advert(250, 99)).is_empty());
        assert_eq!(r.state(), State::Master);
    }

    #[test]
    fn announcements_follow_the_plan() {
        let mut p = params(VrrpVersion::V3, 255, Duration::from_secs(1));
        p.announce = AnnouncePlan {
            repeat: 3,
            interval: Duration::from_millis(10),
            second_burst_after: Duration::from_secs(5),
            refresh: Duration::from_secs(60),
        };
        let mut r = Router::new(p);
        let mut rounds: Vec<(Time, u32)> = Vec::new();
        let record = |t: Time, acts: &[Action], rounds: &mut Vec<(Time, u32)>| {
            for a in acts {
                if let Action::Announce { rounds: n } = a {
                    rounds.push((t, *n));
                }
            }
        };
        let acts = r.handle(Duration::ZERO, Event::Startup);
        record(Duration::ZERO, &acts, &mut rounds);
        while let Some(at) = r.poll_at() {
            if at > Duration::from_secs(130) {
                break;
            }
            let acts = r.handle_timeout(at);
            record(at, &acts, &mut rounds);
        }
        let ms = |m: u64| Duration::from_millis(m);
        assert_eq!(
            rounds,
            vec![
                (ms(0), 1),
                (ms(10), 1),
                (ms(20), 1),
                (ms(5000), 1),
                (ms(5010), 1),
                (ms(5020), 1),
                (ms(60000), 1),
                (ms(120000), 1)
            ]
        );
    }

    #[test]
    fn back_to_back_announcements_come_as_one_action() {
        let mut p = params(VrrpVersion::V3, 255, Duration::from_secs(1));
        p.announce.repeat = 5;
        let mut r = Router::new(p);
        let acts = r.handle(Duration::ZERO, Event::Startup);
        assert!(acts.contains(&Action::Announce { rounds: 5 }));
    }

    #[test]
    fn fault_on_link_down_and_recovery() {
        let mut r = master(100);
        let acts = r.handle(Duration::from_secs(10), Event::InterfaceDown);
        assert!(acts.contains(&Action::RemoveVips));
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
        assert_eq!(r.poll_at(), None, "no adverts while in fault");
        assert!(
            r.handle(Duration::from_secs(11), advert(20, 200))
                .is_empty()
        );
        let acts = r.handle(Duration::from_secs(12), Event::InterfaceUp);
        assert!(to(State::Backup, Reason::InterfaceUp, &acts));
        assert!(matches!(
            acts[0],
            Action::StateChanged {
                from: State::Fault,
                ..
            }
        ));
        assert!(r.master_down_at().is_some());
    }

    #[test]
    fn link_down_at_startup_waits_in_fault() {
        let mut r = v3(100);
        let acts = r.handle(Duration::ZERO, Event::InterfaceDown);
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
        assert!(
            r.handle(MS, Event::Startup).is_empty(),
            "no election while the link is down"
        );
        let acts = r.handle(2 * MS, Event::InterfaceUp);
        assert!(to(State::Backup, Reason::InterfaceUp, &acts));
    }

    #[test]
    fn master_restores_lost_vips_in_place() {
        let mut r = master(100);
        let acts = r.handle(Duration::from_secs(10), Event::VipsLost);
        assert_eq!(acts, vec![Action::AddVips, Action::Announce { rounds: 1 }]);
        assert_eq!(r.state(), State::Master);
        // A backup has nothing to restore.
        let mut b = v3(100);
        b.handle(Duration::ZERO, Event::Startup);
        assert!(b.handle(MS, Event::VipsLost).is_empty());
    }

    #[test]
    fn events_in_initialize_are_ignored() {
        let mut r = v3(100);
        for e in [
            advert(20, 200),
            Event::Shutdown,
            Event::InterfaceUp,
            Event::VipsLost,
        ] {
            // (InterfaceDown is the one event Initialize acts on: it waits in FAULT.)
            assert!(r.handle(Duration::ZERO, e).is_empty());
        }
        assert!(r.handle_timeout(Duration::from_secs(100)).is_empty());
        assert_eq!(r.state(), State::Initialize);
    }

    /// Two routers on a lossless virtual wire: whatever their priorities,
    /// exactly one ends up master, the higher one (or the higher address on
    /// a tie), and it stays so.
    #[test]
    fn two_routers_converge_to_one_master() {
        for (pa, pb) in [
            (100, 200),
            (200, 100),
            (150, 150),
            (254, 1),
            (255, 100),
            (1, 1),
        ] {
            let mut a = Router::new(params(VrrpVersion::V3, pa, Duration::from_millis(100)));
            a.set_local_address(ip(1));
            let mut b = Router::new(params(VrrpVersion::V3, pb, Duration::from_millis(100)));
            b.set_local_address(ip(2));
            let mut inbox: Vec<(bool, Event)> = Vec::new();
            let mut now = Duration::ZERO;
            let deliver = |from_a: bool, acts: Vec<Action>, inbox: &mut Vec<(bool, Event)>| {
                for act in acts {
                    if let Action::SendAdvert { priority } = act {
                        let src = if from_a { ip(1) } else { ip(2) };
                        inbox.push((
                            !from_a,
                            Event::Advert {
                                src,
                                priority,
                                max_adver_int: 10,
                            },
                        ));
                    }
                }
            };
            let acts = a.handle(now, Event::Startup);
            deliver(true, acts, &mut inbox);
            let acts = b.handle(now, Event::Startup);
            deliver(false, acts, &mut inbox);
            while now < Duration::from_secs(10) {
                for (to_a, ev) in std::mem::take(&mut inbox) {
                    let acts = if to_a {
                        a.handle(now, ev)
                    } else {
                        b.handle(now, ev)
                    };
                    deliver(!to_a, acts, &mut inbox);
                }
                now += MS;
                let acts = a.handle_timeout(now);
                deliver(true, acts, &mut inbox);
                let acts = b.handle_timeout(now);
                deliver(false, acts, &mut inbox);
            }
            // On a tie the larger address (b, .2) wins.
            let a_wins = pa > pb;
            let (w, l) = if a_wins { (&a, &b) } else { (&b, &a) };
            assert_eq!(
                (w.state(), l.state()),
                (State::Master, State::Backup),
                "priorities {pa}/{pb}"
            );
        }
    }

    fn secs(s: u64) -> Time {
        Duration::from_secs(s)
    }

    // A planned bounce within the hold: no FAULT, no VIP removal, nothing
    // sent while the link is down; link up -> VIPs, advert, announce at once.
    #[test]
    fn hold_keeps_master_through_a_bounce() {
        let mut r = master(100);
        let t = secs(10);
        assert!(r.handle(t, Event::Hold { until: t + secs(5) }).is_empty());
        let acts = r.handle(t + MS, Event::InterfaceDown);
        assert!(acts.is_empty(), "no FAULT, no RemoveVips: {acts:?}");
        assert_eq!(r.state(), State::Master);
        assert_eq!(r.held_down_until(), Some(t + secs(5)));
        assert_eq!(
            r.poll_at(),
            Some(t + secs(5)),
            "only the hold's end is armed"
        );
        // VIPs flushed meanwhile come back with the link, not on a dead one.
        assert!(r.handle(t + 2 * MS, Event::VipsLost).is_empty());
        let up = t + Duration::from_millis(800);
        let acts = r.handle(up, Event::InterfaceUp);
        assert_eq!(
            acts,
            vec![
                Action::AddVips,
                Action::SendAdvert { priority: 100 },
                Action::Announce { rounds: 1 }
            ]
        );
        assert_eq!(r.state(), State::Master);
        assert_eq!(r.held_down_until(), None);
        assert_eq!(
            r.poll_at(),
            Some(up + secs(1)),
            "Adver_Timer re-armed from link up"
        );
        // The hold is used up: the next link-down faults as usual.
        let acts = r.handle(up + secs(1) / 2, Event::InterfaceDown);
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
    }

    // The link stays down past the hold: FAULT at the hold's end, as without one.
    #[test]
    fn hold_expiry_with_link_down_faults() {
        let mut r = master(100);
        let t = secs(10);
        r.handle(t, Event::Hold { until: t + secs(3) });
        assert!(r.handle(t + MS, Event::InterfaceDown).is_empty());
        assert!(r.handle_timeout(t + secs(2)).is_empty(), "not yet");
        let (at, acts) = step(&mut r);
        assert_eq!(at, t + secs(3));
        assert_eq!(acts[0], Action::RemoveVips);
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
        assert_eq!(r.poll_at(), None);
        let acts = r.handle(at + secs(1), Event::InterfaceUp);
        assert!(to(State::Backup, Reason::InterfaceUp, &acts));
    }

    // A hold that sees no link-down changes nothing, and leaves no timer behind.
    #[test]
    fn hold_without_link_down_is_harmless() {
        let mut r = master(100);
        let mut plain = master(100);
        let t = secs(10);
        assert!(r.handle(t, Event::Hold { until: t + secs(5) }).is_empty());
        assert_eq!(
            r.poll_at(),
            plain.poll_at(),
            "the hold arms nothing by itself"
        );
        let mut now = t;
        while now < t + secs(20) {
            now += Duration::from_millis(250);
            assert_eq!(
                r.handle_timeout(now),
                plain.handle_timeout(now),
                "at {now:?}"
            );
        }
        assert_eq!(r.state(), State::Master);
        // After it lapsed, a link-down faults at once.
        let acts = r.handle(now, Event::InterfaceDown);
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
    }

    // A backup on a held link neither faults nor elects itself while the
    // link is down; back up, it waits a full Master_Down_Interval.
    #[test]
    fn hold_keeps_backup_and_suspends_its_timer() {
        let mut r = v3(100);
        r.handle(Duration::ZERO, Event::Startup);
        r.handle(MS, advert(20, 200));
        let t = secs(1);
        r.handle(
            t,
            Event::Hold {
                until: t + secs(10),
            },
        );
        assert!(r.handle(t, Event::InterfaceDown).is_empty());
        assert_eq!(r.state(), State::Backup);
        assert_eq!(
            r.poll_at(),
            Some(t + secs(10)),
            "Master_Down_Timer suspended"
        );
        let up = t + secs(6);
        assert!(r.handle(up, Event::InterfaceUp).is_empty());
        assert_eq!(r.master_down_at(), Some(up + r.down_interval()));
        assert_eq!(r.state(), State::Backup);
    }

    // A hold given with an end not after now cancels it (the link-down faults).
    #[test]
    fn zero_hold_cancels() {
        let mut r = master(100);
        let t = secs(10);
        r.handle(t, Event::Hold { until: t + secs(5) });
        r.handle(t + MS, Event::Hold { until: t });
        let acts = r.handle(t + 2 * MS, Event::InterfaceDown);
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
        // Cancelling while held down faults at once.
        let mut r = master(100);
        r.handle(t, Event::Hold { until: t + secs(5) });
        r.handle(t + MS, Event::InterfaceDown);
        let acts = r.handle(
            t + 2 * MS,
            Event::Hold {
                until: Duration::ZERO,
            },
        );
        assert!(acts.contains(&Action::RemoveVips));
        assert!(to(State::Fault, Reason::InterfaceDown, &acts));
    }

    // Shutdown while held down still leaves gracefully.
    #[test]
    fn shutdown_while_held_down() {
        let mut r = master(100);
        let t = secs(10);
        r.handle(t, Event::Hold { until: t + secs(5) });
        r.handle(t + MS, Event::InterfaceDown);
        let acts = r.handle(t + 2 * MS, Event::Shutdown);
        assert!(acts.contains(&Action::RemoveVips));
        assert!(to(State::Initialize, Reason::Shutdown, &acts));
        assert_eq!(r.poll_at(), None);
    }

    /// Two routers on a virtual wire; the master's link bounces for `bounce`
    /// under a 5 s hold. While the backup's Master_Down_Interval (3.6 s from
    /// the last advert it heard, ~0.8 s before the bounce) has not run out
    /// nobody changes role; beyond it the backup takes over (correct VRRP)
    /// and the master, back with a higher priority, preempts it again.
    #[test]
    fn bounce_under_hold_on_a_virtual_wire() {
        for (bounce_ms, backup_takes_over) in [(500u64, false), (2_000, false), (4_500, true)] {
            let mut a = v3(200);
            let mut b = Router::new(params(VrrpVersion::V3, 100, Duration::from_secs(1)));
            b.set_local_address(ip(20));
            a.handle(Duration::ZERO, Event::Startup);
            b.handle(Duration::ZERO, Event::Startup);
            let mut now = Duration::ZERO;
            let down_at = secs(10);
            let up_at = down_at + Duration::from_millis(bounce_ms);
            let mut b_became_master = 0;
            let mut a_left_master = 0;
            while now < secs(20) {
                now += MS;
                let mut wire_a = true;
                if now == down_at {
                    a.handle(
                        now,
                        Event::Hold {
                            until: now + secs(5),
                        },
                    );
                    a.handle(now, Event::InterfaceDown);
                }
                if now >= down_at && now < up_at {
                    wire_a = false;
                }
                let mut acts_a = a.handle_timeout(now);
                if now == up_at {
                    acts_a.extend(a.handle(now, Event::InterfaceUp));
                }
                let acts_b = b.handle_timeout(now);
                for act in &acts_a {
                    match act {
                        Action::SendAdvert { priority } if wire_a => {
                            b.handle(
                                now,
                                Event::Advert {
                                    src: ip(10),
                                    priority: *priority,
                                    max_adver_int: 100,
                                },
                            );
                        }
                        Action::StateChanged {
                            from: State::Master,
                            ..
                        } => a_left_master += 1,
                        _ => {}
                    }
                }
                for act in &acts_b {
                    match act {
                        Action::SendAdvert { priority } if wire_a => {
                            let acts = a.handle(
                                now,
                                Event::Advert {
                                    src: ip(20),
                                    priority: *priority,
                                    max_adver_int: 100,
                                },
                            );
                            for act in acts {
                                if let Action::StateChanged {
                                    from: State::Master,
                                    ..
                                } = act
                                {
                                    a_left_master += 1;
                                }
                            }
                        }
                        Action::StateChanged {
                            to: State::Master, ..
                        } => b_became_master += 1,
                        _ => {}
                    }
                }
            }
            assert_eq!(
                a_left_master, 0,
                "bounce {bounce_ms} ms: the master never left MASTER"
            );
            assert_eq!(
                b_became_master > 0,
                backup_takes_over,
                "bounce {bounce_ms} ms"
            );
            assert_eq!(
                (a.state(), b.state()),
                (State::Master, State::Backup),
                "bounce {bounce_ms} ms"
            );
        }
    }
}

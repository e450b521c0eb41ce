//! The state table of one virtual router (RFC 5798 6.4, RFC 3768 6.4).

use std::net::IpAddr;
use std::time::Duration;

use super::faults::Faults;
use super::hold::Hold;
use super::params::{master_down_interval, next_advert_at, skew_time};
use super::timers::{Timer, Timers};
use super::{Action, Event, Found, Params, Reason, State, Time};
use crate::config::{FoundVips, InitialState};

/// One virtual router.
#[derive(Debug, Clone)]
pub struct Router {
    pub(super) params: Params,
    pub(super) state: State,
    /// Current priority (base priority, later adjusted by trackers).
    pub(super) priority: u8,
    /// RFC 5798 6.1 Master_Adver_Interval: ours as master, the master's as backup.
    pub(super) master_adver_interval: Duration,
    local_v4: Option<IpAddr>,
    local_v6: Option<IpAddr>,
    pub(super) master_addr: Option<IpAddr>,
    pub(super) master_priority: Option<u8>,
    pub(super) timers: Timers,
    /// Rounds left in a spaced announcement burst.
    pub(super) announce_left: u32,
    last_transition: Option<(Time, Reason)>,
    /// A planned bounce announced by [`Event::Hold`].
    pub(super) hold: Hold,
    /// What keeps (or would keep) the router in FAULT.
    pub(super) faults: Faults,
    /// The latest `now` seen: time never runs backwards (calling contract).
    latest_now: Time,
    /// As master, when an advert of a master we outrank was last heard:
    /// a split-brain episode lasts while they keep coming.
    pub(super) dual_master_heard: Option<Time>,
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
            timers: Timers::default(),
            announce_left: 0,
            last_transition: None,
            hold: Hold::None,
            faults: Faults::default(),
            latest_now: Time::ZERO,
            dual_master_heard: None,
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
    /// Deadline of one timer, when armed.
    pub fn timer(&self, timer: Timer) -> Option<Time> {
        self.timers.get(timer)
    }
    /// Deadline of the Master_Down_Timer, when armed.
    pub fn master_down_at(&self) -> Option<Time> {
        self.timers.get(Timer::MasterDown)
    }

    /// Our primary address of a family, used for the equal-priority tie-break.
    pub fn set_local_address(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(_) => self.local_v4 = Some(addr),
            IpAddr::V6(_) => self.local_v6 = Some(addr),
        }
    }

    pub(super) fn local_address_for(&self, family_of: IpAddr) -> Option<IpAddr> {
        match family_of {
            IpAddr::V4(_) => self.local_v4,
            IpAddr::V6(_) => self.local_v6,
        }
    }

    /// The earliest time the driver must call [`Router::handle_timeout`].
    pub fn poll_at(&self) -> Option<Time> {
        self.timers
            .earliest()
            .into_iter()
            .chain(self.held_down_until())
            .min()
    }

    /// `now` as the calling contract reads it: never before a time seen.
    fn observe(&mut self, now: Time) -> Time {
        self.latest_now = self.latest_now.max(now);
        self.latest_now
    }

    pub(super) fn skew(&self) -> Duration {
        skew_time(
            self.params.version,
            self.priority,
            self.master_adver_interval,
        )
    }

    pub(super) fn down_interval(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.priority,
            self.master_adver_interval,
        )
    }

    pub(super) fn transition(
        &mut self,
        now: Time,
        to: State,
        reason: Reason,
        out: &mut Vec<Action>,
    ) {
        let from = self.state;
        self.state = to;
        self.last_transition = Some((now, reason));
        self.timers.clear(Timer::Preempt);
        self.hold = Hold::None;
        if to != State::Master {
            self.timers.clear_all(&Timer::MASTER);
            self.announce_left = 0;
            self.dual_master_heard = None;
        }
        if to != State::Backup {
            self.timers.clear(Timer::MasterDown);
        }
        out.push(Action::StateChanged { from, to, reason });
    }

    /// RFC 5798 6.4.1 / 6.4.2 "Master_Down_Timer fires": send an advert,
    /// announce the VIPs, arm the Adver_Timer, become master.
    pub(super) fn become_master(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        self.master_adver_interval = self.params.advert_interval;
        self.master_addr = None;
        self.master_priority = Some(self.priority);
        self.transition(now, State::Master, reason, out);
        out.push(Action::AddVips);
        self.advertise_now(now, out);
        self.start_announcing(now, out);
    }

    /// Sends an advert at once and restarts the Adver_Timer from now.
    pub(super) fn advertise_now(&mut self, now: Time, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        self.timers.set(
            Timer::Adver,
            next_advert_at(now, self.params.advert_interval),
        );
    }

    /// The first announcement burst, and the second one and the refresh
    /// planned after it.
    pub(super) fn start_announcing(&mut self, now: Time, out: &mut Vec<Action>) {
        let plan = self.params.announce;
        self.announce_burst(now, out);
        self.timers.set_opt(
            Timer::SecondBurst,
            (!plan.second_burst_after.is_zero() && plan.repeat > 0)
                .then(|| now + plan.second_burst_after),
        );
        self.timers.set_opt(
            Timer::Refresh,
            (!plan.refresh.is_zero()).then(|| now + plan.refresh),
        );
    }

    /// One burst: `repeat` rounds, back to back or spaced by `interval`.
    pub(super) fn announce_burst(&mut self, now: Time, out: &mut Vec<Action>) {
        let plan = self.params.announce;
        if plan.repeat == 0 {
            return;
        }
        if plan.interval.is_zero() {
            out.push(Action::Announce {
                rounds: plan.repeat,
            });
            self.announce_left = 0;
            self.timers.clear(Timer::AnnounceRound);
        } else {
            out.push(Action::Announce { rounds: 1 });
            self.announce_left = plan.repeat - 1;
            self.timers.set_opt(
                Timer::AnnounceRound,
                (self.announce_left > 0).then(|| now + plan.interval),
            );
        }
    }

    /// RFC 5798 6.4.1 (Initialize) on Startup, also used on InterfaceUp.
    pub(super) fn start(&mut self, now: Time, reason: Reason, out: &mut Vec<Action>) {
        if self.priority == 255 {
            self.become_master(now, Reason::AddressOwner, out);
        } else if self.params.initial_state == InitialState::Master {
            self.become_master(now, Reason::InitialStateMaster, out);
        } else {
            self.master_adver_interval = self.params.advert_interval;
            self.master_addr = None;
            self.master_priority = None;
            self.transition(now, State::Backup, reason, out);
            self.timers
                .set(Timer::MasterDown, now + self.down_interval());
        }
    }

    /// [`Event::StartupWith`]: the warm-start rule (docs/restart.md).
    ///
    /// Every VIP in place (and `found_vips: keep`): we were master a moment
    /// ago, so resume as master without an election. That is safe because
    /// the master rules settle whatever happened meanwhile: a backup still
    /// waiting out its Master_Down_Interval hears us and stays backup; one
    /// that already took over (lower priority, or equal priority and a
    /// lower address) hears a better master and steps down; a better one
    /// makes us step down at once when we hear it. So the worst case is a
    /// dual-master window of one advert's flight, the same as two backups
    /// whose Master_Down_Timers fire together. The address owner (priority
    /// 255) is master anyway.
    ///
    /// Only some VIPs, or VIPs not as this configuration puts them: not a
    /// state this configuration left, so no claim to mastership. Start cold
    /// and remove them, unless the start makes us master anyway.
    fn start_with(&mut self, now: Time, found: Found, out: &mut Vec<Action>) {
        if found == Found::AllVips
            && self.params.found_vips == FoundVips::Keep
            && self.priority != 255
        {
            self.become_master(now, Reason::WarmStart, out);
            return;
        }
        self.start(now, Reason::Startup, out);
        self.release_found(found, out);
    }

    /// VIPs found at startup are not kept by a router that is not master
    /// (a backup, or FAULT because the link was down at startup): another
    /// router may hold them.
    fn release_found(&mut self, found: Found, out: &mut Vec<Action>) {
        if found != Found::Nothing && self.state != State::Master {
            out.push(Action::RemoveVips);
        }
    }

    /// The priority in use changed (trackers, a reload).
    pub(super) fn set_priority(&mut self, priority: u8) {
        self.priority = priority;
        if self.state == State::Master {
            self.master_priority = Some(priority);
        }
    }

    /// [`Event::SetPriority`]: a master tells its peers at once.
    fn priority_changed(&mut self, now: Time, priority: u8, out: &mut Vec<Action>) {
        let changed = priority != self.priority;
        self.set_priority(priority);
        if changed && self.state == State::Master {
            self.advertise_now(now, out);
        }
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Time, event: Event) -> Vec<Action> {
        let now = self.observe(now);
        let mut out = Vec::new();
        if self.hold.is_held_down() {
            self.handle_held_down(now, event, &mut out);
            return out;
        }
        match (self.state, event) {
            (State::Initialize, Event::Startup) => self.start(now, Reason::Startup, &mut out),
            (_, Event::Startup) => {}
            (State::Initialize, Event::StartupWith(found)) => self.start_with(now, found, &mut out),
            (_, Event::StartupWith(found)) => self.release_found(found, &mut out),

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

            (_, Event::Hold { until }) => self.hold = Hold::armed(now, until),
            (State::Master | State::Backup, Event::InterfaceDown) if self.hold.is_active(now) => {
                self.faults.link = true;
                self.suspend();
            }
            (_, Event::InterfaceDown) => self.link_down(now, &mut out),
            (_, Event::InterfaceUp) => self.link_up(now, &mut out),
            (_, Event::Health { fault }) => self.health(now, fault, &mut out),

            (State::Master, Event::VipsLost) => {
                out.push(Action::AddVips);
                self.announce_burst(now, &mut out);
            }
            (_, Event::VipsLost) => {}

            (_, Event::SetPriority(p)) => self.priority_changed(now, p, &mut out),
            (
                _,
                Event::Reconfigure {
                    params,
                    vips_changed,
                },
            ) => self.reconfigure(now, params, vips_changed, &mut out),
        }
        out
    }

    /// Fires every timer due at `now`; returns the actions in order.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<Action> {
        let now = self.observe(now);
        let mut out = Vec::new();
        if self.hold.is_held_down() {
            if self.hold.has_ended(now) {
                self.hold_expired(now, &mut out);
            }
            return out;
        }
        self.hold.lapse(now);
        match self.state {
            State::Backup => self.backup_timeout(now, &mut out),
            State::Master => self.master_timeout(now, &mut out),
            State::Initialize | State::Fault => {}
        }
        out
    }

    fn backup_timeout(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.timers.is_due(Timer::Preempt, now) {
            self.timers.clear(Timer::Preempt);
            self.become_master(now, Reason::PreemptDelayElapsed, out);
        } else if self.timers.is_due(Timer::MasterDown, now) {
            let reason = if self.master_priority == Some(0) {
                Reason::PriorityZeroSeen
            } else if self.master_priority.is_some_and(|p| p < self.priority) {
                Reason::Preempted
            } else {
                Reason::MasterDown
            };
            self.become_master(now, reason, out);
        }
    }

    fn master_timeout(&mut self, now: Time, out: &mut Vec<Action>) {
        let interval = self.params.advert_interval;
        if let Some(due) = self.timers.get(Timer::Adver).filter(|at| *at <= now) {
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
            // Re-arm from the deadline, not from `now`, so a late wakeup
            // does not stretch every later interval.
            let mut next = next_advert_at(due, interval);
            if next <= now {
                next = next_advert_at(now, interval);
            }
            self.timers.set(Timer::Adver, next);
        }
        if self.timers.is_due(Timer::AnnounceRound, now) {
            out.push(Action::Announce { rounds: 1 });
            self.announce_left = self.announce_left.saturating_sub(1);
            self.timers.set_opt(
                Timer::AnnounceRound,
                (self.announce_left > 0).then(|| now + self.params.announce.interval),
            );
        }
        if self.timers.is_due(Timer::SecondBurst, now) {
            self.timers.clear(Timer::SecondBurst);
            self.announce_burst(now, out);
        }
        if self.timers.is_due(Timer::Refresh, now) {
            out.push(Action::Announce { rounds: 1 });
            self.timers
                .set(Timer::Refresh, now + self.params.announce.refresh);
        }
    }
}

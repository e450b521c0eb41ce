//! Unit tests of the router against the RFC's state tables, in virtual time.

use super::*;
use crate::config::{InitialState, VrrpVersion};
use std::net::Ipv4Addr;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// The point `d` after the epoch.
fn epoch_plus(d: Duration) -> Time {
    Time::ZERO + d
}

use super::sim::test_params as params;

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
    actions.iter().any(
        |a| matches!(a, Action::StateChanged { to, reason: r, .. } if *to == state && *r == reason),
    )
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
    let acts = r.handle(Time::ZERO, Event::Startup);
    assert!(to(State::Backup, Reason::Startup, &acts));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(
        r.poll_at(),
        Some(epoch_plus(Duration::from_micros(3_609_375)))
    );
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
    let acts = r.handle(Time::ZERO, Event::Startup);
    assert!(to(State::Master, Reason::AddressOwner, &acts));
    assert!(acts.contains(&Action::SendAdvert { priority: 255 }));
    assert!(acts.contains(&Action::AddVips));
    assert!(acts.contains(&Action::Announce { rounds: 1 }));
    assert_eq!(
        r.poll_at(),
        Some(epoch_plus(Duration::from_secs(1))),
        "Adver_Timer armed"
    );
}

#[test]
fn initial_state_master_skips_the_wait() {
    let mut p = params(VrrpVersion::V3, 100, Duration::from_secs(1));
    p.initial_state = InitialState::Master;
    let mut r = Router::new(p);
    let acts = r.handle(Time::ZERO, Event::Startup);
    assert!(to(State::Master, Reason::InitialStateMaster, &acts));
}

// RFC 5798 6.4.2: Master_Down_Timer fires -> advert, GARP, Adver_Timer, Master.
#[test]
fn master_down_timer_makes_backup_master() {
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    let (at, acts) = step(&mut r);
    assert_eq!(at, epoch_plus(Duration::from_micros(3_609_375)));
    assert!(to(State::Master, Reason::MasterDown, &acts));
    let pos = |x: &Action| acts.iter().position(|a| a == x).unwrap();
    assert!(
        pos(&Action::AddVips) < pos(&Action::Announce { rounds: 1 }),
        "VIPs before GARP"
    );
    assert!(acts.contains(&Action::SendAdvert { priority: 100 }));
    // Adver_Timer: one interval on, brought back to the advert grid (250 ms
    // steps for a 1 s interval): 4.609375 s -> 4.5 s.
    assert_eq!(r.poll_at(), Some(Time::from_millis(4_500)));
}

// RFC 5798 6.4.2: priority-0 advert -> Master_Down_Timer = Skew_Time.
#[test]
fn priority_zero_advert_gives_skew_time_takeover() {
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    let t = Time::from_millis(500);
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
    r.handle(Time::ZERO, Event::Startup);
    let t = Time::from_millis(100);
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
    r.handle(Time::ZERO, Event::Startup);
    r.handle(
        epoch_plus(Duration::ZERO),
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
    r.handle(Time::ZERO, Event::Startup);
    let first = r.poll_at().unwrap();
    r.handle(Time::from_millis(100), advert(20, 100));
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
    r.handle(Time::ZERO, Event::Startup);
    for i in 1..100u64 {
        let now = Time::from_secs(i);
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
    r.handle(Time::ZERO, Event::Startup);
    let mut t = Time::from_millis(100);
    let mut became = None;
    while t < epoch_plus(Duration::from_secs(20)) {
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
    assert_eq!(became, Some(epoch_plus(Duration::from_millis(5100))));
}

// RFC 5798 6.4.2: Shutdown in Backup -> cancel timer, Initialize.
#[test]
fn backup_shutdown_is_silent() {
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    let acts = r.handle(epoch_plus(MS), Event::Shutdown);
    assert!(to(State::Initialize, Reason::Shutdown, &acts));
    assert!(!acts.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
    assert_eq!(r.poll_at(), None);
}

fn master(priority: u8) -> Router {
    let mut r = v3(priority);
    r.handle(Time::ZERO, Event::Startup);
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

// The Adver_Timer's grid (`params::next_advert_at`): one interval on,
// never later, at most a quarter interval earlier, and exact once on it.
#[test]
fn advert_deadlines_sit_on_a_quarter_interval_grid() {
    use super::params::{ADVERT_SLOTS, next_advert_at};
    let iv = Duration::from_millis(20);
    let step = iv / ADVERT_SLOTS;
    for us in [0u64, 1, 4_999, 5_000, 5_001, 123_456, 3_609_375] {
        let from = Time::ZERO + Duration::from_micros(us);
        let next = next_advert_at(from, iv);
        assert!(next <= from + iv, "never later than one interval ({us} us)");
        assert!(
            next > from + (iv - step),
            "at most one step early ({us} us)"
        );
        assert_eq!(
            next.since_epoch().as_nanos() % step.as_nanos(),
            0,
            "on the grid ({us} us)"
        );
        assert_eq!(next_advert_at(next, iv), next + iv, "exact once on it");
    }
    // An interval too short to divide: no grid.
    let tiny = Duration::from_nanos(3);
    assert_eq!(
        next_advert_at(Time::ZERO + tiny, tiny),
        Time::ZERO + 2 * tiny
    );
}

// Issue 15: masters that took over at scattered moments send in at most
// ADVERT_SLOTS bursts per interval from their second advert on (one
// wake-up per burst for the sender and for a backup hearing them), each
// still advertising once per interval. Without the grid: 64 instants.
#[test]
fn many_masters_advertise_in_a_few_bursts_per_interval() {
    use super::params::ADVERT_SLOTS;
    use std::collections::BTreeSet;
    let iv = Duration::from_millis(20);
    let mut routers: Vec<Router> = (0..64u64)
        .map(|i| {
            let mut r = Router::new(params(VrrpVersion::V3, 100, iv));
            r.set_local_address(ip(10));
            r.handle(Time::ZERO, Event::Startup);
            // Each becomes master at its own moment (0.137 ms apart).
            let at = r.poll_at().unwrap() + Duration::from_micros(137 * i);
            r.handle_timeout(at);
            assert_eq!(r.state(), State::Master);
            r
        })
        .collect();
    let start = Time::from_secs(1);
    let end = start + 10 * iv;
    let mut instants = BTreeSet::new();
    let mut per_router = vec![0usize; routers.len()];
    loop {
        let (idx, at) = routers
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.poll_at().unwrap()))
            .min_by_key(|(_, t)| *t)
            .unwrap();
        if at >= end {
            break;
        }
        let acts = routers[idx].handle_timeout(at);
        if at >= start && acts.contains(&Action::SendAdvert { priority: 100 }) {
            instants.insert(at);
            per_router[idx] += 1;
        }
    }
    assert!(
        per_router.iter().all(|n| *n == 10),
        "each advertises once per interval: {per_router:?}"
    );
    assert!(
        instants.len() <= 10 * ADVERT_SLOTS as usize,
        "{} send instants in 10 intervals",
        instants.len()
    );
}

// RFC 5798 6.4.3: Shutdown -> priority-0 advert, Initialize.
#[test]
fn master_shutdown_sends_priority_zero_and_removes_vips() {
    let mut r = master(100);
    let acts = r.handle(Time::from_secs(10), Event::Shutdown);
    assert_eq!(acts[0], Action::SendAdvert { priority: 0 });
    assert!(acts.contains(&Action::RemoveVips));
    assert!(to(State::Initialize, Reason::Shutdown, &acts));
    assert_eq!(r.poll_at(), None);
}

// RFC 5798 6.4.3: priority-0 advert received by master -> send advert, reset timer.
#[test]
fn master_answers_priority_zero_at_once() {
    let mut r = master(100);
    let now = Time::from_millis(3_700);
    let acts = r.handle(now, advert(20, 0));
    assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
    // Reset: one interval on, on the advert grid (4.7 s -> 4.5 s).
    assert_eq!(r.poll_at(), Some(Time::from_millis(4_500)));
    assert_eq!(r.state(), State::Master);
}

// RFC 5798 6.4.3: greater priority -> Backup with the sender's interval.
#[test]
fn master_yields_to_higher_priority() {
    let mut r = master(100);
    let now = Time::from_secs(5);
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
    let acts = r.handle(Time::from_secs(5), advert(9, 100));
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::StateChanged { .. })),
        "{acts:?}"
    );
    assert_eq!(r.state(), State::Master);
    let acts = r.handle(Time::from_secs(5), advert(11, 100));
    assert!(to(State::Backup, Reason::HigherPriorityMaster, &acts));
}

// RFC 5798 6.4.3: lower priority -> discard; the advert came from another
// master (a split brain), so by default the master answers at once and
// announces its VIPs once per episode.
#[test]
fn master_answers_a_lower_priority_master() {
    let mut r = master(100);
    let t = Time::from_secs(5);
    let acts = r.handle(t, advert(250, 99));
    assert_eq!(
        acts,
        vec![
            Action::DualMaster {
                peer: ip(250),
                peer_priority: 99
            },
            Action::SendAdvert { priority: 100 },
            Action::Announce { rounds: 1 },
        ]
    );
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        r.timer(Timer::Adver),
        Some(t + Duration::from_secs(1)),
        "the advert schedule restarts from the answer"
    );
    // The same episode: an advert each time, no new count or burst.
    let acts = r.handle(t + Duration::from_millis(300), advert(250, 99));
    assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
    // Equal priority from a lower address is a master we outrank too.
    let acts = r.handle(t + Duration::from_millis(600), advert(9, 100));
    assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
    // Silence longer than Master_Down_Interval ends the episode.
    let later = t + Duration::from_millis(600) + Duration::from_secs(4);
    let acts = r.handle(later, advert(250, 99));
    assert_eq!(acts.len(), 3, "a new episode: {acts:?}");
    assert!(matches!(acts[0], Action::DualMaster { .. }));
    // Leaving MASTER forgets the episode.
    r.handle(later, advert(251, 200));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn master_ignoring_lower_priority_still_counts_it() {
    let mut p = params(VrrpVersion::V3, 100, Duration::from_secs(1));
    p.lower_priority_master = crate::config::LowerPriorityMaster::Ignore;
    let mut r = Router::new(p);
    r.set_local_address(ip(10));
    r.handle(Time::ZERO, Event::Startup);
    step(&mut r);
    assert_eq!(r.state(), State::Master);
    let acts = r.handle(Time::from_secs(5), advert(250, 99));
    assert_eq!(
        acts,
        vec![Action::DualMaster {
            peer: ip(250),
            peer_priority: 99
        }]
    );
    assert!(r.handle(Time::from_secs(6), advert(250, 99)).is_empty());
    assert_eq!(r.state(), State::Master);
}

// After answering a lower-priority master, the master announces once more
// an advert interval later: the other's own takeover burst can reach the
// LAN after ours (tests/soak.rs saw it, resumed backups).
#[test]
fn master_answers_lower_priority_and_reannounces() {
    let mut r = master(100);
    let now = Time::from_secs(5);
    let acts = r.handle(now, advert(250, 99));
    assert!(
        acts.iter().any(|a| matches!(a, Action::Announce { .. })),
        "{acts:?}"
    );
    assert!(!acts.contains(&Action::RemoveVips));
    assert_eq!(r.state(), State::Master);
    // Announced once more an interval later, with the regular advert.
    assert_eq!(r.poll_at(), Some(now + Duration::from_secs(1)));
    let (_, later) = step(&mut r);
    assert!(
        later.iter().any(|a| matches!(a, Action::Announce { .. })),
        "{later:?}"
    );
    assert!(later.contains(&Action::SendAdvert { priority: 100 }));
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
    let acts = r.handle(Time::ZERO, Event::Startup);
    record(Time::ZERO, &acts, &mut rounds);
    while let Some(at) = r.poll_at() {
        if at > Time::from_secs(130) {
            break;
        }
        let acts = r.handle_timeout(at);
        record(at, &acts, &mut rounds);
    }
    let ms = Time::from_millis;
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
    let acts = r.handle(Time::ZERO, Event::Startup);
    assert!(acts.contains(&Action::Announce { rounds: 5 }));
}

#[test]
fn fault_on_link_down_and_recovery() {
    let mut r = master(100);
    let acts = r.handle(Time::from_secs(10), Event::InterfaceDown);
    assert!(acts.contains(&Action::RemoveVips));
    assert!(to(State::Fault, Reason::InterfaceDown, &acts));
    assert_eq!(r.poll_at(), None, "no adverts while in fault");
    assert!(r.handle(Time::from_secs(11), advert(20, 200)).is_empty());
    let acts = r.handle(Time::from_secs(12), Event::InterfaceUp);
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
    let acts = r.handle(Time::ZERO, Event::InterfaceDown);
    assert!(to(State::Fault, Reason::InterfaceDown, &acts));
    assert!(
        r.handle(epoch_plus(MS), Event::Startup).is_empty(),
        "no election while the link is down"
    );
    let acts = r.handle(epoch_plus(2 * MS), Event::InterfaceUp);
    assert!(to(State::Backup, Reason::InterfaceUp, &acts));
}

#[test]
fn master_restores_lost_vips_in_place() {
    let mut r = master(100);
    let acts = r.handle(Time::from_secs(10), Event::VipsLost);
    assert_eq!(acts, vec![Action::AddVips, Action::Announce { rounds: 1 }]);
    assert_eq!(r.state(), State::Master);
    // A backup has nothing to restore.
    let mut b = v3(100);
    b.handle(Time::ZERO, Event::Startup);
    assert!(b.handle(epoch_plus(MS), Event::VipsLost).is_empty());
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
        assert!(r.handle(Time::ZERO, e).is_empty());
    }
    assert!(r.handle_timeout(Time::from_secs(100)).is_empty());
    assert_eq!(r.state(), State::Initialize);
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at_secs(s: u64) -> Time {
    Time::from_secs(s)
}

// A planned bounce within the hold: no FAULT, no VIP removal, nothing
// sent while the link is down; link up -> VIPs, advert, announce at once.
#[test]
fn hold_keeps_master_through_a_bounce() {
    let mut r = master(100);
    let t = at_secs(10);
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
        Some(crate::vrrp::params::next_advert_at(up, secs(1))),
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
    let t = at_secs(10);
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
    let t = at_secs(10);
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
    r.handle(Time::ZERO, Event::Startup);
    r.handle(epoch_plus(MS), advert(20, 200));
    let t = at_secs(1);
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
    let t = at_secs(10);
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
            until: epoch_plus(Duration::ZERO),
        },
    );
    assert!(acts.contains(&Action::RemoveVips));
    assert!(to(State::Fault, Reason::InterfaceDown, &acts));
}

// Shutdown while held down still leaves gracefully.
#[test]
fn shutdown_while_held_down() {
    let mut r = master(100);
    let t = at_secs(10);
    r.handle(t, Event::Hold { until: t + secs(5) });
    r.handle(t + MS, Event::InterfaceDown);
    let acts = r.handle(t + 2 * MS, Event::Shutdown);
    assert!(acts.contains(&Action::RemoveVips));
    assert!(to(State::Initialize, Reason::Shutdown, &acts));
    assert_eq!(r.poll_at(), None);
}

// Calling contract: a wakeup before anything is due does nothing, in every
// state, and leaves every deadline as it was.
#[test]
fn spurious_timeouts_do_nothing() {
    let mut backup = v3(100);
    backup.handle(Time::ZERO, Event::Startup);
    let mut held = master(100);
    let t = held.poll_at().unwrap();
    held.handle(t, Event::Hold { until: t + secs(5) });
    held.handle(t, Event::InterfaceDown);
    let mut fault = v3(100);
    fault.handle(Time::ZERO, Event::InterfaceDown);
    for mut r in [v3(100), backup, master(100), held, fault] {
        let before = (r.poll_at(), r.state());
        let early = match r.poll_at() {
            Some(due) => due - Duration::from_nanos(1),
            None => Time::from_secs(1_000),
        };
        assert!(r.handle_timeout(early).is_empty(), "{:?}", r.state());
        assert!(r.handle_timeout(early).is_empty(), "twice");
        assert_eq!((r.poll_at(), r.state()), before);
    }
}

// Calling contract: a `now` before one already seen is read as the latest
// one: no deadline in the past, no panic.
#[test]
fn time_never_runs_backwards() {
    let mut r = master(100);
    let due = r.poll_at().unwrap();
    let acts = r.handle_timeout(due);
    assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
    let next = r.poll_at().unwrap();
    assert_eq!(next, due + secs(1));
    // An event stamped long before: the timer it arms counts from `due`.
    r.handle(Time::ZERO, advert(20, 0));
    assert_eq!(r.poll_at(), Some(due + secs(1)));
    assert!(r.handle_timeout(Time::ZERO).is_empty());
}

fn reconfigure(params: Params, vips_changed: bool) -> Event {
    Event::Reconfigure {
        params,
        vips_changed,
    }
}

// Hitless reload, per field, on a master: a priority or interval change is
// advertised at once, nothing else is sent, the state is kept.
#[test]
fn reconfigure_master_in_place() {
    let base = params(VrrpVersion::V3, 100, secs(1));
    let t = Time::from_secs(20);
    // Priority.
    let mut r = master(100);
    let mut p = base.clone();
    p.priority = 120;
    let acts = r.handle(t, reconfigure(p, false));
    assert_eq!(acts, vec![Action::SendAdvert { priority: 120 }]);
    assert_eq!(
        (r.state(), r.priority(), r.master_priority()),
        (State::Master, 120, Some(120))
    );
    assert_eq!(r.poll_at(), Some(t + secs(1)), "Adver_Timer restarted");
    // Interval.
    let mut r = master(100);
    let mut p = base.clone();
    p.advert_interval = Duration::from_millis(250);
    let acts = r.handle(t, reconfigure(p, false));
    assert_eq!(acts, vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(r.master_adver_interval(), Duration::from_millis(250));
    assert_eq!(r.poll_at(), Some(t + Duration::from_millis(250)));
    // VIPs: re-added, advertised, announced; never removed (the driver
    // removes the ones no longer configured).
    let mut r = master(100);
    let acts = r.handle(t, reconfigure(base.clone(), true));
    assert_eq!(
        acts,
        vec![
            Action::AddVips,
            Action::SendAdvert { priority: 100 },
            Action::Announce { rounds: 1 }
        ]
    );
    // Preempt, preempt delay, initial state, announcement plan: nothing to
    // send; a new refresh period is armed from now.
    let mut r = master(100);
    let before = r.poll_at();
    let mut p = base.clone();
    p.preempt = false;
    p.preempt_delay = secs(3);
    p.initial_state = InitialState::Master;
    p.announce.repeat = 4;
    p.announce.refresh = secs(30);
    assert!(r.handle(t, reconfigure(p.clone(), false)).is_empty());
    assert_eq!(r.params(), &p);
    assert_eq!(r.poll_at(), before);
    assert_eq!(r.timer(Timer::Refresh), Some(t + secs(30)));
    p.announce.refresh = Duration::ZERO;
    r.handle(t, reconfigure(p, false));
    assert_eq!(r.timer(Timer::Refresh), None);
    // Unchanged settings: nothing at all.
    let mut r = master(100);
    assert!(r.handle(t, reconfigure(base, false)).is_empty());
}

// Hitless reload on a backup.
#[test]
fn reconfigure_backup_in_place() {
    let base = params(VrrpVersion::V3, 100, secs(1));
    let t = Time::from_secs(1);
    // A priority change sends nothing and keeps the heard master.
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    r.handle(t, advert(20, 200));
    let mut p = base.clone();
    p.priority = 150;
    assert!(r.handle(t, reconfigure(p, true)).is_empty());
    assert_eq!(
        (r.state(), r.priority(), r.master_addr()),
        (State::Backup, 150, Some(ip(20)))
    );
    // Becoming the address owner makes it master at once.
    let mut p = base.clone();
    p.priority = 255;
    let acts = r.handle(t, reconfigure(p, false));
    assert!(to(State::Master, Reason::AddressOwner, &acts));
    // v3: the interval heard from the master stays in use.
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    r.handle(t, advert(20, 200));
    let mut p = base.clone();
    p.advert_interval = secs(2);
    r.handle(t, reconfigure(p.clone(), false));
    assert_eq!(r.master_adver_interval(), secs(1));
    // v3 with no master heard yet, and v2: our own interval, re-armed now.
    let mut r = v3(100);
    r.handle(Time::ZERO, Event::Startup);
    r.handle(t, reconfigure(p, false));
    assert_eq!(r.master_adver_interval(), secs(2));
    assert_eq!(
        r.master_down_at(),
        Some(t + master_down_interval(VrrpVersion::V3, 100, secs(2)))
    );
    let mut r = Router::new(params(VrrpVersion::V2, 100, secs(1)));
    r.handle(Time::ZERO, Event::Startup);
    r.handle(t, advert(20, 200));
    let mut p = params(VrrpVersion::V2, 100, secs(3));
    p.priority = 100;
    r.handle(t, reconfigure(p, false));
    assert_eq!(
        r.master_down_at(),
        Some(t + master_down_interval(VrrpVersion::V2, 100, secs(3)))
    );
    // Turning preempt off cancels a running preempt delay.
    let mut p = params(VrrpVersion::V3, 150, secs(1));
    p.preempt_delay = secs(5);
    let mut r = Router::new(p.clone());
    r.handle(Time::ZERO, Event::Startup);
    r.handle(t, advert(20, 100));
    assert!(r.timer(Timer::Preempt).is_some());
    p.preempt = false;
    r.handle(t, reconfigure(p, false));
    assert_eq!(r.timer(Timer::Preempt), None);
}

// Reload while the link is down within a hold: taken, acted on when the
// link is back.
#[test]
fn reconfigure_while_held_down() {
    let mut r = master(100);
    let t = at_secs(10);
    r.handle(t, Event::Hold { until: t + secs(5) });
    r.handle(t, Event::InterfaceDown);
    let mut p = params(VrrpVersion::V3, 100, secs(1));
    p.priority = 130;
    assert!(r.handle(t + MS, reconfigure(p, true)).is_empty());
    let acts = r.handle(t + secs(1), Event::InterfaceUp);
    assert!(acts.contains(&Action::AddVips));
    assert!(acts.contains(&Action::SendAdvert { priority: 130 }));
}

// Health: a master whose tracker fails leaves as on shutdown (priority 0,
// VIPs removed) into FAULT; back to health, it starts again.
#[test]
fn health_fault_and_recovery() {
    let mut r = master(100);
    let t = at_secs(10);
    let acts = r.handle(t, Event::Health { fault: true });
    assert_eq!(acts[0], Action::SendAdvert { priority: 0 });
    assert_eq!(acts[1], Action::RemoveVips);
    assert!(to(State::Fault, Reason::HealthFault, &acts));
    assert_eq!(r.poll_at(), None);
    assert!(r.handle(t + MS, Event::Health { fault: true }).is_empty());
    assert!(
        r.handle(t + MS, advert(20, 50)).is_empty(),
        "FAULT hears nothing"
    );
    let acts = r.handle(t + secs(1), Event::Health { fault: false });
    assert!(to(State::Backup, Reason::HealthRecovered, &acts));
    // A backup just goes to FAULT, silently.
    let mut b = v3(100);
    b.handle(Time::ZERO, Event::Startup);
    let acts = b.handle(t, Event::Health { fault: true });
    assert_eq!(acts.len(), 1);
    assert!(to(State::Fault, Reason::HealthFault, &acts));
    // Before startup: FAULT at once, no election until health is back.
    let mut i = v3(100);
    assert!(to(
        State::Fault,
        Reason::HealthFault,
        &i.handle(Time::ZERO, Event::Health { fault: true })
    ));
    assert!(i.handle(Time::ZERO, Event::Startup).is_empty());
}

// FAULT lasts while either the link or health says so.
#[test]
fn fault_needs_both_link_and_health_clear() {
    let mut r = master(100);
    let t = at_secs(10);
    r.handle(t, Event::InterfaceDown);
    r.handle(t, Event::Health { fault: true });
    assert!(
        r.handle(t + MS, Event::InterfaceUp).is_empty(),
        "health still down"
    );
    assert_eq!(r.state(), State::Fault);
    r.handle(t + MS, Event::InterfaceDown);
    assert!(
        r.handle(t + 2 * MS, Event::Health { fault: false })
            .is_empty(),
        "link still down"
    );
    let acts = r.handle(t + 3 * MS, Event::InterfaceUp);
    assert!(to(State::Backup, Reason::InterfaceUp, &acts));
}

// Health failing while the link is down within a hold: FAULT when the
// link comes back, not a resumed master.
#[test]
fn health_fault_during_a_hold() {
    let mut r = master(100);
    let t = at_secs(10);
    r.handle(t, Event::Hold { until: t + secs(5) });
    r.handle(t, Event::InterfaceDown);
    assert!(r.handle(t + MS, Event::Health { fault: true }).is_empty());
    let acts = r.handle(t + secs(1), Event::InterfaceUp);
    assert!(to(State::Fault, Reason::HealthFault, &acts));
    assert!(acts.contains(&Action::RemoveVips));
    assert!(!acts.contains(&Action::AddVips));
}

// A weighted tracker moves the priority; a master advertises it at once.
#[test]
fn set_priority_is_advertised_by_a_master() {
    let mut r = master(100);
    let t = at_secs(10);
    assert_eq!(
        r.handle(t, Event::SetPriority(40)),
        vec![Action::SendAdvert { priority: 40 }]
    );
    assert_eq!((r.priority(), r.master_priority()), (40, Some(40)));
    assert_eq!(r.poll_at(), Some(t + secs(1)));
    assert!(
        r.handle(t, Event::SetPriority(40)).is_empty(),
        "no change, nothing sent"
    );
    let mut b = v3(100);
    b.handle(Time::ZERO, Event::Startup);
    assert!(
        b.handle(t, Event::SetPriority(150)).is_empty(),
        "a backup sends nothing"
    );
    assert_eq!(b.priority(), 150);
}

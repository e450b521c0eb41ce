//! Scenarios of N routers on the simulated wire ([`super::sim`]), written
//! as data: who runs with what, and what happens when.

use std::time::Duration;

use super::sim::{Loss, Op, Sim, Traced, test_params};
use super::{Action, Event, Found, Params, Reason, State, Time};
use crate::config::VrrpVersion;

fn params(priority: u8, interval_ms: u64) -> Params {
    test_params(
        VrrpVersion::V3,
        priority,
        Duration::from_millis(interval_ms),
    )
}

fn ms(m: u64) -> Time {
    Time::from_millis(m)
}

/// Whatever their priorities, exactly one router ends up master, the
/// highest (or the highest address on a tie: the later router), and it
/// stays so.
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
        let mut sim = Sim::new([params(pa, 100), params(pb, 100)]).started();
        sim.run_until(Time::from_secs(10));
        let winner = if pa > pb { 0 } else { 1 };
        assert_eq!(sim.masters(), vec![winner], "priorities {pa}/{pb}");
        let last_change = sim.trace.transitions().last().map(|t| t.0);
        assert!(
            last_change < Some(Time::from_secs(2)),
            "priorities {pa}/{pb}: settled early, changes: {:?}",
            sim.trace.transitions()
        );
    }
}

/// Three routers with a wire delay still elect the highest priority, and
/// the others hear it.
#[test]
fn three_routers_with_wire_delay_elect_the_highest() {
    let mut sim = Sim::new([params(100, 100), params(200, 100), params(150, 100)])
        .with_delay(Duration::from_millis(5))
        .started();
    sim.run_until(Time::from_secs(5));
    assert_eq!(sim.masters(), vec![1]);
    assert_eq!(sim.router(0).master_addr(), Some(super::sim::node_addr(1)));
    assert_eq!(sim.router(2).master_priority(), Some(200));
}

/// The master's link bounces under a 5 s hold. While the backup's
/// Master_Down_Interval (3.6 s from the last advert it heard, ~0.8 s before
/// the bounce) has not run out nobody changes role; beyond it the backup
/// takes over (correct VRRP) and the master, back with a higher priority,
/// preempts it again.
#[test]
fn bounce_under_hold() {
    for (bounce_ms, backup_takes_over) in [(500u64, false), (2_000, false), (4_500, true)] {
        let down_at = Time::from_secs(10);
        let up_at = down_at + Duration::from_millis(bounce_ms);
        let mut sim = Sim::new([params(200, 1000), params(100, 1000)])
            .started()
            .with_scenario([
                (
                    down_at,
                    Op::Feed(
                        0,
                        Event::Hold {
                            until: down_at + Duration::from_secs(5),
                        },
                    ),
                ),
                (down_at, Op::LinkDown(0)),
                (up_at, Op::LinkUp(0)),
            ]);
        sim.run_until(Time::from_secs(20));
        assert_eq!(
            sim.trace.left_master(0),
            0,
            "bounce {bounce_ms} ms: the master never left MASTER"
        );
        assert_eq!(
            sim.trace.became_master(1) > 0,
            backup_takes_over,
            "bounce {bounce_ms} ms"
        );
        assert_eq!(
            sim.states(),
            vec![State::Master, State::Backup],
            "bounce {bounce_ms} ms"
        );
    }
}

/// Adverts lost for less than Master_Down_Interval change nothing; for
/// longer, the backup takes over and yields again once the master's adverts
/// arrive (the master, of higher priority, discards the backup's).
#[test]
fn lost_adverts_against_master_down_interval() {
    // 1 s interval, backup priority 100: Master_Down_Interval 3.609 s. The
    // master (priority 200) advertises at 3.219 s + k s: 1.5 s of loss from
    // 10 s loses two adverts (a 3 s gap), 2.5 s three (a 4 s gap).
    for (loss_ms, takeover) in [(1_500u64, false), (2_500, true), (5_000, true)] {
        let from = Time::from_secs(10);
        let mut sim = Sim::new([params(200, 1000), params(100, 1000)])
            .started()
            .with_scenario([
                (from, Op::SetLoss(Loss::From(0))),
                (
                    from + Duration::from_millis(loss_ms),
                    Op::SetLoss(Loss::None),
                ),
            ]);
        sim.run_until(Time::from_secs(30));
        assert_eq!(
            sim.trace.became_master(1) > 0,
            takeover,
            "{loss_ms} ms of loss"
        );
        assert_eq!(sim.trace.left_master(0), 0, "{loss_ms} ms of loss");
        assert_eq!(sim.masters(), vec![0], "{loss_ms} ms of loss");
    }
}

/// A cut router (it does not notice) and a partition heal: both are master
/// while cut off, and one is again after.
#[test]
fn partition_and_heal() {
    let mut sim = Sim::new([params(200, 100), params(100, 100)])
        .started()
        .with_scenario([(ms(2_000), Op::Cut(0)), (ms(4_000), Op::Heal(0))]);
    sim.run_until(ms(3_000));
    assert_eq!(sim.masters(), vec![0, 1], "split brain while cut off");
    sim.run_until(ms(6_000));
    assert_eq!(sim.masters(), vec![0]);
    let back = sim
        .trace
        .transitions()
        .into_iter()
        .find(|t| t.1 == 1 && t.3 == State::Backup && t.0 >= ms(4_000))
        .expect("the backup steps down after the heal");
    assert_eq!(back.4, Reason::HigherPriorityMaster);
    assert!(
        back.0 <= ms(4_100),
        "at the master's first advert after the heal"
    );
}

/// 20 % random loss (seeded) over a minute at 100 ms: never two masters
/// for long, and exactly one once the loss stops.
#[test]
fn random_loss_settles_to_one_master() {
    let mut sim = Sim::new([params(200, 100), params(150, 100), params(100, 100)])
        .started()
        .with_scenario([
            (
                ms(1_000),
                Op::SetLoss(Loss::Random {
                    per_mille: 200,
                    seed: 0x5eed,
                }),
            ),
            (ms(61_000), Op::SetLoss(Loss::None)),
        ]);
    sim.run_until(ms(62_000));
    assert_eq!(sim.masters(), vec![0]);
    let lost = sim
        .trace
        .0
        .iter()
        .filter(|e| matches!(e.what, Traced::Lost { .. }))
        .count();
    assert!(lost > 100, "the loss model lost adverts: {lost}");
}

/// Time jumps to the next deadline: a minute of a master at 10 ms is about
/// 6,000 steps, and the adverts keep their exact 10 ms phase.
#[test]
fn time_jumps_to_the_earliest_deadline() {
    let mut sim = Sim::new([params(255, 10)]).started();
    let mut steps = 0;
    while sim.step(Time::from_secs(60)) {
        steps += 1;
    }
    assert!((6_000..=6_010).contains(&steps), "{steps} steps");
    let adverts = sim.trace.adverts(0, 255);
    assert_eq!(adverts.len(), 6_001);
    for w in adverts.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(10));
    }
}

/// Reload on a master (priority, interval, VIPs) in place: no priority-0
/// advert, no role change anywhere, the new values on the wire at once.
#[test]
fn hitless_reconfigure_of_the_master() {
    let t = Time::from_secs(10);
    let mut new = params(180, 100);
    new.announce.repeat = 2;
    let mut sim = Sim::new([params(200, 1000), params(100, 1000)])
        .started()
        .with_scenario([(
            t,
            Op::Feed(
                0,
                Event::Reconfigure {
                    params: new,
                    vips_changed: true,
                },
            ),
        )]);
    sim.run_until(Time::from_secs(20));
    assert_eq!(sim.trace.left_master(0), 0);
    assert_eq!(sim.trace.became_master(1), 0);
    assert!(sim.trace.adverts(0, 0).is_empty(), "no priority-0 advert");
    let after = sim.trace.actions_of(0, t);
    assert_eq!(
        after[..3],
        [
            (t, Action::AddVips),
            (t, Action::SendAdvert { priority: 180 }),
            (t, Action::Announce { rounds: 2 }),
        ]
    );
    // Adverts every 100 ms from the reload on; the v3 backup adopted it.
    let adverts = sim.trace.adverts(0, 180);
    assert_eq!(adverts.len(), 101);
    assert_eq!(adverts[1] - adverts[0], Duration::from_millis(100));
    assert_eq!(
        sim.router(1).master_adver_interval(),
        Duration::from_millis(100)
    );
    assert_eq!(sim.router(1).master_priority(), Some(180));
}

/// A reload that lowers the master below a preempting backup hands over
/// the way VRRP does it (the backup discards the lower adverts and takes
/// over at Master_Down_Interval): one role change each, no priority 0.
#[test]
fn reconfigure_below_the_backup_hands_over() {
    let t = Time::from_secs(10);
    let mut sim = Sim::new([params(200, 1000), params(100, 1000)])
        .started()
        .with_scenario([(
            t,
            Op::Feed(
                0,
                Event::Reconfigure {
                    params: params(50, 1000),
                    vips_changed: false,
                },
            ),
        )]);
    sim.run_until(Time::from_secs(20));
    assert_eq!(sim.masters(), vec![1]);
    assert_eq!(sim.trace.left_master(0), 1);
    assert!(sim.trace.adverts(0, 0).is_empty());
    let took = sim.trace.transitions();
    let took = took
        .iter()
        .find(|x| x.1 == 1 && x.3 == State::Master)
        .unwrap();
    assert_eq!(took.4, Reason::Preempted);
    assert!(
        took.0 - t <= Duration::from_millis(3_700),
        "{:?}",
        took.0 - t
    );
}

/// The master's service fails (a tracker without weight): it leaves with a
/// priority-0 advert, so the backup takes over after Skew_Time, not
/// Master_Down_Interval; back to health, the master preempts again.
#[test]
fn health_fault_hands_over_in_skew_time() {
    let fail = Time::from_secs(10);
    let heal = Time::from_secs(20);
    let mut sim = Sim::new([params(200, 1000), params(100, 1000)])
        .started()
        .with_scenario([
            (fail, Op::Feed(0, Event::Health { fault: true })),
            (heal, Op::Feed(0, Event::Health { fault: false })),
        ]);
    sim.run_until(Time::from_secs(30));
    let tr = sim.trace.transitions();
    let took = tr
        .iter()
        .find(|t| t.1 == 1 && t.3 == State::Master)
        .unwrap();
    assert_eq!(took.4, Reason::PriorityZeroSeen);
    // Skew_Time of priority 100 at 1 s: 609.375 ms.
    assert_eq!(took.0 - fail, Duration::from_micros(609_375));
    assert_eq!(sim.trace.adverts(0, 0), vec![fail]);
    assert_eq!(sim.masters(), vec![0], "preempted back after recovery");
    let back = tr
        .iter()
        .find(|t| t.1 == 0 && t.3 == State::Master && t.0 > heal)
        .unwrap();
    assert_eq!(back.4, Reason::Preempted);
}

/// The old start: VIPs found are removed and the router starts as backup.
fn cold(mut p: Params) -> Params {
    p.found_vips = crate::config::FoundVips::Remove;
    p
}

/// SIGKILL + restart of the master, 20 times, inside the backup's
/// Master_Down_Interval (at 100 ms and at 1 s adverts): the restarted
/// router finds its VIPs, resumes as master at once, and the backup never
/// takes over. The VIPs are held by exactly one router all along.
#[test]
fn warm_restarts_of_the_master_cost_no_role_change() {
    for interval in [100, 1_000] {
        let mut ops = Vec::new();
        // Restart 50 ms after the kill (about what a restarted vipd takes to
        // start), cycles spaced by 10 intervals.
        for k in 0..20u64 {
            let kill = ms(10 * interval + k * 10 * interval);
            ops.push((kill, Op::Crash(0)));
            ops.push((
                kill + Duration::from_millis(50),
                Op::Restart(0, Found::AllVips),
            ));
        }
        let end = ms(10 * interval + 21 * 10 * interval);
        let mut sim = Sim::new([params(200, interval), params(100, interval)])
            .started()
            .with_scenario(ops);
        sim.run_until(end);
        assert_eq!(sim.masters(), vec![0], "{interval} ms");
        assert_eq!(
            sim.trace.became_master(1),
            0,
            "{interval} ms: the backup never took over"
        );
        let warm: Vec<_> = sim
            .trace
            .transitions()
            .into_iter()
            .filter(|t| t.4 == Reason::WarmStart)
            .collect();
        assert_eq!(warm.len(), 20, "{interval} ms: every restart was warm");
        assert!(warm.iter().all(|t| t.1 == 0 && t.2 == State::Initialize));
        let first_held = sim.trace.vip_holders()[0].0;
        assert_eq!(sim.trace.vips_unheld(first_held, end), Duration::ZERO);
        assert!(
            sim.trace.vip_holders().iter().all(|(_, h)| h.len() <= 1),
            "{interval} ms: never two holders: {:?}",
            sim.trace.vip_holders()
        );
        // No RemoveVips at all after the first master took them.
        assert!(
            !sim.trace
                .actions_of(0, first_held)
                .iter()
                .any(|(_, a)| *a == Action::RemoveVips)
        );
    }
}

/// The same kill and restart with `found_vips: remove` (vipd before warm
/// restarts): the VIPs are gone until the backup takes over, then the
/// master preempts back: two role changes and an outage per restart.
#[test]
fn cold_restart_of_the_master_costs_two_role_changes() {
    let kill = ms(1_000);
    let mut sim = Sim::new([cold(params(200, 100)), cold(params(100, 100))])
        .started()
        .with_scenario([
            (kill, Op::Crash(0)),
            (
                kill + Duration::from_millis(50),
                Op::Restart(0, Found::AllVips),
            ),
        ]);
    sim.run_until(ms(3_000));
    assert_eq!(sim.masters(), vec![0]);
    assert_eq!(sim.trace.became_master(1), 1, "the backup took over");
    assert_eq!(sim.trace.left_master(1), 1, "and handed back");
    let unheld = sim.trace.vips_unheld(kill, ms(3_000));
    // From the restart (VIPs removed) until the backup's Master_Down_Timer
    // (3 x 100 ms + skew after the master's last advert).
    assert!(
        unheld > Duration::from_millis(200) && unheld < Duration::from_millis(400),
        "outage {unheld:?}"
    );
}

/// Split brain: the master stays dead longer than the backup's
/// Master_Down_Interval, the backup takes over (both now hold the VIPs),
/// then the master restarts, finds its VIPs and resumes as master. The
/// backup hears the higher priority and steps down on the first advert:
/// resolved within one advert interval (RFC 5798 6.4.3).
#[test]
fn warm_restart_after_the_backup_took_over_resolves_at_once() {
    for delay in [0, 5] {
        let kill = ms(1_000);
        let restart = ms(2_000);
        let mut sim = Sim::new([params(200, 100), params(100, 100)])
            .with_delay(Duration::from_millis(delay))
            .started()
            .with_scenario([
                (kill, Op::Crash(0)),
                (restart, Op::Restart(0, Found::AllVips)),
            ]);
        sim.run_until(restart - Duration::from_millis(1));
        assert_eq!(sim.masters(), vec![1], "the backup took over");
        sim.run_until(ms(4_000));
        assert_eq!(sim.masters(), vec![0]);
        let stepped_down = sim
            .trace
            .transitions()
            .into_iter()
            .find(|t| t.0 >= restart && t.1 == 1)
            .expect("the backup steps down");
        assert_eq!(stepped_down.4, Reason::HigherPriorityMaster);
        assert!(
            stepped_down.0 - restart <= Duration::from_millis(100),
            "dual master for {:?}",
            stepped_down.0 - restart
        );
        assert_eq!(
            sim.trace.vips_unheld(ms(500), ms(4_000)),
            Duration::ZERO,
            "no moment without a holder"
        );
    }
}

/// The restarted router is not the better master (equal priority, the
/// other one has the higher address): it resumes as master, hears the
/// other's next advert and steps down at once, within one advert interval.
#[test]
fn warm_restart_steps_down_for_a_better_master() {
    // Router 1 (the tie winner) comes up only after router 0 was master
    // and died; it takes over; router 0 restarts finding its VIPs.
    let restart = ms(2_000);
    let mut sim = Sim::new([params(150, 100), params(150, 100)]).with_scenario([
        (Time::ZERO, Op::Feed(0, Event::Startup)),
        (ms(1_000), Op::Crash(0)),
        (ms(1_000), Op::Feed(1, Event::Startup)),
        (restart, Op::Restart(0, Found::AllVips)),
    ]);
    sim.run_until(ms(4_000));
    assert_eq!(sim.masters(), vec![1]);
    let t = sim.trace.transitions();
    let warm = t
        .iter()
        .find(|t| t.4 == Reason::WarmStart)
        .expect("warm start");
    assert_eq!(warm.0, restart);
    let down = t
        .iter()
        .find(|t| t.0 >= restart && t.1 == 0 && t.3 == State::Backup)
        .expect("router 0 steps down");
    assert_eq!(down.4, Reason::HigherPriorityMaster);
    assert!(down.0 - restart <= Duration::from_millis(100));
    assert_eq!(sim.trace.left_master(1), 0, "the better master stayed");
}

/// What the start does with each find: only all VIPs (and `keep`) make a
/// warm start; a stray find, or `remove`, starts cold and removes them;
/// the address owner is master anyway and keeps them; a router whose link
/// is down at startup (FAULT) removes them.
#[test]
fn start_decision_per_find() {
    let start = |p: Params, found: Found, link_down: bool| {
        let mut r = super::Router::new(p);
        let mut out = Vec::new();
        if link_down {
            out.extend(r.handle(Time::ZERO, Event::InterfaceDown));
        }
        out.extend(r.handle(Time::ZERO, Event::StartupWith(found)));
        (r.state(), out.contains(&Action::RemoveVips), out)
    };
    let (state, removed, out) = start(params(100, 100), Found::AllVips, false);
    assert_eq!((state, removed), (State::Master, false));
    assert!(matches!(
        out[0],
        Action::StateChanged {
            reason: Reason::WarmStart,
            ..
        }
    ));
    assert!(out.contains(&Action::SendAdvert { priority: 100 }));
    assert!(out.contains(&Action::AddVips));
    assert!(out.iter().any(|a| matches!(a, Action::Announce { .. })));

    assert_eq!(
        start(params(100, 100), Found::Nothing, false).0,
        State::Backup
    );
    assert!(!start(params(100, 100), Found::Nothing, false).1);
    let (state, removed, _) = start(params(100, 100), Found::Stray, false);
    assert_eq!((state, removed), (State::Backup, true));
    let (state, removed, _) = start(cold(params(100, 100)), Found::AllVips, false);
    assert_eq!((state, removed), (State::Backup, true));
    let (state, removed, out) = start(params(255, 100), Found::Stray, false);
    assert_eq!((state, removed), (State::Master, false));
    assert!(matches!(
        out[0],
        Action::StateChanged {
            reason: Reason::AddressOwner,
            ..
        }
    ));
    let (state, removed, _) = start(params(100, 100), Found::AllVips, true);
    assert_eq!((state, removed), (State::Fault, true));
    // `Startup` is `StartupWith(Found::Nothing)`.
    let mut a = super::Router::new(params(100, 100));
    let mut b = super::Router::new(params(100, 100));
    assert_eq!(
        a.handle(Time::ZERO, Event::Startup),
        b.handle(Time::ZERO, Event::StartupWith(Found::Nothing))
    );
}
/// A split brain heals: two masters on either side of a partition meet
/// again. The higher one answers the lower one's first advert at once, so
/// the lower one steps down a wire delay after that advert instead of at
/// the higher one's next interval; the higher one counts the episode once
/// and announces its VIPs. With `lower_priority_master: ignore` the lower
/// one waits for the higher one's own schedule.
#[test]
fn split_brain_heals_at_the_lower_masters_first_advert() {
    use crate::config::LowerPriorityMaster;
    for answer in [LowerPriorityMaster::Reassert, LowerPriorityMaster::Ignore] {
        let mut high = params(200, 1000);
        high.lower_priority_master = answer;
        let delay = Duration::from_millis(1);
        // Cut the lower router off; heal 250 ms after the higher one's
        // advert at 20 s, so its next one is 750 ms away.
        let mut sim = Sim::new([high, params(100, 1000)])
            .with_delay(delay)
            .with_scenario([(ms(5_000), Op::Cut(1)), (ms(20_250), Op::Heal(1))])
            .started();
        sim.run_until(ms(19_000));
        assert_eq!(
            sim.masters(),
            vec![0, 1],
            "{answer:?}: both master while apart"
        );
        sim.run_until(ms(25_000));
        assert_eq!(sim.masters(), vec![0], "{answer:?}");
        let heal = ms(20_250);
        let first_lower_advert = *sim
            .trace
            .adverts(1, 100)
            .iter()
            .find(|t| **t >= heal)
            .expect("the lower master advertises after the heal");
        let stepped_down = sim
            .trace
            .transitions()
            .iter()
            .find(|t| t.1 == 1 && t.0 >= heal && t.3 == State::Backup)
            .map(|t| t.0)
            .expect("the lower master steps down");
        assert!(
            stepped_down - heal <= Duration::from_millis(1000),
            "{answer:?}: backup within one advert interval of the rejoin"
        );
        let dual: Vec<_> = sim
            .trace
            .actions_of(0, heal)
            .into_iter()
            .filter(|(_, a)| matches!(a, Action::DualMaster { .. }))
            .collect();
        assert_eq!(dual.len(), 1, "{answer:?}: one episode: {dual:?}");
        let announced_at_answer = sim
            .trace
            .actions_of(0, heal)
            .iter()
            .any(|(t, a)| *t == dual[0].0 && matches!(a, Action::Announce { .. }));
        match answer {
            LowerPriorityMaster::Reassert => {
                assert_eq!(
                    stepped_down,
                    first_lower_advert + 2 * delay,
                    "answered at once"
                );
                assert!(announced_at_answer, "VIPs announced again");
            }
            LowerPriorityMaster::Ignore => {
                assert!(
                    stepped_down > first_lower_advert + 2 * delay,
                    "waits for the higher master's schedule"
                );
                assert!(!announced_at_answer);
            }
        }
    }
}

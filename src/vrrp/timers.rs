//! The router's timers as a table.
//!
//! RFC 5798 names two timers (Master_Down_Timer, Adver_Timer); vipd adds
//! the preempt delay and the announcement schedule. Keeping them in one
//! table indexed by [`Timer`] makes "clear every master timer" one loop and
//! "when must the driver call again" one `min`, so a new timer cannot be
//! forgotten in either.

use super::Time;

/// One of the router's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// RFC 5798 6.4.2 Master_Down_Timer (backup only).
    MasterDown,
    /// RFC 5798 6.4.3 Adver_Timer (master only).
    Adver,
    /// keepalived's preempt_delay: when a lower-priority master stops being
    /// tolerated (backup only).
    Preempt,
    /// The next round of a spaced announcement burst (master only).
    AnnounceRound,
    /// The second announcement burst after becoming master (master only).
    SecondBurst,
    /// The periodic re-announcement while master (master only).
    Refresh,
}

impl Timer {
    pub const ALL: [Timer; 6] = [
        Timer::MasterDown,
        Timer::Adver,
        Timer::Preempt,
        Timer::AnnounceRound,
        Timer::SecondBurst,
        Timer::Refresh,
    ];

    /// The timers that only run while master.
    pub const MASTER: [Timer; 4] = [
        Timer::Adver,
        Timer::AnnounceRound,
        Timer::SecondBurst,
        Timer::Refresh,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// Deadlines of the armed timers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    deadlines: [Option<Time>; Timer::ALL.len()],
}

impl Timers {
    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.deadlines[timer.slot()]
    }

    pub fn set(&mut self, timer: Timer, at: Time) {
        self.deadlines[timer.slot()] = Some(at);
    }

    /// Arms `timer` at `at`, or disarms it when `at` is `None`.
    pub fn set_opt(&mut self, timer: Timer, at: Option<Time>) {
        self.deadlines[timer.slot()] = at;
    }

    pub fn clear(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
    }

    pub fn clear_all(&mut self, timers: &[Timer]) {
        for t in timers {
            self.clear(*t);
        }
    }

    /// Whether `timer` is armed and its deadline is not after `now`.
    pub fn is_due(&self, timer: Timer, now: Time) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline of all armed timers.
    pub fn earliest(&self) -> Option<Time> {
        self.deadlines.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_operations() {
        let mut t = Timers::default();
        assert_eq!(t.earliest(), None);
        t.set(Timer::Adver, Time::from_secs(3));
        t.set(Timer::Refresh, Time::from_secs(1));
        t.set(Timer::MasterDown, Time::from_secs(2));
        assert_eq!(t.earliest(), Some(Time::from_secs(1)));
        assert!(t.is_due(Timer::Refresh, Time::from_secs(1)));
        assert!(!t.is_due(Timer::Adver, Time::from_secs(2)));
        assert!(!t.is_due(Timer::Preempt, Time::from_secs(100)), "unarmed");
        t.clear_all(&Timer::MASTER);
        assert_eq!(t.earliest(), Some(Time::from_secs(2)));
        t.set_opt(Timer::MasterDown, None);
        assert_eq!(t, Timers::default());
    }

    #[test]
    fn every_timer_has_its_own_slot() {
        let mut t = Timers::default();
        for (i, timer) in Timer::ALL.into_iter().enumerate() {
            t.set(timer, Time::from_secs(i as u64 + 1));
        }
        for (i, timer) in Timer::ALL.into_iter().enumerate() {
            assert_eq!(t.get(timer), Some(Time::from_secs(i as u64 + 1)));
        }
    }
}

//! One tracker's state, with rise/fall hysteresis (keepalived's `rise` and
//! `fall`): a tracker that is up goes down after `fall` failed results in a
//! row, and comes back up after `rise` good ones in a row. A lone result
//! against the state only starts a streak.
//!
//! Pure: results in, state changes out, time passed in (it only dates the
//! changes, for status and the event stream).

use crate::vrrp::Time;

/// Whether a tracker counts as working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
}

/// One result from a tracker's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed (process present, unit active, port open, exit 0).
    Good,
    /// The check failed, and why (for status and the log).
    Bad(String),
    /// A number (a `file` tracker): it never goes down, it weighs.
    Value(i64),
}

/// The hysteresis of one tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    rise: u32,
    fall: u32,
    status: Status,
    /// Results in a row against the current status.
    streak: u32,
    /// The latest result, as the runner gave it.
    last: Option<Outcome>,
    /// When the status last changed (or the tracker was made).
    since: Time,
}

impl Tracker {
    /// A tracker in `initial` status until results say otherwise. `rise`
    /// and `fall` of 0 count as 1.
    pub fn new(rise: u32, fall: u32, initial: Status, now: Time) -> Tracker {
        Tracker {
            rise: rise.max(1),
            fall: fall.max(1),
            status: initial,
            streak: 0,
            last: None,
            since: now,
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn last(&self) -> Option<&Outcome> {
        self.last.as_ref()
    }

    pub fn since(&self) -> Time {
        self.since
    }

    /// The number a `file` tracker last read (0 before its first result).
    pub fn value(&self) -> i64 {
        match self.last {
            Some(Outcome::Value(v)) => v,
            _ => 0,
        }
    }

    /// Takes one result; returns the new status when it changed.
    pub fn observe(&mut self, now: Time, outcome: Outcome) -> Option<Status> {
        let against = match (&outcome, self.status) {
            (Outcome::Value(_), _) => false,
            (Outcome::Good, Status::Down) | (Outcome::Bad(_), Status::Up) => true,
            (Outcome::Good, Status::Up) | (Outcome::Bad(_), Status::Down) => false,
        };
        self.last = Some(outcome);
        if !against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = match self.status {
            Status::Up => self.fall,
            Status::Down => self.rise,
        };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.status = match self.status {
            Status::Up => Status::Down,
            Status::Down => Status::Up,
        };
        self.since = now;
        Some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad() -> Outcome {
        Outcome::Bad("x".into())
    }

    fn t(s: u64) -> Time {
        Time::from_secs(s)
    }

    #[test]
    fn fall_and_rise_need_results_in_a_row() {
        let mut tr = Tracker::new(2, 3, Status::Up, t(0));
        assert_eq!(tr.observe(t(1), bad()), None);
        assert_eq!(tr.observe(t(2), bad()), None);
        assert_eq!(tr.observe(t(3), Outcome::Good), None, "the streak breaks");
        assert_eq!(tr.observe(t(4), bad()), None);
        assert_eq!(tr.observe(t(5), bad()), None);
        assert_eq!(
            tr.observe(t(6), bad()),
            Some(Status::Down),
            "third in a row"
        );
        assert_eq!((tr.status(), tr.since()), (Status::Down, t(6)));
        assert_eq!(tr.observe(t(7), bad()), None, "already down");
        assert_eq!(tr.observe(t(8), Outcome::Good), None);
        assert_eq!(
            tr.observe(t(9), Outcome::Good),
            Some(Status::Up),
            "second in a row"
        );
        assert_eq!(tr.since(), t(9));
    }

    #[test]
    fn initial_status_and_defaults() {
        let mut tr = Tracker::new(0, 0, Status::Down, t(0));
        assert_eq!(tr.status(), Status::Down, "init_fail: down until proven up");
        assert_eq!(
            tr.observe(t(1), Outcome::Good),
            Some(Status::Up),
            "rise 0 counts as 1"
        );
        assert_eq!(
            tr.observe(t(2), bad()),
            Some(Status::Down),
            "fall 0 counts as 1"
        );
        assert_eq!(tr.last(), Some(&bad()));
    }

    #[test]
    fn values_weigh_and_never_change_the_status() {
        let mut tr = Tracker::new(1, 1, Status::Up, t(0));
        assert_eq!(tr.value(), 0);
        assert_eq!(tr.observe(t(1), Outcome::Value(-40)), None);
        assert_eq!((tr.status(), tr.value()), (Status::Up, -40));
    }
}

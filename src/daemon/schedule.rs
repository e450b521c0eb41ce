//! When each router is due, in order: the next deadline in O(1), a router's
//! deadline moved in O(log N). Without it the loop scanned every instance
//! after every packet (a backup's cost per advert grew with the number of
//! instances: issue 15's profile showed `Router::poll_at` at 49 %).
//!
//! Positions are the instances' positions in the daemon's list; the
//! schedule is rebuilt whenever that list changes (reload).

use std::collections::BTreeSet;

use super::instance::Instance;
use crate::vrrp::Time;

#[derive(Debug, Default)]
pub struct Schedule {
    by_time: BTreeSet<(Time, usize)>,
    at: Vec<Option<Time>>,
}

impl Schedule {
    /// Every instance's current deadline.
    pub fn rebuild(&mut self, instances: &[Instance]) {
        self.by_time.clear();
        self.at = instances.iter().map(|i| i.router.poll_at()).collect();
        for (idx, at) in self.at.iter().enumerate() {
            if let Some(t) = at {
                self.by_time.insert((*t, idx));
            }
        }
    }

    /// Instance `idx` is now due at `at` (or never).
    pub fn set(&mut self, idx: usize, at: Option<Time>) {
        if idx >= self.at.len() {
            self.at.resize(idx + 1, None);
        }
        if self.at[idx] == at {
            return;
        }
        if let Some(old) = self.at[idx] {
            self.by_time.remove(&(old, idx));
        }
        if let Some(t) = at {
            self.by_time.insert((t, idx));
        }
        self.at[idx] = at;
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Time> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// The instances due at `now`, earliest first, left on the schedule.
    pub fn due(&self, now: Time) -> impl Iterator<Item = usize> + '_ {
        self.by_time
            .iter()
            .take_while(move |(t, _)| *t <= now)
            .map(|(_, idx)| *idx)
    }

    /// The instances due at `now`, earliest first; each is taken off the
    /// schedule (set it again after handling it).
    pub fn take_due(&mut self, now: Time) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(&(t, idx)) = self.by_time.first() {
            if t > now {
                break;
            }
            self.by_time.pop_first();
            self.at[idx] = None;
            due.push(idx);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn deadlines_in_order() {
        let mut s = Schedule::default();
        assert_eq!(s.next(), None);
        s.set(0, Some(t(30)));
        s.set(1, Some(t(10)));
        s.set(2, Some(t(20)));
        assert_eq!(s.next(), Some(t(10)));
        s.set(1, Some(t(40)));
        assert_eq!(s.next(), Some(t(20)), "moved, not duplicated");
        s.set(2, None);
        assert_eq!(s.next(), Some(t(30)));
        assert_eq!(s.take_due(t(35)), vec![0]);
        assert_eq!(s.next(), Some(t(40)));
        assert_eq!(s.take_due(t(35)), Vec::<usize>::new());
        s.set(0, Some(t(40)));
        assert_eq!(s.take_due(t(40)), vec![0, 1], "equal deadlines by position");
        assert_eq!(s.next(), None);
    }

    #[test]
    fn due_peeks_without_taking() {
        let mut s = Schedule::default();
        s.set(0, Some(t(30)));
        s.set(1, Some(t(10)));
        s.set(2, Some(t(20)));
        assert_eq!(s.due(t(20)).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s.due(t(5)).count(), 0);
        assert_eq!(s.take_due(t(20)), vec![1, 2], "still scheduled after due()");
    }
}

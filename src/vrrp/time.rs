//! Virtual time for the sans-IO router.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in time: how long after the driver's epoch. The router never
/// reads a clock; the driver (the daemon with `Instant`, a test or the
/// simulation with numbers) says what time it is.
///
/// Distinct from [`Duration`] so that a point and a span cannot be mixed
/// up: a point plus a span is a point, two points differ by a span, and
/// two points cannot be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(Duration);

impl Time {
    /// The driver's epoch.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// The point `since_epoch` after the epoch.
    pub const fn from_epoch(since_epoch: Duration) -> Time {
        Time(since_epoch)
    }

    pub const fn from_millis(ms: u64) -> Time {
        Time(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Time {
        Time(Duration::from_secs(s))
    }

    /// How long after the epoch this point is.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, span: Duration) -> Time {
        Time(self.0.saturating_add(span))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, span: Duration) {
        *self = *self + span;
    }
}

/// The point a span earlier; the epoch at the earliest (never panics).
impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, span: Duration) -> Time {
        Time(self.0.saturating_sub(span))
    }
}

/// The span between two points; zero when `earlier` is in fact later (never
/// panics).
impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_spans() {
        let t = Time::from_millis(1500);
        assert_eq!(t + Duration::from_millis(500), Time::from_secs(2));
        assert_eq!(Time::from_secs(2) - t, Duration::from_millis(500));
        assert_eq!(t - Time::from_secs(2), Duration::ZERO, "saturates");
        assert_eq!(t - Duration::from_millis(500), Time::from_secs(1));
        assert_eq!(t - Duration::from_secs(9), Time::ZERO, "saturates");
        let mut u = Time::ZERO;
        u += Duration::from_secs(3);
        assert_eq!(u.since_epoch(), Duration::from_secs(3));
        assert_eq!(
            Time::from_epoch(Duration::MAX) + Duration::MAX,
            Time::from_epoch(Duration::MAX)
        );
    }
}

//! What the router is configured with, and the RFC's timer formulas.

use super::Time;
use std::time::Duration;

use crate::config::{FoundVips, InitialState, InstanceConfig, LowerPriorityMaster, VrrpVersion};

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
    /// What [`super::Event::StartupWith`] does with VIPs found in place.
    pub found_vips: FoundVips,
    pub announce: AnnouncePlan,
    /// What a master does on hearing a master it outranks (split brain).
    pub lower_priority_master: LowerPriorityMaster,
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
            found_vips: c.found_vips,
            announce: AnnouncePlan {
                repeat: c.garp.repeat,
                interval: c.garp.interval,
                second_burst_after: c.garp.second_burst_after,
                refresh: c.garp.refresh,
            },
            lower_priority_master: c.lower_priority_master,
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

/// Slots per advert interval on which a master's Adver_Timer is put.
pub const ADVERT_SLOTS: u32 = 4;

/// When a master's next advert is due, `interval` after `from`: on the
/// grid of `interval / ADVERT_SLOTS` steps from the epoch, the last point
/// of it not after `from + interval`.
///
/// Why: masters with the same interval then share deadlines, so a host with
/// many instances sends their adverts in at most [`ADVERT_SLOTS`] bursts
/// per interval, and wakes that often, instead of once per advert at phases
/// scattered by when each instance became master; a backup hearing them
/// reads a burst per wake-up too (issue 15: wake-ups, not parsing,
/// dominated a backup's cost per advert). The price is one advert, the
/// first after becoming master (or after a late wake-up), sent up to a
/// quarter interval early; RFC 5798's receivers time out on
/// Master_Down_Interval (over three intervals) and do not mind an early
/// advert. Once on the grid a deadline stays there: the interval is a
/// whole number of steps, so every later interval is exact.
pub fn next_advert_at(from: Time, interval: Duration) -> Time {
    // In u64 nanoseconds (584 years): a u128 remainder is a library call.
    let step = u64::try_from((interval / ADVERT_SLOTS).as_nanos()).unwrap_or(0);
    let due = from + interval;
    let Ok(since) = u64::try_from(due.since_epoch().as_nanos()) else {
        return due;
    };
    if step == 0 {
        return due;
    }
    due - Duration::from_nanos(since % step)
}

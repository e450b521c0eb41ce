//! What the router is configured with, and the RFC's timer formulas.

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

//! Kernel parameters under /proc/sys.

use tracing::warn;

/// Writes `value` to `/proc/sys/KEY` (e.g. `net/ipv4/conf/eth0/arp_ignore`).
/// Best effort: a failure is logged, not fatal (the knob may not exist on
/// this kernel, or /proc/sys may be read-only in a container).
pub fn write(key: &str, value: &str) {
    let path = format!("/proc/sys/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        warn!("cannot set {path} to {value}: {e}");
    }
}

//! The values of keepalived statements, each checked where it is written.

use std::time::Duration;

use super::ImportError;
use super::lex::{Token, error};
use crate::config::{VrrpVersion, check_ifname};

pub(super) fn parse_u64(t: &Token, what: &str, min: u64, max: u64) -> Result<u64, ImportError> {
    match t.text.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(error(
            &t.loc,
            format!(
                "{what} {} is invalid: use a whole number {min}-{max}",
                t.shown()
            ),
        )),
    }
}

pub(super) fn parse_seconds(t: &Token, what: &str) -> Result<f64, ImportError> {
    match t.text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(error(
            &t.loc,
            format!(
                "{what} {} is invalid: use a number of seconds (e.g. 1 or 0.5)",
                t.shown()
            ),
        )),
    }
}

/// keepalived keeps its timers in microseconds.
pub(super) fn micros(secs: f64) -> Duration {
    Duration::from_micros((secs * 1e6).round() as u64)
}

pub(super) fn ifname_arg(t: &Token, what: &str) -> Result<String, ImportError> {
    check_ifname(&t.text).map_err(|e| error(&t.loc, format!("{what}: {e}")))?;
    Ok(t.text.clone())
}

pub(super) fn parse_version(t: &Token) -> Result<VrrpVersion, ImportError> {
    match t.text.as_str() {
        "2" => Ok(VrrpVersion::V2),
        "3" => Ok(VrrpVersion::V3),
        _ => Err(error(
            &t.loc,
            format!("VRRP version {} is invalid: use 2 or 3", t.shown()),
        )),
    }
}

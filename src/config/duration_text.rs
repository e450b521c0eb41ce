//! Durations written as `100ms`, `1s`, `1.5s`, `2m`, or a bare number of seconds.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// The longest duration a configuration may write: a year.
const MAX_SECS: f64 = 86400.0 * 365.0;

pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (write e.g. 100ms, 1s, 1.5s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {s:?} (use us, ms, s, m or h)"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=MAX_SECS).contains(&secs) {
        return Err(out_of_range(s));
    }
    Ok(Duration::from_nanos((secs * 1e9).round() as u64))
}

/// What [`parse`] checks, for a duration computed in code (the keepalived
/// importer): it must read back from what [`format()`] writes.
pub fn check(d: &Duration) -> Result<(), String> {
    if d.as_secs_f64() > MAX_SECS {
        return Err(out_of_range(&format(d)));
    }
    Ok(())
}

fn out_of_range(written: &str) -> String {
    format!("duration {written:?} is out of range")
}

pub fn format(d: &Duration) -> String {
    let ms = d.as_millis();
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if Duration::from_millis(ms as u64) == *d {
        format!("{ms}ms")
    } else {
        format!("{}us", d.as_micros())
    }
}

pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as 100ms, 1s or 1.5s")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            parse(&v.to_string()).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            if v < 0 {
                return Err(E::custom(format!("duration {v} is negative")));
            }
            self.visit_u64(v as u64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            parse(&v.to_string()).map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

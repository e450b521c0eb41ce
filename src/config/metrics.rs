//! The optional Prometheus listener (`metrics:`), off when the key is absent.
//!
//! The metrics name the host's VRRP instances, their interfaces and their
//! states: an inventory of the network's failover points, with no
//! authentication on the listener. So the listener is bound to loopback
//! unless the operator says, in the same place, that it may face the
//! network (`allow_remote: true`): a typo in an address (`0.0.0.0` for
//! `127.0.0.1`) must not publish it by accident. See docs/metrics.md.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The port vipd's documentation suggests (not registered with IANA;
/// keepalived has no exporter port of its own to mirror).
pub const DEFAULT_METRICS_PORT: u16 = 9638;

/// Who may reach the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exposure {
    /// Only a loopback address may be given (the default).
    #[default]
    LoopbackOnly,
    /// Any address, loopback or not: the operator asked for it.
    Remote,
}

/// `metrics:` as read. Whether a non-loopback `listen` is allowed is a rule
/// across its two keys, checked once the file is read
/// ([`MetricsConfig::exposure_problem`], run by `check`, which places the
/// error at `listen`): serde could only place it at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawMetrics", into = "RawMetrics")]
pub struct MetricsConfig {
    /// Where GET /metrics is served.
    pub listen: SocketAddr,
    pub exposure: Exposure,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT)),
            exposure: Exposure::LoopbackOnly,
        }
    }
}

impl MetricsConfig {
    /// Why this listener may not be opened: a non-loopback address the
    /// operator did not allow.
    pub fn exposure_problem(&self) -> Option<String> {
        if self.exposure == Exposure::LoopbackOnly && !self.listen.ip().is_loopback() {
            return Some(format!(
                "metrics.listen {} is not a loopback address: the metrics name every \
                 instance and interface, unauthenticated; use 127.0.0.1:{port} or [::1]:{port} \
                 and scrape through a proxy, or add `allow_remote: true` to metrics: to serve \
                 them to the network",
                self.listen,
                port = self.listen.port()
            ));
        }
        None
    }
}

/// `metrics:` as written; `listen` checked where it stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_listen"
    )]
    listen: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    allow_remote: bool,
}

impl From<RawMetrics> for MetricsConfig {
    fn from(r: RawMetrics) -> MetricsConfig {
        MetricsConfig {
            listen: r.listen.unwrap_or(MetricsConfig::default().listen),
            exposure: if r.allow_remote {
                Exposure::Remote
            } else {
                Exposure::LoopbackOnly
            },
        }
    }
}

impl From<MetricsConfig> for RawMetrics {
    fn from(m: MetricsConfig) -> RawMetrics {
        RawMetrics {
            listen: Some(m.listen),
            allow_remote: m.exposure == Exposure::Remote,
        }
    }
}

/// `listen`, in its visitor (so the error carries its line and column).
fn deserialize_listen<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    use serde::de::Error;
    let text = match serde_norway::Value::deserialize(d)? {
        serde_norway::Value::String(s) => s,
        serde_norway::Value::Number(n) => n.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "metrics.listen {other:?} is not ADDRESS:PORT: write e.g. 127.0.0.1:{DEFAULT_METRICS_PORT}"
            )));
        }
    };
    let listen = parse_listen(&text).map_err(D::Error::custom)?;
    if listen.port() == 0 {
        return Err(D::Error::custom(format!(
            "metrics.listen {listen}: port 0 would pick a port nobody can find; give one, e.g. {}",
            SocketAddr::new(listen.ip(), DEFAULT_METRICS_PORT)
        )));
    }
    Ok(Some(listen))
}

/// `ADDRESS:PORT`, IPv6 in brackets; a bare port means 127.0.0.1.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!(
            "metrics.listen {text:?} is not ADDRESS:PORT: write e.g. 127.0.0.1:{DEFAULT_METRICS_PORT} \
             or [::1]:{DEFAULT_METRICS_PORT} (no host names)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `check` reads it: the values, then the rule across them.
    fn parse(yaml: &str) -> Result<MetricsConfig, String> {
        let m = serde_norway::from_str::<MetricsConfig>(yaml).map_err(|e| e.to_string())?;
        match m.exposure_problem() {
            Some(e) => Err(e),
            None => Ok(m),
        }
    }

    #[test]
    fn defaults_to_loopback() {
        let m = parse("{}").unwrap();
        assert_eq!(m.listen.to_string(), "127.0.0.1:9638");
        assert_eq!(m.exposure, Exposure::LoopbackOnly);
        assert_eq!(
            parse("listen: 9100").unwrap().listen.to_string(),
            "127.0.0.1:9100"
        );
        assert_eq!(
            parse("listen: \"[::1]:9100\"").unwrap().listen.to_string(),
            "[::1]:9100"
        );
    }

    #[test]
    fn remote_needs_to_be_asked_for() {
        let e = parse("listen: 0.0.0.0:9638").unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(e.contains("allow_remote: true"), "{e}");
        let m = parse("listen: 0.0.0.0:9638\nallow_remote: true").unwrap();
        assert_eq!(m.exposure, Exposure::Remote);
        assert_eq!(m.listen.to_string(), "0.0.0.0:9638");
    }

    #[test]
    fn bad_values_are_refused_with_the_fix() {
        let e = parse("listen: localhost:9638").unwrap_err();
        assert!(e.contains("is not ADDRESS:PORT"), "{e}");
        let e = parse("listen: 127.0.0.1:0").unwrap_err();
        assert!(e.contains("port 0"), "{e}");
        let e = parse("lisen: 127.0.0.1:1").unwrap_err();
        assert!(e.contains("unknown field `lisen`"), "{e}");
    }

    #[test]
    fn round_trips() {
        for yaml in [
            "listen: 127.0.0.1:9638",
            "listen: 10.0.0.1:9\nallow_remote: true",
        ] {
            let m = parse(yaml).unwrap();
            let back: MetricsConfig =
                serde_norway::from_str(&serde_norway::to_string(&m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
    }
}

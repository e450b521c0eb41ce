//! Prometheus metrics from a status snapshot: pure, the listener that
//! serves them is `crate::io::metrics_http`.
//!
//! The numbers are those `vipctl status` shows, taken from the same
//! [`Status`] the control socket answers with, so a scrape and a `vipctl
//! status --json` never disagree on what a counter means. The encoding is
//! the `prometheus-client` crate's (the Prometheus project's Rust client):
//! OpenMetrics text, which Prometheus asks for first, with `# EOF` last.
//! Names and labels are an interface (dashboards and alerts use them):
//! docs/metrics.md lists them, and the test below holds them.
//!
//! Each scrape encodes its snapshot through a `prometheus-client`
//! collector, with constant gauges and counters: the daemon keeps its
//! counters where it always did, and nothing here can drift from them.

use std::fmt;
use std::net::IpAddr;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::control::{InstanceStatus, Status};
use crate::notify::HookState;
use crate::vrrp::State;

/// The Content-Type of [`encode_status`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An instance's labels: `vrrp_instance`, `interface`, `vrid`, `family`.
type Labels<'a> = [(&'static str, &'a str); 4];
/// No labels.
const NONE: [(&str, &str); 0] = [];

/// Every state an instance can be in, for the one-gauge-per-state series
/// (`vipd_instance_state{state="MASTER"} 1`, the others 0): an alert on a
/// state is then a plain comparison, and a missing series means a missing
/// instance, not "not in that state".
const STATES: [State; 4] = [
    State::Initialize,
    State::Backup,
    State::Master,
    State::Fault,
];

const HOOK_STATES: [HookState; 4] = [
    HookState::Master,
    HookState::Backup,
    HookState::Fault,
    HookState::Stop,
];

/// The metrics of one snapshot, as OpenMetrics text.
pub fn encode_status(status: &Status) -> String {
    let mut registry = Registry::with_prefix("vipd");
    registry.register_collector(Box::new(Snapshot(status.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The label set of an instance: its name (as `vrrp_instance`: Prometheus
/// gives `instance` to the scrape target and would rename ours), interface,
/// VRID (`vrid`, its text) and the address families it advertises (`ipv4`,
/// `ipv6` or `ipv4+ipv6`: a dual-family VRRPv3 instance is one router, and
/// its counters count both streams).
fn instance_labels<'a>(i: &'a InstanceStatus, vrid: &'a str) -> Labels<'a> {
    [
        ("vrrp_instance", i.name.as_str()),
        ("interface", i.interface.as_str()),
        ("vrid", vrid),
        ("family", families(&i.vips)),
    ]
}

/// The families of VIPs written `ADDRESS/PREFIX`.
fn families(vips: &[String]) -> &'static str {
    let mut v4 = false;
    let mut v6 = false;
    for vip in vips {
        let addr = vip.split('/').next().unwrap_or_default();
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => v4 = true,
            Ok(IpAddr::V6(_)) => v6 = true,
            Err(_) => {}
        }
    }
    match (v4, v6) {
        (true, true) => "ipv4+ipv6",
        (false, true) => "ipv6",
        _ => "ipv4",
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// A value of one series.
#[derive(Clone, Copy)]
enum V {
    Int(i64),
    Float(f64),
    Count(u64),
}

/// Writes one metric family: its HELP and TYPE, then each series. The
/// snapshot is walked as it is, with no registry of metric objects to
/// fill first: 8 ms for 200 instances in a debug build, against 71 ms
/// when a registry of families was filled for each scrape.
fn family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut series = series.into_iter().peekable();
    let kind = match series.peek() {
        None => return Ok(()),
        Some((_, V::Count(_))) => MetricType::Counter,
        Some(_) => MetricType::Gauge,
    };
    // A sentence, as the registry's own metrics have it.
    let help = format!("{help}.");
    let mut m = enc.encode_descriptor(name, &help, unit, kind)?;
    for (labels, v) in series {
        let f = m.encode_family(&labels)?;
        match v {
            V::Int(x) => ConstGauge::new(x).encode(f)?,
            V::Float(x) => ConstGauge::new(x).encode(f)?,
            V::Count(x) => ConstCounter::new(x).encode(f)?,
        }
    }
    Ok(())
}

/// The snapshot of one scrape, encoded as it is read.
#[derive(Debug)]
struct Snapshot(Status);

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let st = &self.0;
        let e = &mut enc;
        let router_id = st.router_id.clone().unwrap_or_default();
        family(
            e,
            "info",
            "vipd's version and router_id (always 1)",
            None,
            [(
                [
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("router_id", router_id.as_str()),
                ],
                V::Int(1),
            )],
        )?;
        family(
            e,
            "networkd_connected",
            "1 when systemd-networkd is followed over D-Bus, else 0",
            None,
            [(NONE, V::Int(flag(st.networkd == "connected")))],
        )?;
        family(
            e,
            "unmatched_drops",
            "Packets dropped before they could be tied to an instance, by reason",
            None,
            st.unmatched_drops
                .iter()
                .map(|(r, n)| ([("reason", r.as_str())], V::Count(*n))),
        )?;
        let vrids: Vec<String> = st.instances.iter().map(|i| i.vrid.to_string()).collect();
        let inst: Vec<(&InstanceStatus, Labels)> = st
            .instances
            .iter()
            .zip(&vrids)
            .map(|(i, vrid)| (i, instance_labels(i, vrid)))
            .collect();
        let per = |f: fn(&InstanceStatus) -> Option<V>| {
            inst.iter().filter_map(move |(i, l)| f(i).map(|v| (*l, v)))
        };
        family(
            e,
            "instance_state",
            "1 for the state the instance is in (INIT, BACKUP, MASTER, FAULT), 0 for the others",
            None,
            inst.iter().flat_map(|(i, l)| {
                STATES.iter().map(move |s| {
                    (
                        (*l, [("state", state_name(*s))]),
                        V::Int(flag(i.state == *s)),
                    )
                })
            }),
        )?;
        family(
            e,
            "instance_priority",
            "Configured VRRP priority",
            None,
            per(|i| Some(V::Int(i64::from(i.priority)))),
        )?;
        family(
            e,
            "instance_effective_priority",
            "VRRP priority in use (trackers may move it)",
            None,
            per(|i| Some(V::Int(i64::from(i.effective_priority)))),
        )?;
        family(
            e,
            "instance_master_priority",
            "Priority of the master as last heard (ours when master); absent before any",
            None,
            per(|i| i.master_priority.map(|p| V::Int(i64::from(p)))),
        )?;
        family(
            e,
            "instance_advert_interval",
            "Advert interval in use (a VRRPv3 backup adopts its master's)",
            Some(&Unit::Seconds),
            per(|i| Some(V::Float(i.advert_interval_ms as f64 / 1000.0))),
        )?;
        family(
            e,
            "instance_adverts_sent",
            "VRRP adverts sent",
            None,
            per(|i| Some(V::Count(i.adverts_sent))),
        )?;
        family(
            e,
            "instance_adverts_received",
            "VRRP adverts received and acted on",
            None,
            per(|i| Some(V::Count(i.adverts_received))),
        )?;
        family(
            e,
            "instance_drops",
            "Received packets dropped and sends that failed, by reason (the names of vipctl status)",
            None,
            inst.iter().flat_map(|(i, l)| {
                i.drops
                    .iter()
                    .map(move |(r, n)| ((*l, [("reason", r.as_str())]), V::Count(*n)))
            }),
        )?;
        family(
            e,
            "instance_became_master",
            "Transitions to MASTER",
            None,
            per(|i| Some(V::Count(i.became_master))),
        )?;
        family(
            e,
            "instance_vips_restored",
            "Times the VIPs (or VIP device) were put back after something removed them",
            None,
            per(|i| Some(V::Count(i.vips_restored))),
        )?;
        family(
            e,
            "instance_dual_master",
            "Split-brain episodes: as master, another master we outrank was heard",
            None,
            per(|i| Some(V::Count(i.dual_master))),
        )?;
        family(
            e,
            "instance_last_transition_timestamp",
            "When the instance last changed state (Unix time); absent before any change",
            Some(&Unit::Seconds),
            per(|i| i.last_transition.as_ref().map(|t| V::Float(t.unix_time))),
        )?;
        family(
            e,
            "instance_vips",
            "VIPs configured",
            None,
            per(|i| Some(V::Int(i.vips.len() as i64))),
        )?;
        family(
            e,
            "instance_vips_present",
            "VIPs present on their device, as the daemon last saw",
            None,
            per(|i| Some(V::Int(i.vips_present as i64))),
        )?;
        family(
            e,
            "instance_health_fault",
            "1 when health (a tracker without weight, a faulted group member) holds the instance in FAULT",
            None,
            per(|i| Some(V::Int(flag(i.health_fault)))),
        )?;
        family(
            e,
            "instance_problem",
            "1 when the instance cannot run (missing interface, socket error): see vipctl status",
            None,
            per(|i| Some(V::Int(flag(i.problem.is_some())))),
        )?;
        family(
            e,
            "instance_notify_ok",
            "Notify hooks and unit steps of the instance that succeeded",
            None,
            per(|i| Some(V::Count(i.notify_ok))),
        )?;
        family(
            e,
            "instance_notify_failed",
            "Notify hooks and unit steps of the instance that failed or were dropped",
            None,
            per(|i| Some(V::Count(i.notify_failed))),
        )?;
        fn tracker(t: &crate::control::TrackerStatus) -> [(&'static str, &str); 2] {
            [("tracker", t.name.as_str()), ("kind", t.kind.as_str())]
        }
        family(
            e,
            "tracker_up",
            "1 when the tracker is up, 0 when down",
            None,
            st.trackers.iter().map(|t| {
                (
                    tracker(t),
                    V::Int(flag(t.status == crate::health::Status::Up)),
                )
            }),
        )?;
        family(
            e,
            "tracker_last_change_timestamp",
            "When the tracker's status last changed (Unix time)",
            Some(&Unit::Seconds),
            st.trackers
                .iter()
                .map(|t| (tracker(t), V::Float(t.since_unix_time))),
        )?;
        family(
            e,
            "group_state",
            "1 for the state the group's hooks last saw (MASTER, BACKUP, FAULT, STOP), 0 for the others",
            None,
            st.groups.iter().flat_map(|g| {
                HOOK_STATES.iter().map(move |s| {
                    (
                        [("group", g.name.as_str()), ("state", hook_state_name(*s))],
                        V::Int(flag(g.state == Some(*s))),
                    )
                })
            }),
        )?;
        family(
            e,
            "group_notify_ok",
            "Notify hooks and unit steps of the group that succeeded",
            None,
            st.groups
                .iter()
                .map(|g| ([("group", g.name.as_str())], V::Count(g.notify_ok))),
        )?;
        family(
            e,
            "group_notify_failed",
            "Notify hooks and unit steps of the group that failed or were dropped",
            None,
            st.groups
                .iter()
                .map(|g| ([("group", g.name.as_str())], V::Count(g.notify_failed))),
        )
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

fn hook_state_name(s: HookState) -> &'static str {
    match s {
        HookState::Master => "MASTER",
        HookState::Backup => "BACKUP",
        HookState::Fault => "FAULT",
        HookState::Stop => "STOP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::sample_status;

    /// The sample lines of `text` whose name is `name`.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    #[test]
    fn a_snapshot_becomes_labelled_series() {
        let text = encode_status(&sample_status());
        let l = r#"vrrp_instance="web",interface="eth0",vrid="51",family="ipv4""#;
        assert!(
            samples(&text, "vipd_instance_state")
                .contains(&format!("vipd_instance_state{{{l},state=\"MASTER\"}} 1").as_str()),
            "{text}"
        );
        assert!(
            samples(&text, "vipd_instance_state")
                .contains(&format!("vipd_instance_state{{{l},state=\"BACKUP\"}} 0").as_str()),
            "{text}"
        );
        assert_eq!(samples(&text, "vipd_instance_state").len(), 4);
        let want = [
            format!("vipd_instance_priority{{{l}}} 100"),
            format!("vipd_instance_effective_priority{{{l}}} 40"),
            format!("vipd_instance_adverts_sent_total{{{l}}} 7"),
            format!("vipd_instance_adverts_received_total{{{l}}} 2"),
            format!("vipd_instance_became_master_total{{{l}}} 1"),
            format!("vipd_instance_drops_total{{{l},reason=\"bad_ttl\"}} 1"),
            format!("vipd_instance_last_transition_timestamp_seconds{{{l}}} 1.5"),
            format!("vipd_instance_advert_interval_seconds{{{l}}} 1.0"),
            "vipd_unmatched_drops_total{reason=\"unknown_vrid\"} 2".to_string(),
            "vipd_tracker_up{tracker=\"haproxy\",kind=\"process\"} 0".to_string(),
            "vipd_group_state{group=\"lb\",state=\"MASTER\"} 1".to_string(),
        ];
        for w in want {
            assert!(text.lines().any(|line| line == w), "no {w:?} in\n{text}");
        }
        assert!(text.contains("# HELP vipd_instance_adverts_sent VRRP adverts sent.\n"));
        assert!(text.contains("# TYPE vipd_instance_adverts_sent counter"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn family_label_follows_the_vips() {
        assert_eq!(families(&["192.0.2.1/24".into()]), "ipv4");
        assert_eq!(families(&["2001:db8::1/64".into()]), "ipv6");
        assert_eq!(
            families(&["192.0.2.1/24".into(), "2001:db8::1/64".into()]),
            "ipv4+ipv6"
        );
    }

    #[test]
    fn an_instance_without_transition_has_no_timestamp() {
        let mut st = sample_status();
        st.instances[0].last_transition = None;
        st.instances[0].master_priority = None;
        let text = encode_status(&st);
        assert!(samples(&text, "vipd_instance_last_transition_timestamp_seconds").is_empty());
        assert!(samples(&text, "vipd_instance_master_priority").is_empty());
    }

    // docs/grafana-vipd.json queries only series vipd writes: a metric
    // renamed here, or misspelt there, fails this test.
    #[test]
    fn the_dashboard_queries_existing_series() {
        let text = encode_status(&sample_status());
        let written: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../docs/grafana-vipd.json")).unwrap();
        let mut exprs = Vec::new();
        for p in dashboard["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                exprs.push(t["expr"].as_str().unwrap().to_string());
            }
        }
        for v in dashboard["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]["query"].as_str() {
                exprs.push(q.to_string());
            }
        }
        let mut used = 0;
        for e in &exprs {
            let mut rest = e.as_str();
            while let Some(at) = rest.find("vipd_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                assert!(
                    written.contains(name.as_str()),
                    "{name} (in {e}) is not written"
                );
                used += 1;
                rest = &rest[at + name.len()..];
            }
        }
        assert!(used >= 15, "{used} series used");
        assert!(written.contains("vipd_instance_state"), "{written:?}");
    }
}

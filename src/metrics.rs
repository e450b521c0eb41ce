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
//! A registry is built for each scrape from the snapshot: the daemon keeps
//! its counters where it always did, and nothing here can drift from them.

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::control::{InstanceStatus, Status};
use crate::notify::HookState;
use crate::vrrp::State;

/// The Content-Type of [`encode_status`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

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
    let mut m = Metrics::default();
    m.fill(status);
    let mut registry = Registry::with_prefix("vipd");
    m.register(&mut registry);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The label set of an instance: its name (as `vrrp_instance`: Prometheus
/// gives `instance` to the scrape target and would rename ours), interface,
/// VRID and the address families it advertises (`ipv4`, `ipv6` or `ipv4+ipv6`: a dual-family
/// VRRPv3 instance is one router, and its counters count both streams).
fn instance_labels(i: &InstanceStatus) -> Labels {
    vec![
        ("vrrp_instance", i.name.clone()),
        ("interface", i.interface.clone()),
        ("vrid", i.vrid.to_string()),
        ("family", families(&i.vips).to_string()),
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

fn with(mut labels: Labels, key: &'static str, value: impl Into<String>) -> Labels {
    labels.push((key, value.into()));
    labels
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The families of one scrape.
#[derive(Default)]
struct Metrics {
    info: Gauges,
    networkd_connected: Gauges,
    unmatched_drops: Counters,
    state: Gauges,
    priority: Gauges,
    effective_priority: Gauges,
    master_priority: Gauges,
    advert_interval: FloatGauges,
    adverts_sent: Counters,
    adverts_received: Counters,
    drops: Counters,
    became_master: Counters,
    vips_restored: Counters,
    dual_master: Counters,
    last_transition: FloatGauges,
    vips_configured: Gauges,
    vips_present: Gauges,
    health_fault: Gauges,
    problem: Gauges,
    notify_ok: Counters,
    notify_failed: Counters,
    tracker_up: Gauges,
    tracker_since: FloatGauges,
    group_state: Gauges,
    group_notify_ok: Counters,
    group_notify_failed: Counters,
}

impl Metrics {
    fn fill(&mut self, st: &Status) {
        self.info
            .get_or_create(&vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("router_id", st.router_id.clone().unwrap_or_default()),
            ])
            .set(1);
        self.networkd_connected
            .get_or_create(&vec![])
            .set(flag(st.networkd == "connected"));
        for (reason, n) in &st.unmatched_drops {
            self.unmatched_drops
                .get_or_create(&vec![("reason", reason.clone())])
                .inc_by(*n);
        }
        for i in &st.instances {
            self.instance(i);
        }
        for t in &st.trackers {
            let l = vec![("tracker", t.name.clone()), ("kind", t.kind.clone())];
            self.tracker_up
                .get_or_create(&l)
                .set(flag(t.status == crate::health::Status::Up));
            self.tracker_since.get_or_create(&l).set(t.since_unix_time);
        }
        for g in &st.groups {
            let l = vec![("group", g.name.clone())];
            for s in HOOK_STATES {
                self.group_state
                    .get_or_create(&with(l.clone(), "state", hook_state_name(s)))
                    .set(flag(g.state == Some(s)));
            }
            self.group_notify_ok.get_or_create(&l).inc_by(g.notify_ok);
            self.group_notify_failed
                .get_or_create(&l)
                .inc_by(g.notify_failed);
        }
    }

    fn instance(&mut self, i: &InstanceStatus) {
        let l = instance_labels(i);
        for s in STATES {
            self.state
                .get_or_create(&with(l.clone(), "state", s.to_string()))
                .set(flag(i.state == s));
        }
        self.priority.get_or_create(&l).set(i64::from(i.priority));
        self.effective_priority
            .get_or_create(&l)
            .set(i64::from(i.effective_priority));
        if let Some(p) = i.master_priority {
            self.master_priority.get_or_create(&l).set(i64::from(p));
        }
        self.advert_interval
            .get_or_create(&l)
            .set(i.advert_interval_ms as f64 / 1000.0);
        self.adverts_sent.get_or_create(&l).inc_by(i.adverts_sent);
        self.adverts_received
            .get_or_create(&l)
            .inc_by(i.adverts_received);
        for (reason, n) in &i.drops {
            self.drops
                .get_or_create(&with(l.clone(), "reason", reason.clone()))
                .inc_by(*n);
        }
        self.became_master.get_or_create(&l).inc_by(i.became_master);
        self.vips_restored.get_or_create(&l).inc_by(i.vips_restored);
        self.dual_master.get_or_create(&l).inc_by(i.dual_master);
        if let Some(t) = &i.last_transition {
            self.last_transition.get_or_create(&l).set(t.unix_time);
        }
        self.vips_configured
            .get_or_create(&l)
            .set(i.vips.len() as i64);
        self.vips_present
            .get_or_create(&l)
            .set(i.vips_present as i64);
        self.health_fault
            .get_or_create(&l)
            .set(flag(i.health_fault));
        self.problem
            .get_or_create(&l)
            .set(flag(i.problem.is_some()));
        self.notify_ok.get_or_create(&l).inc_by(i.notify_ok);
        self.notify_failed.get_or_create(&l).inc_by(i.notify_failed);
    }

    fn register(self, r: &mut Registry) {
        r.register("info", "vipd's version and router_id (always 1)", self.info);
        r.register(
            "networkd_connected",
            "1 when systemd-networkd is followed over D-Bus, else 0",
            self.networkd_connected,
        );
        r.register(
            "unmatched_drops",
            "Packets dropped before they could be tied to an instance, by reason",
            self.unmatched_drops,
        );
        r.register(
            "instance_state",
            "1 for the state the instance is in (INIT, BACKUP, MASTER, FAULT), 0 for the others",
            self.state,
        );
        r.register(
            "instance_priority",
            "Configured VRRP priority",
            self.priority,
        );
        r.register(
            "instance_effective_priority",
            "VRRP priority in use (trackers may move it)",
            self.effective_priority,
        );
        r.register(
            "instance_master_priority",
            "Priority of the master as last heard (ours when master); absent before any",
            self.master_priority,
        );
        r.register_with_unit(
            "instance_advert_interval",
            "Advert interval in use (a VRRPv3 backup adopts its master's)",
            Unit::Seconds,
            self.advert_interval,
        );
        r.register(
            "instance_adverts_sent",
            "VRRP adverts sent",
            self.adverts_sent,
        );
        r.register(
            "instance_adverts_received",
            "VRRP adverts received and acted on",
            self.adverts_received,
        );
        r.register(
            "instance_drops",
            "Received packets dropped and sends that failed, by reason (the names of vipctl status)",
            self.drops,
        );
        r.register(
            "instance_became_master",
            "Transitions to MASTER",
            self.became_master,
        );
        r.register(
            "instance_vips_restored",
            "Times the VIPs (or VIP device) were put back after something removed them",
            self.vips_restored,
        );
        r.register(
            "instance_dual_master",
            "Split-brain episodes: as master, another master we outrank was heard",
            self.dual_master,
        );
        r.register_with_unit(
            "instance_last_transition_timestamp",
            "When the instance last changed state (Unix time); absent before any change",
            Unit::Seconds,
            self.last_transition,
        );
        r.register("instance_vips", "VIPs configured", self.vips_configured);
        r.register(
            "instance_vips_present",
            "VIPs present on their device, as the daemon last saw",
            self.vips_present,
        );
        r.register(
            "instance_health_fault",
            "1 when health (a tracker without weight, a faulted group member) holds the instance in FAULT",
            self.health_fault,
        );
        r.register(
            "instance_problem",
            "1 when the instance cannot run (missing interface, socket error): see vipctl status",
            self.problem,
        );
        r.register(
            "instance_notify_ok",
            "Notify hooks and unit steps of the instance that succeeded",
            self.notify_ok,
        );
        r.register(
            "instance_notify_failed",
            "Notify hooks and unit steps of the instance that failed or were dropped",
            self.notify_failed,
        );
        r.register(
            "tracker_up",
            "1 when the tracker is up, 0 when down",
            self.tracker_up,
        );
        r.register_with_unit(
            "tracker_last_change_timestamp",
            "When the tracker's status last changed (Unix time)",
            Unit::Seconds,
            self.tracker_since,
        );
        r.register(
            "group_state",
            "1 for the state the group's hooks last saw (MASTER, BACKUP, FAULT, STOP), 0 for the others",
            self.group_state,
        );
        r.register(
            "group_notify_ok",
            "Notify hooks and unit steps of the group that succeeded",
            self.group_notify_ok,
        );
        r.register(
            "group_notify_failed",
            "Notify hooks and unit steps of the group that failed or were dropped",
            self.group_notify_failed,
        );
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
        assert!(text.contains("# HELP vipd_instance_adverts_sent VRRP adverts sent"));
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

//! `vipctl` requests other than reload: status, watch's start, resync, hold.

use std::time::Duration;

use tracing::info;

use super::Daemon;
use super::input::WatchStart;
use super::instance::Instance;
use crate::control::{InstanceStatus, MAX_HOLD_MS, Response, Status, TrackerStatus};
use crate::health::Outcome;
use crate::notify::Target;
use crate::vrrp::Event;
use crate::watch::Snapshot;

impl Daemon {
    /// The instance states for systemd's STATUS= line.
    pub(super) fn status_line(&self) -> String {
        crate::io::notify::status_line(
            self.instances
                .iter()
                .map(|i| (i.name(), i.router.state(), i.problem.is_some())),
        )
    }

    /// A new watcher: the status and the subscription taken together, so
    /// the first event it gets is the one after the snapshot.
    pub(super) fn watch_start(&self) -> Option<WatchStart> {
        let sub = self.host.bus.subscribe()?;
        let snapshot = Snapshot {
            seq: self.host.bus.last_seq(),
            time: super::bus::unix_now(),
            status: self.status(),
        };
        Some(WatchStart {
            snapshot: serde_json::to_string(&snapshot).ok()?,
            sub,
        })
    }

    pub(super) fn status(&self) -> Status {
        Status {
            schema_version: crate::control::STATUS_SCHEMA_VERSION,
            router_id: self.config.router_id.clone(),
            config_path: self.opts.config_path.display().to_string(),
            pid: std::process::id(),
            instances: self
                .instances
                .iter()
                .map(|i| self.instance_status(i))
                .collect(),
            unmatched_drops: self.unmatched_drops.to_map(),
            networkd: self.networkd.status.clone(),
            networkd_bus: self.networkd.bus.clone(),
            trackers: self.tracker_status(),
            groups: self.host.hooks.group_status(),
        }
    }

    fn tracker_status(&self) -> Vec<TrackerStatus> {
        let now = self.host.now();
        let unix_now = super::bus::unix_now();
        self.health
            .trackers()
            .map(|(name, t)| TrackerStatus {
                name: name.to_string(),
                kind: self
                    .config
                    .trackers
                    .get(name)
                    .map(|c| c.kind.name())
                    .unwrap_or("?")
                    .to_string(),
                status: t.status(),
                last_result: match t.last() {
                    Some(Outcome::Bad(why)) => Some(why.clone()),
                    Some(Outcome::Value(v)) => Some(v.to_string()),
                    Some(Outcome::Good) | None => None,
                },
                since_unix_time: unix_now - (now - t.since()).as_secs_f64(),
            })
            .collect()
    }

    fn instance_status(&self, inst: &Instance) -> InstanceStatus {
        let cfg = &inst.cfg;
        let r = &inst.router;
        let kernel = &self.host.kernel;
        let health = self.health.health(inst.name());
        let notify = self.host.hooks.counts(&Target::instance(inst.name()));
        InstanceStatus {
            name: cfg.name.clone(),
            interface: cfg.interface.clone(),
            vrid: cfg.vrid,
            version: cfg.version.number(),
            state: r.state(),
            priority: cfg.priority,
            effective_priority: r.priority(),
            master_address: self.host.master_address(inst),
            master_priority: r.master_priority(),
            advert_interval_ms: r.master_adver_interval().as_millis() as u64,
            vips: cfg.vips.iter().map(|v| v.to_string()).collect(),
            excluded_vips: cfg.excluded_vips.iter().map(|v| v.to_string()).collect(),
            vips_present: cfg
                .all_vips()
                .filter(|v| kernel.vip_present(cfg, v))
                .count(),
            last_transition: inst.transition.clone(),
            adverts_sent: inst.counters.adverts_sent,
            adverts_received: inst.counters.adverts_received,
            became_master: inst.counters.became_master,
            vips_restored: inst.counters.vips_restored,
            dual_master: inst.counters.dual_master,
            drops: inst.counters.drops.to_map(),
            problem: inst.problem.as_ref().map(ToString::to_string),
            networkd: inst
                .ifindex
                .and_then(|ix| self.networkd.links.get(&ix).cloned()),
            group: self.health.group_of(inst.name()).map(String::from),
            priority_arithmetic: health.arithmetic(),
            health_fault: health.fault,
            trackers: health.terms,
            notify_ok: notify.ok,
            notify_failed: notify.failed,
        }
    }

    /// `vipctl resync [--interface IF]`: every master concerned puts back
    /// what is missing.
    pub(super) async fn resync_request(&mut self, interface: Option<&str>) -> Response {
        let mut instances = Vec::new();
        let mut restored = Vec::new();
        for inst in &mut self.instances {
            if interface.is_some_and(|name| !inst.concerns_interface(name)) {
                continue;
            }
            instances.push(inst.name().to_string());
            if self.host.resync(inst).await {
                restored.push(inst.name().to_string());
            }
        }
        Response::Resynced {
            instances,
            restored,
        }
    }

    /// `vipctl hold`: the instances on `interface` keep their state through
    /// a link-down for `for_ms` (0 cancels).
    pub(super) async fn hold_request(&mut self, interface: &str, for_ms: u64) -> Response {
        if for_ms > MAX_HOLD_MS {
            return Response::Error {
                message: format!(
                    "hold of {for_ms} ms refused: at most {MAX_HOLD_MS} ms (a longer bounce is an outage: let the instance go FAULT)"
                ),
            };
        }
        let until = self.host.now() + Duration::from_millis(for_ms);
        let mut instances = Vec::new();
        for inst in self
            .instances
            .iter_mut()
            .filter(|i| i.cfg.interface == interface)
        {
            instances.push(inst.name().to_string());
            info!(instance = %inst.name(), %interface, for_ms, "hold: a link-down within this time keeps the state");
            self.host.feed(inst, Event::Hold { until }).await;
        }
        Response::Held { instances, for_ms }
    }
}

//! `vipctl` requests other than reload: status, resync, hold.

use std::time::Duration;

use tracing::info;

use super::Daemon;
use super::instance::Instance;
use crate::control::{InstanceStatus, MAX_HOLD_MS, Response, Status, TrackerStatus};
use crate::health::Outcome;
use crate::vrrp::{Event, State};

impl Daemon {
    /// The instance states for systemd's STATUS= line.
    pub(super) fn status_line(&self) -> String {
        crate::io::notify::status_line(
            self.instances
                .iter()
                .map(|i| (i.name(), i.router.state(), i.problem.is_some())),
        )
    }

    pub(super) fn status(&self) -> Status {
        Status {
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
            trackers: self.tracker_status(),
        }
    }

    fn tracker_status(&self) -> Vec<TrackerStatus> {
        let now = self.host.now();
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
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
        let master_address = if r.state() == State::Master {
            // Our own advert source (IPv4 when the instance has it).
            kernel.advert_source(cfg, inst.ifindex, cfg.mac_family())
        } else {
            r.master_addr()
        };
        InstanceStatus {
            name: cfg.name.clone(),
            interface: cfg.interface.clone(),
            vrid: cfg.vrid,
            version: cfg.version.number(),
            state: r.state(),
            priority: cfg.priority,
            effective_priority: r.priority(),
            master_address,
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
            drops: inst.counters.drops.to_map(),
            problem: inst.problem.as_ref().map(ToString::to_string),
            networkd: inst
                .ifindex
                .and_then(|ix| self.networkd.links.get(&ix).cloned()),
            group: self.health.group_of(inst.name()).map(String::from),
            priority_arithmetic: health.arithmetic(),
            health_fault: health.fault,
            trackers: health.terms,
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

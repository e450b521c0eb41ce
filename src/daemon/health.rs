//! Service health in the daemon: the tracker runners' reports go to the
//! pure board (`crate::health`), and every router is kept in line with the
//! board: its priority is the effective priority, and it is in FAULT while
//! health says so. Reconciling every instance against the board (instead of
//! acting on each change) keeps one rule for start-up, reports, link
//! changes and reloads.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::Daemon;
use crate::config::{TrackerConfig, TrackerKind};
use crate::health::{Board, Outcome};
use crate::io::track::{self, Report, Runner};
use crate::vrrp::Event;
use crate::watch;

/// The running trackers, by name, with the configuration each runs with.
#[derive(Default)]
pub struct Runners(BTreeMap<String, (TrackerConfig, Runner)>);

impl Daemon {
    /// Starts the runners of trackers that are new or changed, stops those
    /// no longer configured; unchanged ones keep running (and their state).
    pub(super) fn start_runners(&mut self) {
        let wanted = &self.config.trackers;
        self.runners
            .0
            .retain(|name, (cfg, _)| wanted.get(name) == Some(cfg));
        for (name, cfg) in wanted {
            if self.runners.0.contains_key(name) {
                continue;
            }
            let runner = track::spawn(name, cfg, self.script_user.clone(), self.track_tx.clone());
            self.runners.0.insert(name.clone(), (cfg.clone(), runner));
        }
    }

    /// The board for the current configuration (tracker states kept where
    /// the tracker did not change).
    pub(super) fn rebuild_board(&mut self) {
        let board = Board::new(&self.config, self.host.now(), Some(&self.health));
        self.health = board;
    }

    pub(super) async fn on_track(&mut self, report: Report) {
        let (name, outcome) = match report {
            Report::Result { tracker, outcome } => (tracker, outcome),
            Report::Due { tracker } => {
                let outcome = self.interface_outcome(&tracker);
                (tracker, outcome)
            }
        };
        self.observe(&name, outcome).await;
    }

    async fn observe(&mut self, name: &str, outcome: Outcome) {
        let (status, changes) = self.health.observe(self.host.now(), name, outcome);
        if let Some(s) = status {
            let last = self.health.tracker(name).and_then(|t| match t.last() {
                Some(Outcome::Bad(why)) => Some(why.clone()),
                _ => None,
            });
            match s {
                crate::health::Status::Up => info!(tracker = %name, "tracker up"),
                crate::health::Status::Down => {
                    warn!(tracker = %name, "tracker down: {}", last.as_deref().unwrap_or_default())
                }
            }
            self.host.bus.emit(watch::Event::Tracker {
                name: name.to_string(),
                status: s,
                last_result: last,
            });
        }
        for c in &changes {
            info!(instance = %c.instance, health = %c.after.arithmetic(), "health changed");
        }
        if !changes.is_empty() {
            self.reconcile_health().await;
        }
    }

    /// An `interface` tracker's state, from the kernel mirror.
    fn interface_outcome(&self, tracker: &str) -> Outcome {
        let Some(TrackerKind::Interface(ifname)) =
            self.config.trackers.get(tracker).map(|t| &t.kind)
        else {
            return Outcome::Bad("not an interface tracker".into());
        };
        match self.host.kernel.link_by_name(ifname) {
            Some(l) if l.running() => Outcome::Good,
            Some(_) => Outcome::Bad(format!("{ifname} has no carrier or is down")),
            None => Outcome::Bad(format!("{ifname} does not exist")),
        }
    }

    /// Link changes answer the `interface` trackers at once.
    pub(super) async fn interface_trackers_on(&mut self, ifname: &str) {
        let names: Vec<String> = self
            .config
            .trackers
            .iter()
            .filter(|(_, t)| matches!(&t.kind, TrackerKind::Interface(i) if i == ifname))
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            let outcome = self.interface_outcome(&n);
            self.observe(&n, outcome).await;
        }
    }

    /// A group follows a member whose link is down into FAULT.
    pub(super) async fn sync_group_links(&mut self) {
        let mut changed = false;
        for inst in &self.instances {
            let down = inst.router.link_fault();
            changed |= !self.health.set_link_down(inst.name(), down).is_empty();
        }
        if changed {
            self.reconcile_health().await;
        }
    }

    /// Tells every router what the board says, where they differ (each
    /// difference is an event for `vipctl watch`, before the router acts
    /// on it: a transition it causes comes after it).
    pub(super) async fn reconcile_health(&mut self) {
        for inst in &mut self.instances {
            let h = self.health.health(inst.name());
            if inst.router.priority() != h.priority {
                self.host.bus.emit(watch::Event::Priority {
                    instance: inst.name().to_string(),
                    from: inst.router.priority(),
                    to: h.priority,
                    arithmetic: h.arithmetic(),
                });
                self.host.feed(inst, Event::SetPriority(h.priority)).await;
            }
            if inst.router.health_fault() != h.fault {
                self.host.bus.emit(watch::Event::HealthFault {
                    instance: inst.name().to_string(),
                    fault: h.fault,
                });
                self.host.feed(inst, Event::Health { fault: h.fault }).await;
            }
        }
    }
}

//! systemd-networkd: following its link states over D-Bus (a finished
//! reconfiguration triggers a resync of the instances on that link; a
//! networkd that appears on the bus, at start or after a restart, a resync
//! of every master; one that leaves is reported, see
//! `io::networkd_dbus::follow` and docs/networkd-bus.md), and writing its
//! files when the configuration asks for it.

use std::collections::BTreeMap;
use std::path::Path;

use tracing::{error, info, warn};

use super::Daemon;
use super::bus::unix_now;
use crate::control::{NetworkdBusState, NetworkdBusStatus};
use crate::io::networkd_dbus::{self, LinkView, NetworkdUpdate};

/// What the daemon knows of networkd.
pub struct NetworkdView {
    /// networkd's view of each link it manages, by ifindex.
    pub links: BTreeMap<u32, LinkView>,
    /// "connected", or why networkd is not followed (the one-line summary
    /// `vipctl status` has always shown).
    pub status: String,
    /// Where networkd stands on the bus, for `vipctl status`.
    pub bus: NetworkdBusStatus,
}

impl Default for NetworkdView {
    fn default() -> Self {
        NetworkdView {
            links: BTreeMap::new(),
            status: "not connected yet".into(),
            bus: NetworkdBusStatus {
                since_unix_time: unix_now(),
                ..NetworkdBusStatus::default()
            },
        }
    }
}

impl NetworkdView {
    /// A new bus state (`since` moves only when the state changes).
    fn set_state(&mut self, state: NetworkdBusState, detail: String) {
        if self.bus.state != state {
            self.bus.since_unix_time = unix_now();
        }
        self.bus.state = state;
        self.bus.detail = detail;
    }
}

/// networkd states after which whatever it flushed must be back.
fn finished_configuring(state: Option<&str>) -> bool {
    matches!(
        state,
        Some("configured" | "unmanaged" | "failed" | "linger")
    )
}

impl Daemon {
    pub(super) async fn on_networkd(&mut self, update: NetworkdUpdate) {
        match update {
            NetworkdUpdate::Connected { info, links } => {
                let version = info
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "unknown".into());
                let features = if info.features.is_empty() {
                    "none".to_string()
                } else {
                    info.features.join(", ")
                };
                info!(
                    links = links.len(),
                    owner = %info.owner,
                    pid = ?info.pid,
                    version = %version,
                    features = %features,
                    "following systemd-networkd over D-Bus"
                );
                self.networkd.links = links;
                self.networkd.status = "connected".into();
                self.networkd.bus.version = info.version;
                self.networkd.bus.features = info.features;
                self.networkd.bus.owner = Some(info.owner);
                self.networkd.bus.pid = info.pid;
                self.networkd
                    .set_state(NetworkdBusState::Running, String::new());
                // A new networkd may have configured its links (and purged
                // VIPs) before it took its bus name, or while vipd was not
                // looking: every master checks its VIPs.
                self.networkd.bus.resyncs += 1;
                let mut restored = 0;
                for inst in &mut self.instances {
                    if self.host.resync(inst).await {
                        restored += 1;
                    }
                }
                info!(
                    resync = self.networkd.bus.resyncs,
                    instances_restored = restored,
                    "resynced the masters after systemd-networkd appeared"
                );
            }
            NetworkdUpdate::Absent(why) => self.networkd_lost(NetworkdBusState::Absent, why),
            NetworkdUpdate::Unresponsive(why) => {
                self.networkd_lost(NetworkdBusState::Unresponsive, why)
            }
            NetworkdUpdate::BusAbsent(why) => self.networkd_lost(NetworkdBusState::BusAbsent, why),
            NetworkdUpdate::Changed(c) => {
                let view = self.networkd.links.entry(c.ifindex).or_default();
                let before = view.administrative_state.clone();
                view.apply(&c.changed);
                let after = view.administrative_state.clone();
                if before == after {
                    return;
                }
                let name = self
                    .host
                    .kernel
                    .link(c.ifindex)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                info!(interface = %name, from = ?before, to = ?after, "systemd-networkd link state");
                if !finished_configuring(after.as_deref()) {
                    return;
                }
                for inst in &mut self.instances {
                    if self
                        .host
                        .kernel
                        .instance_uses_link(&inst.cfg, inst.ifindex, c.ifindex)
                    {
                        self.host.resync(inst).await;
                    }
                }
            }
        }
    }

    /// networkd is gone from the bus (or the bus is): its link view is
    /// dropped, netlink alone guards the VIPs until it is back.
    fn networkd_lost(&mut self, state: NetworkdBusState, why: String) {
        warn!(
            state = state.name(),
            "systemd-networkd is not followed ({why}); VIPs are still watched through netlink"
        );
        self.networkd.links.clear();
        self.networkd.status = why.clone();
        self.networkd.bus.owner = None;
        self.networkd.bus.pid = None;
        self.networkd.set_state(state, why);
    }

    /// With `networkd: {manage_files: true}`: writes networkd's files as
    /// `vipctl networkd install` does and, when they changed, asks networkd
    /// to reload (in the background: D-Bus must never hold up VRRP).
    pub(super) fn manage_networkd_files(&mut self) {
        self.host.networkd_makes_devices = self.config.networkd.manage_files;
        if !self.config.networkd.manage_files {
            return;
        }
        let path = std::path::absolute(&self.opts.config_path)
            .unwrap_or_else(|_| self.opts.config_path.clone());
        let version = crate::networkd::install::live_systemd_version();
        match crate::networkd::install::install(&self.config, &path, Path::new("/"), version, false)
        {
            Ok(outcome) => {
                for n in &outcome.plan.notes {
                    info!("networkd files: {n}");
                }
                if let Some(s) = &outcome.summary {
                    for p in s.written.iter().chain(&s.removed) {
                        info!(path = %p.display(), "networkd file changed");
                    }
                }
                if outcome.changed() {
                    tokio::spawn(async {
                        let r =
                            async { networkd_dbus::NetworkdBus::connect().await?.reload().await }
                                .await;
                        match r {
                            Ok(()) => info!("asked systemd-networkd to reload its files"),
                            Err(e) => warn!("networkd files written but not reloaded: {e}"),
                        }
                    });
                }
            }
            Err(e) => error!("cannot write systemd-networkd files: {e}"),
        }
    }
}

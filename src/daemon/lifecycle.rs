//! An instance's life: brought up on its interface, kept whole while
//! master (VIP device and VIPs put back), and stopped gracefully.

use tracing::{error, info, warn};

use super::host::Host;
use super::instance::{Instance, Problem};
use crate::family::Family;
use crate::io::netlink::LinkState;
use crate::io::vip_device::{VipDeviceOutcome, ensure_vip_device};
use crate::vrrp::{Event, Found, Reason, State};

impl Host {
    /// Brings an instance up: finds its interface, creates its VIP device
    /// and sockets, and starts its state machine. Problems are recorded in
    /// the instance (shown by `vipctl status`) and retried on link events.
    pub async fn activate(&mut self, inst: &mut Instance) {
        let interface = inst.cfg.interface.clone();
        let Some(link) = self.kernel.link_by_name(&interface).cloned() else {
            if inst.problem.is_none() {
                warn!(instance = %inst.name(), %interface, "interface not found; waiting for it to appear");
            }
            inst.problem = Some(Problem::InterfaceMissing { interface });
            return;
        };
        if inst.ifindex != Some(link.index) {
            inst.ifindex = Some(link.index);
            self.layout_changed = true;
        }
        if let Err(e) = self.ensure_device(inst, &link).await {
            error!(instance = %inst.name(), "{e}");
            inst.problem = Some(Problem::VipDevice(e.to_string()));
            return;
        }
        if let Err(problem) = self.open_sockets(inst, &link) {
            error!(instance = %inst.name(), "{problem}");
            inst.problem = Some(problem);
            return;
        }
        inst.problem = None;
        self.update_local_addresses(inst);
        let now = self.now();
        let mut actions = Vec::new();
        if !link.running() {
            actions.extend(inst.router.handle(now, Event::InterfaceDown));
        }
        // A vipd that died without cleaning up (SIGKILL, systemd's watchdog,
        // OOM) leaves its VIPs behind. What we found is only observed here;
        // the router decides (warm start as master, or cold and removed).
        let found = self.kernel.found_vips(&inst.cfg);
        actions.extend(inst.router.handle(now, Event::StartupWith(found)));
        match found {
            Found::Nothing => {}
            Found::AllVips if inst.router.state() == State::Master => {
                info!(instance = %inst.name(), "all VIPs found in place at startup (vipd restarted?): kept, resuming as master");
                // The VIP device the previous vipd made is ours now: a
                // clean stop removes it, as that vipd's would have.
                let warm = inst.router.last_transition().map(|t| t.1) == Some(Reason::WarmStart);
                if warm && inst.created_device.is_none() && !self.networkd_makes_devices {
                    inst.created_device = inst.cfg.vip_device_name();
                }
            }
            Found::AllVips | Found::Stray => {
                let kept = inst.router.state() == State::Master;
                warn!(instance = %inst.name(), ?found, kept, "VIPs found at startup (left by a vipd that did not stop cleanly, or another configuration); {}",
                    if kept { "master anyway: kept" } else { "starting as backup: removing them" });
            }
        }
        self.apply(inst, actions).await;
    }

    /// The instance's sockets (one per family), joined to the group unless
    /// it runs unicast.
    pub fn open_sockets(&mut self, inst: &Instance, link: &LinkState) -> Result<(), Problem> {
        let multicast = inst.cfg.unicast.is_none();
        for family in inst.cfg.families() {
            self.sockets
                .ensure(link, family, multicast)
                .map_err(|e| Problem::Socket {
                    family,
                    interface: link.name.clone(),
                    error: e.to_string(),
                })?;
        }
        if inst.cfg.ah_key().is_some() {
            self.sockets
                .ensure_ah(link, multicast)
                .map_err(|e| Problem::Socket {
                    family: Family::V4,
                    interface: link.name.clone(),
                    error: format!("AH (IP protocol 51) socket: {e}"),
                })?;
        }
        Ok(())
    }

    /// The instance's VIP device on `parent`, created if missing; the kernel
    /// mirror learns it at once (its notification comes later), so the VIPs
    /// can go on it right away.
    async fn ensure_device(
        &mut self,
        inst: &mut Instance,
        parent: &LinkState,
    ) -> Result<(), crate::io::netlink::NetlinkError> {
        let made = ensure_vip_device(&self.nl, &inst.cfg, parent).await?;
        if let VipDeviceOutcome::Created(name) = &made {
            info!(instance = %inst.name(), device = %name, "created VIP device");
            inst.created_device = Some(name.clone());
        }
        if let VipDeviceOutcome::Created(name) | VipDeviceOutcome::Existed(name) = &made
            && self.kernel.link_by_name(name).is_none()
            && let Ok(Some(link)) = self.nl.link_by_name(name).await
        {
            self.kernel.upsert_link(link);
        }
        Ok(())
    }

    /// Our advert source per family (kept for sending) and primary address
    /// (the equal-priority tie-break).
    pub fn update_local_addresses(&self, inst: &mut Instance) {
        for family in Family::ALL {
            let source = self.kernel.advert_source(&inst.cfg, inst.ifindex, family);
            inst.sources[super::instance::slot(family)] = source;
            if let Some(a) = source {
                inst.router.set_local_address(a);
            }
        }
    }

    /// A master's VIPs vanished under it: put back in place, no election.
    /// Counts each VIP put back once (`vips_restored`).
    pub async fn restore_vips(&mut self, inst: &mut Instance) {
        inst.restore_pending = false;
        let missing = self.kernel.missing_vips(&inst.cfg);
        if missing == 0 || inst.router.state() != State::Master {
            return;
        }
        inst.counters.vips_restored += missing as u64;
        self.bus.emit(crate::watch::Event::VipsRestored {
            instance: inst.name().to_string(),
        });
        self.feed(inst, Event::VipsLost).await;
    }

    /// Recreates a master's missing VIP device on its parent.
    pub async fn recreate_device(&mut self, inst: &mut Instance) {
        let Some(parent) = inst.ifindex.and_then(|i| self.kernel.link(i)).cloned() else {
            return;
        };
        if let Err(e) = self.ensure_device(inst, &parent).await {
            error!(instance = %inst.name(), "{e}");
        }
    }

    /// A master puts back whatever is missing (VIP device, VIPs); returns
    /// whether anything was.
    pub async fn resync(&mut self, inst: &mut Instance) -> bool {
        if inst.router.state() != State::Master {
            return false;
        }
        if let Some(dev) = inst.cfg.vip_device_name()
            && self.kernel.link_by_name(&dev).is_none()
        {
            warn!(instance = %inst.name(), device = %dev, "VIP device missing; recreating it");
            self.recreate_device(inst).await;
        }
        let missing = self.kernel.missing_vips(&inst.cfg);
        if missing == 0 {
            return false;
        }
        warn!(instance = %inst.name(), missing, "VIPs missing on resync; restoring them");
        self.restore_vips(inst).await;
        true
    }

    /// Shuts an instance down gracefully (a master sends priority 0 and
    /// removes its VIPs) and removes the VIP device it created.
    pub async fn stop(&mut self, inst: &mut Instance) {
        self.feed(inst, Event::Shutdown).await;
        if let Some(dev) = inst.created_device.take()
            && let Some(l) = self.kernel.link_by_name(&dev)
            && let Err(e) = self.nl.delete_link(l.index, &dev).await
        {
            warn!(device = %dev, "{e}");
        }
    }
}

//! Kernel notifications: the mirror takes them in first, then each
//! instance hears what concerns it: its interface's carrier (through its
//! [`LinkGate`](super::link_gate::LinkGate)), its VIP device's carrier or
//! removal, a VIP deleted under a master, a change of our own addresses.

use tracing::{info, warn};

use super::Daemon;
use super::host::Host;
use super::instance::{Instance, Problem, slot};
use super::kernel::KernelChange;
use super::link_gate::{DeviceCarrier, GateSignal};
use crate::io::netlink::{AddrEntry, LinkState, NetlinkEvent};
use crate::vrrp::{Event, State};

impl Daemon {
    pub(super) async fn on_netlink(&mut self, event: NetlinkEvent) {
        match self.host.kernel.apply(event) {
            KernelChange::Link { before, after } => {
                for inst in &mut self.instances {
                    self.host
                        .on_link_changed(inst, before.as_ref(), &after)
                        .await;
                }
                self.interface_trackers_on(&after.name).await;
            }
            KernelChange::LinkRemoved { index, gone } => {
                for inst in &mut self.instances {
                    self.host.on_link_removed(inst, index, gone.as_ref()).await;
                }
                self.prune_sockets();
                if let Some(g) = gone {
                    self.interface_trackers_on(&g.name).await;
                }
            }
            KernelChange::AddressAdded(a) => self.refresh_sources_on(&a),
            KernelChange::AddressRemoved(a) => {
                self.refresh_sources_on(&a);
                for &idx in self.owners.of_vip(a.address) {
                    let Some(inst) = self.instances.get_mut(idx) else {
                        continue;
                    };
                    if self.host.owns_deleted_vip(inst, &a) {
                        warn!(instance = %inst.name(), vip = %a.address, "VIP deleted by someone else; restoring it");
                        inst.restore_pending = true;
                        self.restores_pending = true;
                    }
                }
            }
        }
    }

    /// Our addresses on `ifindex` changed: the tie-break address may too.
    /// A VIP coming or going matters only to an instance that has no other
    /// source, or uses one of its VIPs as one (the DHCP address briefly
    /// gone): the others are not searched again, so installing hundreds of
    /// VIPs costs no search per VIP per instance.
    fn refresh_sources_on(&mut self, changed: &AddrEntry) {
        let vip = !self.owners.of_vip(changed.address).is_empty();
        for inst in self
            .instances
            .iter_mut()
            .filter(|i| i.ifindex == Some(changed.index))
        {
            let fallback = inst.cfg.families().any(|f| {
                inst.sources[slot(f)].is_none_or(|a| inst.cfg.all_vips().any(|v| v.address == a))
            });
            if !vip || fallback {
                self.host.update_local_addresses(inst);
            }
        }
    }
}

impl Host {
    async fn on_link_changed(
        &mut self,
        inst: &mut Instance,
        before: Option<&LinkState>,
        after: &LinkState,
    ) {
        let device = inst.cfg.vip_device_name();
        if device.as_deref() == Some(after.name.as_str()) {
            let signal = inst.gate.device_changed(after.running());
            self.tell_router(inst, signal).await;
            return;
        }
        if inst.cfg.interface != after.name {
            return;
        }
        if inst.ifindex != Some(after.index) {
            // The interface appeared, or was recreated under a new index.
            self.activate(inst).await;
            return;
        }
        let device_running = device
            .as_deref()
            .and_then(|d| self.kernel.link_by_name(d))
            .map(LinkState::running);
        let signal = inst.gate.parent_changed(
            before.is_some_and(LinkState::running),
            after.running(),
            DeviceCarrier::of(device_running),
        );
        self.tell_router(inst, signal).await;
    }

    async fn on_link_removed(&mut self, inst: &mut Instance, index: u32, gone: Option<&LinkState>) {
        if inst.ifindex == Some(index) {
            self.feed(inst, Event::InterfaceDown).await;
            inst.ifindex = None;
            self.layout_changed = true;
            inst.problem = Some(Problem::InterfaceRemoved {
                interface: inst.cfg.interface.clone(),
            });
            return;
        }
        let Some(gone) = gone else { return };
        if inst.cfg.vip_device_name().as_deref() != Some(gone.name.as_str()) {
            return;
        }
        let signal = inst.gate.device_removed();
        self.tell_router(inst, signal).await;
        if inst.router.state() == State::Master {
            // Our VIP device vanished under a master: recreate it and
            // restore the VIPs in place.
            warn!(instance = %inst.name(), device = %gone.name, "VIP device removed; recreating it");
            self.recreate_device(inst).await;
            self.restore_vips(inst).await;
        }
    }

    /// Passes what the link gate decided on to the router.
    async fn tell_router(&mut self, inst: &mut Instance, signal: Option<GateSignal>) {
        let interface = &inst.cfg.interface;
        let event = match signal {
            None => return,
            Some(GateSignal::WaitingForDevice) => {
                info!(instance = %inst.name(), %interface, "link up; waiting for the VIP device's carrier before announcing");
                return;
            }
            Some(GateSignal::Up) => Event::InterfaceUp,
            Some(GateSignal::Down) => Event::InterfaceDown,
        };
        info!(instance = %inst.name(), %interface, up = (event == Event::InterfaceUp), "link state changed");
        self.feed(inst, event).await;
    }

    /// Whether `removed` was one of a master's VIPs, on its device.
    fn owns_deleted_vip(&self, inst: &Instance, removed: &AddrEntry) -> bool {
        inst.router.state() == State::Master
            && inst.cfg.all_vips().any(|v| {
                v.address == removed.address
                    && self.kernel.vip_link(&inst.cfg, v).map(|l| l.index) == Some(removed.index)
            })
    }
}

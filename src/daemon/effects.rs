//! The only place that carries out the routers' [`Action`]s: adverts on
//! the VRRP sockets, VIPs through netlink, announcements through the
//! packet socket, and the bookkeeping of state changes.

use std::io;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, error, info};

use super::counters::SendFailure;
use super::host::Host;
use super::instance::Instance;
use super::sockets::SocketKey;
use crate::advert;
use crate::config::{InstanceConfig, Vip};
use crate::control::Transition;
use crate::family::Family;
use crate::vrrp::{Action, Event, State};
use crate::wire::vrrp::{VRRP_MCAST_V4, VRRP_MCAST_V6};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Host {
    /// Feeds one event to an instance's router and carries out what it says.
    pub async fn feed(&self, inst: &mut Instance, event: Event) {
        let actions = inst.router.handle(self.now(), event);
        self.apply(inst, actions).await;
    }

    /// Carries out a router's actions, in order.
    pub async fn apply(&self, inst: &mut Instance, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendAdvert { priority } => self.send_adverts(inst, priority),
                Action::AddVips => self.add_vips(&inst.cfg).await,
                Action::RemoveVips => self.remove_vips(&inst.cfg, inst.cfg.all_vips()).await,
                Action::Announce { rounds } => self.announce(inst, rounds),
                Action::StateChanged { from, to, reason } => {
                    info!(instance = %inst.cfg.name, vrid = inst.cfg.vrid, %from, %to, %reason, "state change");
                    if to == State::Master {
                        inst.counters.became_master += 1;
                    }
                    inst.transition = Some(Transition {
                        from,
                        to,
                        reason,
                        unix_time: unix_now(),
                    });
                }
            }
        }
    }

    /// Puts every VIP of the instance on its device (present ones stay).
    async fn add_vips(&self, cfg: &InstanceConfig) {
        for vip in cfg.all_vips() {
            match self.kernel.vip_link(cfg, vip) {
                Some(l) => {
                    if let Err(e) = self.nl.add_vip(l.index, &l.name, vip).await {
                        error!(instance = %cfg.name, "{e}");
                    }
                }
                None => {
                    error!(instance = %cfg.name, vip = %vip, device = %cfg.device_for(vip), "cannot add VIP: device not found")
                }
            }
        }
    }

    /// Removes these VIPs of the instance from their devices (absent ones
    /// are fine).
    pub async fn remove_vips<'a>(&self, cfg: &InstanceConfig, vips: impl Iterator<Item = &'a Vip>) {
        for vip in vips {
            if let Some(l) = self.kernel.vip_link(cfg, vip)
                && let Err(e) = self.nl.del_vip(l.index, &l.name, vip).await
            {
                error!(instance = %cfg.name, "{e}");
            }
        }
    }

    /// One advert per advertised family, to the group or to each peer.
    fn send_adverts(&self, inst: &mut Instance, priority: u8) {
        let Some(ifindex) = inst.ifindex else {
            return;
        };
        let families: Vec<Family> = inst.cfg.families().collect();
        for family in families {
            let Some(src) = self.kernel.advert_source(&inst.cfg, inst.ifindex, family) else {
                inst.counters.send_failed(SendFailure::NoSourceAddress, 1);
                continue;
            };
            let Some(sock) = self.sockets.get(SocketKey { ifindex, family }) else {
                continue;
            };
            let repr = advert::build(&inst.cfg, family, priority);
            for dst in destinations(&inst.cfg, family) {
                let sent = repr
                    .to_bytes(src, dst)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                    .and_then(|bytes| sock.send(&bytes, src, dst));
                match sent {
                    Ok(()) => inst.counters.adverts_sent += 1,
                    Err(e) => {
                        inst.counters.send_failed(SendFailure::Advert, 1);
                        debug!(instance = %inst.cfg.name, %dst, "advert not sent: {e}");
                    }
                }
            }
        }
    }

    /// `rounds` rounds of gratuitous ARP / unsolicited NA for every VIP, from
    /// the MAC of the device it is on.
    fn announce(&self, inst: &mut Instance, rounds: u32) {
        let cfg = &inst.cfg;
        let targets: Vec<_> = cfg
            .all_vips()
            .filter_map(|vip| {
                let l = self.kernel.vip_link(cfg, vip)?;
                Some((
                    l.index,
                    l.mac?,
                    vip.address,
                    self.kernel.link_local_of(l.index),
                ))
            })
            .collect();
        let mut failed = 0u64;
        for _ in 0..rounds {
            for (ix, mac, addr, ll) in &targets {
                if let Err(e) = self.announcer.announce(*ix, *mac, *addr, *ll) {
                    failed += 1;
                    debug!(vip = %addr, "announcement not sent: {e}");
                }
            }
        }
        inst.counters.send_failed(SendFailure::Announcement, failed);
    }
}

/// Where the adverts of one family go: the unicast peers of that family,
/// or the VRRP group (RFC 5798 5.1.1.2 / 5.1.2.2).
fn destinations(cfg: &InstanceConfig, family: Family) -> Vec<IpAddr> {
    match &cfg.unicast {
        Some(u) => u
            .peers
            .iter()
            .copied()
            .filter(|p| family.contains(*p))
            .collect(),
        None => match family {
            Family::V4 => vec![IpAddr::V4(VRRP_MCAST_V4)],
            Family::V6 => vec![IpAddr::V6(VRRP_MCAST_V6)],
        },
    }
}

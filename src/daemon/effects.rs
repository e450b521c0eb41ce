//! The only place that carries out the routers' [`Action`]s: adverts on
//! the VRRP sockets, VIPs through netlink, announcements through the
//! packet socket, and state changes (bookkeeping, the `transition` event,
//! notify hooks and units).

use std::io;
use std::net::IpAddr;

use tracing::{debug, error, info, warn};

use super::bus::unix_now;
use super::counters::SendFailure;
use super::hooks::Change;
use super::host::Host;
use super::instance::{Encoded, Instance, slot};
use super::sockets::SocketKey;
use crate::advert;
use crate::config::{InstanceConfig, Vip};
use crate::control::Transition;
use crate::family::Family;
use crate::notify::Facts;
use crate::vrrp::{Action, Event, Reason, State};
use crate::watch;
use crate::wire::ah::{self, AhKey, AhSend, TtlCoverage};
use crate::wire::vrrp::{VRRP_MCAST_V4, VRRP_MCAST_V6};

impl Host {
    /// Feeds one event to an instance's router and carries out what it says.
    pub async fn feed(&mut self, inst: &mut Instance, event: Event) {
        let actions = inst.router.handle(self.now(), event);
        self.apply(inst, actions).await;
    }

    /// Carries out a router's actions, in order.
    pub async fn apply(&mut self, inst: &mut Instance, actions: Vec<Action>) {
        // Every router change comes through here: its deadline may have moved.
        self.touched.push(inst.position);
        for action in actions {
            match action {
                Action::SendAdvert { priority } => self.send_adverts(inst, priority),
                Action::AddVips => self.add_vips(&inst.cfg).await,
                Action::RemoveVips => self.remove_vips(&inst.cfg, inst.cfg.all_vips()).await,
                Action::Announce { rounds } => self.announce(inst, rounds),
                Action::StateChanged { from, to, reason } => {
                    self.transitions += 1;
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
                    self.publish_transition(inst, from, to, reason);
                }
                Action::DualMaster {
                    peer,
                    peer_priority,
                } => {
                    inst.counters.dual_master += 1;
                    warn!(
                        instance = %inst.cfg.name,
                        vrid = inst.cfg.vrid,
                        %peer,
                        peer_priority,
                        priority = inst.router.priority(),
                        answer = ?inst.cfg.lower_priority_master,
                        "split brain: another master with lower priority heard"
                    );
                }
            }
        }
    }

    /// A state change goes out as an event, then to the hooks (which only
    /// queue work: nothing here waits for a script).
    fn publish_transition(&mut self, inst: &Instance, from: State, to: State, reason: Reason) {
        let seq = self.bus.emit(watch::Event::Transition {
            instance: inst.cfg.name.clone(),
            from,
            to,
            reason,
        });
        let change = Change {
            instance: inst.cfg.name.clone(),
            from,
            to,
            facts: Facts {
                reason,
                priority: inst.cfg.priority,
                effective_priority: inst.router.priority(),
                vips: inst.cfg.vips.iter().map(ToString::to_string).collect(),
                master: self.master_address(inst),
                seq,
            },
        };
        self.hooks.instance_changed(&mut self.bus, change);
    }

    /// The master as the instance knows it: our own advert source (IPv4
    /// when the instance has it) while master, else the last one heard.
    pub fn master_address(&self, inst: &Instance) -> Option<IpAddr> {
        if inst.router.state() == State::Master {
            self.kernel
                .advert_source(&inst.cfg, inst.ifindex, inst.cfg.mac_family())
        } else {
            inst.router.master_addr()
        }
    }

    /// Puts the instance's VIPs that are not on their device there (as the
    /// kernel mirror knows it: a VIP deleted a moment ago whose notification
    /// is still queued is put back when it is read). Each VIP added is
    /// noted in the mirror at once, before its notification comes back:
    /// otherwise a restore run for the next deletion of a burst would see
    /// it still missing and add it a second time.
    async fn add_vips(&mut self, cfg: &InstanceConfig) {
        let wanted: Vec<&Vip> = cfg
            .all_vips()
            .filter(|v| !self.kernel.vip_present(cfg, v))
            .collect();
        for vip in wanted {
            let Some((index, name)) = self
                .kernel
                .vip_link(cfg, vip)
                .map(|l| (l.index, l.name.clone()))
            else {
                error!(instance = %cfg.name, vip = %vip, device = %cfg.device_for(vip), "cannot add VIP: device not found");
                continue;
            };
            match self.nl.add_vip(index, &name, vip).await {
                Ok(()) => self.kernel.note_vip_added(index, vip),
                Err(e) => error!(instance = %cfg.name, "{e}"),
            }
        }
    }

    /// Removes these VIPs of the instance from their devices (absent ones
    /// are fine). An address found there with another prefix length (left
    /// by a different configuration, docs/restart.md) is removed as it is:
    /// the kernel deletes an IPv6 address only with its own prefix length.
    pub async fn remove_vips<'a>(&self, cfg: &InstanceConfig, vips: impl Iterator<Item = &'a Vip>) {
        for vip in vips {
            let Some(l) = self.kernel.vip_link(cfg, vip) else {
                continue;
            };
            let as_found = self
                .kernel
                .address_on(l.index, vip.address)
                .filter(|e| e.prefix_len != vip.prefix_len)
                .map(|e| Vip {
                    prefix_len: e.prefix_len,
                    ..vip.clone()
                });
            if let Err(e) = self
                .nl
                .del_vip(l.index, &l.name, as_found.as_ref().unwrap_or(vip))
                .await
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
        for family in Family::ALL {
            if !inst.cfg.advertises(family) {
                continue;
            }
            let Some(src) = inst.sources[slot(family)] else {
                inst.counters.send_failed(SendFailure::NoSourceAddress, 1);
                continue;
            };
            if let Some(key) = inst.cfg.ah_key() {
                self.send_ah_adverts(inst, &key, ifindex, priority, src);
                continue;
            }
            let Some(sock) = self.sockets.get(SocketKey { ifindex, family }) else {
                continue;
            };
            let tos = inst.cfg.dscp.tos();
            for dst in destinations(&inst.cfg, family) {
                let sent = encoded(inst, family, priority, src, dst)
                    .and_then(|bytes| sock.send(bytes, src, dst, tos));
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

    /// VRRPv2 adverts in AH (IPv4 only), each with the next sequence number
    /// and its own ICV: never from the cache.
    fn send_ah_adverts(
        &self,
        inst: &mut Instance,
        key: &AhKey,
        ifindex: u32,
        priority: u8,
        src: IpAddr,
    ) {
        let (Some(sock), IpAddr::V4(src4)) = (self.sockets.get_ah(ifindex), src) else {
            return;
        };
        let ttl = if inst.cfg.unicast.is_some() {
            TtlCoverage::Zeroed
        } else {
            TtlCoverage::Covered
        };
        // One number per advert round, the same to every unicast peer, as
        // keepalived does (each peer sees them rise).
        let (seq, ip_id) = inst.ah_seq.next_send();
        for dst in destinations(&inst.cfg, Family::V4) {
            let IpAddr::V4(dst4) = dst else {
                continue;
            };
            let sent = advert::build(&inst.cfg, Family::V4, priority)
                .to_bytes(src, dst)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                .and_then(|msg| {
                    let send = AhSend {
                        src: src4,
                        dst: dst4,
                        ip_id,
                        seq,
                        ttl,
                    };
                    sock.send_datagram(&ah::build_datagram(key, &send, &msg), dst4)
                });
            match sent {
                Ok(()) => inst.counters.adverts_sent += 1,
                Err(e) => {
                    inst.counters.send_failed(SendFailure::Advert, 1);
                    debug!(instance = %inst.cfg.name, %dst, "AH advert not sent: {e}");
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

/// The advert's bytes, encoded once for a family, priority, source and
/// destination and re-sent from the instance's cache after that.
pub(super) fn encoded(
    inst: &mut Instance,
    family: Family,
    priority: u8,
    src: IpAddr,
    dst: IpAddr,
) -> io::Result<&[u8]> {
    let hit = inst
        .encoded
        .iter()
        .position(|e| e.family == family && e.priority == priority && e.src == src && e.dst == dst);
    let at = match hit {
        Some(at) => at,
        None => {
            let bytes = advert::build(&inst.cfg, family, priority)
                .to_bytes_with(src, dst, inst.cfg.v3_ipv4_checksum.codec())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            // A few entries at most (priority 0 on leaving, a new source):
            // drop the oldest beyond that.
            if inst.encoded.len() >= 8 {
                inst.encoded.remove(0);
            }
            inst.encoded.push(Encoded {
                family,
                priority,
                src,
                dst,
                bytes,
            });
            inst.encoded.len() - 1
        }
    };
    Ok(&inst.encoded[at].bytes)
}

/// Where the adverts of one family go: the unicast peers of that family,
/// or the VRRP group (RFC 5798 5.1.1.2 / 5.1.2.2).
pub(super) fn destinations(cfg: &InstanceConfig, family: Family) -> Vec<IpAddr> {
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

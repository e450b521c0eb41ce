//! The receive and send paths without I/O, for `cargo bench --bench
//! receive_cost`: what the daemon does for every advert a backup hears
//! (classify it, feed it to its router, find the next deadline), on N
//! dual-stack instances, replayed from encoded adverts; and what it does
//! for every advert a master sends (take the due routers, fire their
//! timers, find the bytes and destinations, re-schedule), up to the
//! send(2) itself. Run under callgrind, they give per-advert instruction
//! counts that do not depend on the machine or its load.

use std::net::IpAddr;
use std::path::Path;

use super::instance::Instance;
use super::kernel::KernelView;
use super::owners::Owners;
use super::receive::{Verdict, classify};
use super::schedule::Schedule;
use super::sockets::SocketKey;
use crate::config::Config;
use crate::family::Family;
use crate::io::netlink::{AddrEntry, LinkState};
use crate::io::vrrp_socket::{Datagram, Received};
use crate::vrrp::{Event, Time};
use crate::wire::vrrp::{Auth, VRRP_MCAST_V4, VRRP_MCAST_V6, Version, VrrpRepr};

/// `n` dual-stack instances on eth0/eth1 (255 VRIDs on each), as
/// configured text; `extra` goes into each instance.
fn instances_text(n: usize, extra: &str) -> String {
    let mut text = String::from("instances:\n");
    for k in 1..=n {
        let (ifname, vrid) = if k <= 255 {
            ("eth0", k)
        } else {
            ("eth1", k - 255)
        };
        text.push_str(&format!(
            "  - name: i{k}\n    interface: {ifname}\n    vrid: {vrid}\n    vips: [10.{}.{}.1/32, \"fd00::{k:x}/128\"]\n",
            k / 250,
            k % 250
        ));
        text.push_str(extra);
    }
    text
}

/// The instances of `text`, on eth0 (ifindex 1) and eth1 (2), started.
fn started(text: &str) -> Vec<Instance> {
    let config = Config::parse(text, Path::new("replay")).expect("replay config");
    config
        .instances
        .into_iter()
        .map(|c| {
            let ifindex = if c.interface == "eth0" { 1 } else { 2 };
            let mut i = Instance::new(c);
            i.ifindex = Some(ifindex);
            i.router.handle(Time::ZERO, Event::Startup);
            i
        })
        .collect()
}

/// Replays `rounds` adverts per instance and family to `instances` backups
/// (up to 510: 255 VRIDs on each of two interfaces); returns how many were
/// delivered (every one, or the replay is broken).
#[doc(hidden)]
pub fn replay_adverts(instances: usize, rounds: usize) -> usize {
    let n = instances.clamp(1, 510);
    let mut list = started(&instances_text(n, ""));
    let link = |index: u32, name: &str| LinkState {
        index,
        name: name.into(),
        mac: None,
        up: true,
        lower_up: true,
    };
    let kernel = KernelView::new(
        vec![link(1, "eth0"), link(2, "eth1")],
        vec![
            entry(1, "10.0.0.1"),
            entry(1, "fe80::1"),
            entry(2, "10.0.1.1"),
            entry(2, "fe80::1"),
        ],
    );
    let peer4: IpAddr = "10.0.0.2".parse().unwrap();
    let peer6: IpAddr = "fe80::2".parse().unwrap();
    let datagrams: Vec<(SocketKey, Datagram)> = list
        .iter()
        .flat_map(|i| {
            Family::ALL.into_iter().map(|family| {
                let (src, dst) = match family {
                    Family::V4 => (peer4, IpAddr::V4(VRRP_MCAST_V4)),
                    Family::V6 => (peer6, IpAddr::V6(VRRP_MCAST_V6)),
                };
                let repr = VrrpRepr {
                    version: Version::V3,
                    vrid: i.cfg.vrid,
                    priority: 200,
                    max_adver_int: 100,
                    auth: Auth::None,
                    addresses: i
                        .cfg
                        .vips
                        .iter()
                        .filter(|v| v.family() == family)
                        .map(|v| v.address)
                        .collect(),
                };
                let payload = repr.to_bytes(src, dst).expect("encode");
                let key = SocketKey {
                    ifindex: i.ifindex.unwrap_or(1),
                    family,
                };
                (
                    key,
                    Datagram::Vrrp(Received {
                        src,
                        dst,
                        ttl: 255,
                        payload,
                        ah: None,
                    }),
                )
            })
        })
        .collect();
    let owners = Owners::new(&list);
    let mut schedule = Schedule::default();
    schedule.rebuild(&list);
    let mut delivered = 0;
    let mut next = None;
    for r in 0..rounds {
        let now = Time::from_millis(r as u64);
        // As the daemon does per advert: classify, feed, re-schedule, and
        // the loop asks for the next deadline.
        for (key, d) in &datagrams {
            if let Verdict::Deliver {
                instance, event, ..
            } = classify(*key, d, &list, &owners, &kernel)
            {
                let inst = &mut list[instance];
                inst.counters.adverts_received += 1;
                let _ = inst.router.handle(now, event);
                schedule.set(instance, inst.router.poll_at());
                delivered += 1;
            }
            next = schedule.next();
        }
    }
    std::hint::black_box(next);
    delivered
}

/// Fires `rounds` advert timers of `instances` masters (up to 510), as the
/// daemon's loop does when their deadlines come: the due routers taken from
/// the schedule, each router's timeout, and for each advert its encoded
/// bytes (from the instance's cache after the first) and destinations,
/// then the new deadline. Returns the adverts that would be sent (two per
/// instance and round: IPv4 and IPv6).
#[doc(hidden)]
pub fn replay_sends(instances: usize, rounds: usize) -> usize {
    let n = instances.clamp(1, 510);
    let mut list = started(&instances_text(
        n,
        "    initial_state: master\n    advert_interval: 1s\n",
    ));
    for i in &mut list {
        let v4 = IpAddr::from([10, 0, i.ifindex.unwrap_or(1) as u8 - 1, 1]);
        i.sources = [Some(v4), Some("fe80::1".parse().unwrap())];
    }
    let mut schedule = Schedule::default();
    schedule.rebuild(&list);
    let mut sent = 0;
    let mut now = Time::ZERO;
    for _ in 0..rounds {
        // Every master is due once per interval: one interval later, all.
        now += std::time::Duration::from_secs(1);
        for idx in schedule.take_due(now) {
            let inst = &mut list[idx];
            for action in inst.router.handle_timeout(now) {
                let crate::vrrp::Action::SendAdvert { priority } = action else {
                    continue;
                };
                for family in Family::ALL {
                    let Some(src) = inst.sources[super::instance::slot(family)] else {
                        continue;
                    };
                    for dst in super::effects::destinations(&inst.cfg, family) {
                        if let Ok(bytes) = super::effects::encoded(inst, family, priority, src, dst)
                        {
                            std::hint::black_box(bytes);
                            sent += 1;
                        }
                    }
                }
            }
            schedule.set(idx, inst.router.poll_at());
        }
        std::hint::black_box(schedule.next());
    }
    sent
}

fn entry(index: u32, a: &str) -> AddrEntry {
    AddrEntry {
        index,
        address: a.parse().unwrap(),
        prefix_len: 64,
        secondary: false,
        tentative: false,
    }
}

#[cfg(test)]
mod tests {
    use super::{replay_adverts, replay_sends};

    /// The benchmark's figures mean something only if every replayed
    /// advert went the whole way: delivered to its backup, sent by its
    /// master once per round.
    #[test]
    fn every_advert_is_delivered_and_every_master_sends_each_round() {
        assert_eq!(replay_adverts(3, 2), 12);
        assert_eq!(replay_sends(3, 4), 24);
        assert_eq!(replay_sends(300, 1), 600);
    }
}

//! The receive path: a datagram from a VRRP socket becomes an advert for
//! one instance's router, or a counted drop with its reason.
//!
//! [`classify`] is pure (the datagram, the instances, the kernel mirror in;
//! a verdict out), so every drop reason is unit tested; [`Daemon::on_packet`]
//! only carries the verdict out.

use tracing::debug;

use super::Daemon;
use super::counters::DropReason;
use super::instance::Instance;
use super::kernel::KernelView;
use super::owners::Owners;
use super::sockets::SocketKey;
use crate::advert;
use crate::config::{ChecksumAccept, V3Ipv4ChecksumForm};
use crate::io::vrrp_socket::{Datagram, Received};
use crate::vrrp::Event;
use crate::wire::vrrp::{self, ParseError};

/// What to do with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Count a drop, on the instance the packet names when one does, else
    /// on the daemon's unmatched counters.
    Drop {
        instance: Option<usize>,
        reason: DropReason,
    },
    /// A valid advert for the instance at this position; with AH, the
    /// sequence number it carried, to be recorded.
    Deliver {
        instance: usize,
        event: Event,
        ah_seq: Option<u32>,
    },
}

/// Decides what a datagram read on socket `key` is (RFC 5798 7.1, RFC 3768
/// 7.1): malformed (the codec's checks), for no instance (unknown VRID on
/// that interface and family), not to be acted on (the instance's checks),
/// or an advert.
pub fn classify(
    key: SocketKey,
    datagram: &Datagram,
    instances: &[Instance],
    owners: &Owners,
    kernel: &KernelView,
) -> Verdict {
    let pkt: &Received = match datagram {
        Datagram::Vrrp(p) => p,
        Datagram::BadIpHeader(_) => {
            return Verdict::Drop {
                instance: None,
                reason: DropReason::Malformed(ParseError::BadIpHeader),
            };
        }
        Datagram::BadAh(e) => {
            return Verdict::Drop {
                instance: None,
                reason: DropReason::Malformed(*e),
            };
        }
    };
    let owner = |vrid: u8| owners.get(key, vrid);
    // The checksum forms the instance the message names accepts (VRRPv3
    // over IPv4 only; the codec ignores the form elsewhere).
    let named = vrrp::peek_vrid(&pkt.payload).and_then(owner);
    let cfg = named.and_then(|i| instances.get(i)).map(|inst| &inst.cfg);
    let sent = cfg.map(|c| c.v3_ipv4_checksum).unwrap_or_default();
    let accept = cfg.map(|c| c.v3_ipv4_checksum_accept).unwrap_or_default();
    let repr = match parse_accepting(&pkt.payload, pkt.src, pkt.dst, sent, accept) {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Drop {
                instance: named,
                reason: DropReason::Malformed(e),
            };
        }
    };
    // The VRID parsed is the one peeked at (the same byte): one lookup.
    debug_assert_eq!(vrrp::peek_vrid(&pkt.payload), Some(repr.vrid));
    let Some(idx) = named else {
        return Verdict::Drop {
            instance: None,
            reason: DropReason::UnknownVrid,
        };
    };
    let inst = &instances[idx];
    // Our own advert come back (a unicast peer list naming us): said as
    // such, not as the replay its sequence number would make it.
    if kernel.is_own_address(pkt.src) {
        return Verdict::Drop {
            instance: Some(idx),
            reason: DropReason::Rejected(advert::Reject::OwnPacket),
        };
    }
    // Nothing in an AH advert is believed before its ICV is checked.
    let ah_seq = match advert::check_ah(
        &inst.cfg,
        pkt.ah.as_ref(),
        &pkt.payload,
        pkt.src,
        &inst.ah_seq,
    ) {
        Ok(seq) => seq,
        Err(r) => {
            return Verdict::Drop {
                instance: Some(idx),
                reason: DropReason::Rejected(r),
            };
        }
    };
    let verdict = advert::check(&inst.cfg, &repr, pkt.src, pkt.ttl, |a| {
        kernel.is_own_address(a)
    });
    match verdict {
        Err(r) => Verdict::Drop {
            instance: Some(idx),
            reason: DropReason::Rejected(r),
        },
        Ok(()) => Verdict::Deliver {
            instance: idx,
            event: Event::Advert {
                src: pkt.src,
                priority: repr.priority,
                max_adver_int: repr.max_adver_int,
            },
            ah_seq,
        },
    }
}

/// Parses with the instance's checksum form, then, when it accepts any
/// and only the checksum failed, with the others. The error is the sent
/// form's when none fits (a message wrong in any other way fails alike).
fn parse_accepting(
    payload: &[u8],
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    sent: V3Ipv4ChecksumForm,
    accept: ChecksumAccept,
) -> Result<vrrp::VrrpRepr, ParseError> {
    let first = vrrp::parse_with(payload, src, dst, sent.codec());
    if first != Err(ParseError::BadChecksum) {
        return first;
    }
    accept
        .fallbacks(sent)
        .find_map(|form| vrrp::parse_with(payload, src, dst, form).ok())
        .ok_or(ParseError::BadChecksum)
}

impl Daemon {
    pub(super) async fn on_packet(&mut self, key: SocketKey, datagram: Datagram) {
        match classify(
            key,
            &datagram,
            &self.instances,
            &self.owners,
            &self.host.kernel,
        ) {
            Verdict::Drop { instance, reason } => {
                match instance.and_then(|i| self.instances.get_mut(i)) {
                    Some(inst) => inst.counters.dropped(reason),
                    None => self.unmatched_drops.add(reason.key(), 1),
                }
                match &datagram {
                    Datagram::Vrrp(p) => {
                        debug!(src = %p.src, reason = reason.key(), "dropped VRRP packet")
                    }
                    Datagram::BadIpHeader(e) => debug!("dropped packet: bad IP header: {e}"),
                    Datagram::BadAh(e) => debug!("dropped packet: {e}"),
                }
            }
            Verdict::Deliver {
                instance,
                event,
                ah_seq,
            } => {
                let inst = &mut self.instances[instance];
                inst.counters.adverts_received += 1;
                if let Some(seq) = ah_seq {
                    inst.ah_seq.accepted(seq);
                }
                self.host.feed(inst, event).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advert::Reject;
    use crate::config::Config;
    use crate::family::Family;
    use crate::io::netlink::{AddrEntry, LinkState};
    use std::net::IpAddr;
    use std::path::Path;

    /// The instances of a configuration text, on interface 1.
    fn instances_of(text: &str) -> Vec<Instance> {
        Config::parse(text, Path::new("t"))
            .unwrap()
            .instances
            .into_iter()
            .map(|c| {
                let mut i = Instance::new(c);
                i.ifindex = Some(1);
                i
            })
            .collect()
    }

    fn instances() -> Vec<Instance> {
        instances_of(
            "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    vips: [192.0.2.10/24]\n  - name: b\n    interface: eth0\n    vrid: 8\n    vips: [\"2001:db8::8/64\"]\n",
        )
    }

    fn kernel() -> KernelView {
        KernelView::new(
            vec![LinkState {
                index: 1,
                name: "eth0".into(),
                mac: None,
                up: true,
                lower_up: true,
            }],
            vec![AddrEntry {
                index: 1,
                address: "192.0.2.1".parse().unwrap(),
                prefix_len: 24,
                secondary: false,
                tentative: false,
            }],
        )
    }

    const V4: SocketKey = SocketKey {
        ifindex: 1,
        family: Family::V4,
    };

    fn datagram(vrid: u8, priority: u8, src: &str, ttl: u8) -> Datagram {
        let src: IpAddr = src.parse().unwrap();
        let dst = IpAddr::V4(vrrp::VRRP_MCAST_V4);
        let mut repr = advert::build(&instances()[0].cfg, Family::V4, priority);
        repr.vrid = vrid;
        Datagram::Vrrp(Received {
            src,
            dst,
            ttl,
            payload: repr.to_bytes(src, dst).unwrap(),
            ah: None,
        })
    }

    fn drop(instance: Option<usize>, reason: DropReason) -> Verdict {
        Verdict::Drop { instance, reason }
    }

    #[test]
    fn a_valid_advert_goes_to_its_instance() {
        let i = instances();
        let v = classify(
            V4,
            &datagram(7, 200, "192.0.2.2", 255),
            &i,
            &Owners::new(&i),
            &kernel(),
        );
        assert_eq!(
            v,
            Verdict::Deliver {
                instance: 0,
                event: Event::Advert {
                    src: "192.0.2.2".parse().unwrap(),
                    priority: 200,
                    max_adver_int: 100
                },
                ah_seq: None,
            }
        );
    }

    /// keepalived's captured AH advert as the AH socket hands it over.
    fn keepalived_ah() -> Datagram {
        let d = crate::wire::ah::tests::KEEPALIVED;
        let (h, rest) = crate::wire::ipv4::parse_ipv4(&d).unwrap();
        let (header, msg) = crate::wire::ah::parse(rest).unwrap();
        Datagram::Vrrp(Received {
            src: IpAddr::V4(h.src),
            dst: IpAddr::V4(h.dst),
            ttl: h.ttl,
            payload: msg.to_vec(),
            ah: Some(crate::wire::ah::AhEnvelope {
                ip_header: d[..20].to_vec(),
                header,
            }),
        })
    }

    fn ah_instances(auth_type: &str) -> Vec<Instance> {
        let text = format!(
            "instances:\n  - name: a\n    interface: eth0\n    vrid: 51\n    version: 2\n    auth_type: {auth_type}\n    auth_pass: '12345678'\n    vips: [1.2.3.4/32]\n"
        );
        instances_of(&text)
    }

    #[test]
    fn ah_adverts_are_verified_then_delivered_once() {
        let k = kernel();
        let mut i = ah_instances("ah");
        let v = classify(V4, &keepalived_ah(), &i, &Owners::new(&i), &k);
        assert_eq!(
            v,
            Verdict::Deliver {
                instance: 0,
                event: Event::Advert {
                    src: "10.9.60.1".parse().unwrap(),
                    priority: 100,
                    max_adver_int: 1
                },
                ah_seq: Some(1),
            }
        );
        // Once recorded, the same advert is a replay.
        i[0].ah_seq.accepted(1);
        assert_eq!(
            classify(V4, &keepalived_ah(), &i, &Owners::new(&i), &k),
            drop(Some(0), DropReason::Rejected(Reject::AhReplay))
        );
        // The password instance does not take AH.
        let p = ah_instances("pass");
        assert_eq!(
            classify(V4, &keepalived_ah(), &p, &Owners::new(&p), &k),
            drop(Some(0), DropReason::Rejected(Reject::AhUnexpected))
        );
        // A bad AH header is counted where unmatched packets are.
        assert_eq!(
            classify(
                V4,
                &Datagram::BadAh(ParseError::BadAhHeader),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(None, DropReason::Malformed(ParseError::BadAhHeader))
        );
    }

    #[test]
    fn each_drop_lands_where_the_operator_looks() {
        let (i, k) = (instances(), kernel());
        // The instance's own checks (RFC 5798 7.1): counted on the instance.
        assert_eq!(
            classify(
                V4,
                &datagram(7, 200, "192.0.2.2", 64),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(Some(0), DropReason::Rejected(Reject::BadTtl))
        );
        assert_eq!(
            classify(
                V4,
                &datagram(7, 200, "192.0.2.1", 255),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(Some(0), DropReason::Rejected(Reject::OwnPacket)),
            "our own address"
        );
        // No instance with that VRID on this interface and family.
        assert_eq!(
            classify(
                V4,
                &datagram(9, 200, "192.0.2.2", 255),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(None, DropReason::UnknownVrid)
        );
        // VRID 8 is an IPv6 instance: not ours on the IPv4 socket.
        assert_eq!(
            classify(
                V4,
                &datagram(8, 200, "192.0.2.2", 255),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(None, DropReason::UnknownVrid)
        );
        // Malformed, naming a VRID of ours: charged to that instance.
        let Datagram::Vrrp(mut bad) = datagram(7, 200, "192.0.2.2", 255) else {
            unreachable!()
        };
        bad.payload[7] ^= 0xff;
        assert_eq!(
            classify(V4, &Datagram::Vrrp(bad.clone()), &i, &Owners::new(&i), &k),
            drop(Some(0), DropReason::Malformed(ParseError::BadChecksum))
        );
        // Malformed, naming no VRID of ours, or none at all.
        bad.payload[1] = 99;
        assert_eq!(
            classify(V4, &Datagram::Vrrp(bad.clone()), &i, &Owners::new(&i), &k),
            drop(None, DropReason::Malformed(ParseError::BadChecksum))
        );
        bad.payload.clear();
        assert_eq!(
            classify(V4, &Datagram::Vrrp(bad), &i, &Owners::new(&i), &k),
            drop(None, DropReason::Malformed(ParseError::EmptyPayload)),
            "an empty VRRP payload has its own reason: the IP header was fine"
        );
        // An IPv4 header the socket could not read.
        assert_eq!(
            classify(
                V4,
                &Datagram::BadIpHeader(ParseError::BadIpVersion(6)),
                &i,
                &Owners::new(&i),
                &k
            ),
            drop(None, DropReason::Malformed(ParseError::BadIpHeader))
        );
    }

    /// The checksum form comes from the instance the message names: the
    /// sent form only by default, any form with `v3_ipv4_checksum_accept: any`.
    #[test]
    fn checksum_forms_follow_the_instance() {
        let with = |extra: &str| -> Vec<Instance> {
            let text = format!(
                "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    vips: [192.0.2.10/24]\n{extra}"
            );
            instances_of(&text)
        };
        let src: IpAddr = "192.0.2.2".parse().unwrap();
        let dst = IpAddr::V4(vrrp::VRRP_MCAST_V4);
        let msg_only = |i: &[Instance]| {
            let repr = advert::build(&i[0].cfg, Family::V4, 200);
            Datagram::Vrrp(Received {
                src,
                dst,
                ttl: 255,
                payload: repr
                    .to_bytes_with(src, dst, vrrp::V3Ipv4Checksum::MessageOnly)
                    .unwrap(),
                ah: None,
            })
        };
        let k = kernel();
        let rfc = with("");
        assert_eq!(
            classify(V4, &msg_only(&rfc), &rfc, &Owners::new(&rfc), &k),
            drop(Some(0), DropReason::Malformed(ParseError::BadChecksum))
        );
        let mo = with("    v3_ipv4_checksum: message_only\n");
        assert!(matches!(
            classify(V4, &msg_only(&mo), &mo, &Owners::new(&mo), &k),
            Verdict::Deliver { instance: 0, .. }
        ));
        // message_only alone refuses the RFC form ...
        let rfc_dgram = datagram(7, 200, "192.0.2.2", 255);
        assert_eq!(
            classify(V4, &rfc_dgram, &mo, &Owners::new(&mo), &k),
            drop(Some(0), DropReason::Malformed(ParseError::BadChecksum))
        );
        // ... and accepts it with accept: any.
        let any = with("    v3_ipv4_checksum: message_only\n    v3_ipv4_checksum_accept: any\n");
        assert!(matches!(
            classify(V4, &rfc_dgram, &any, &Owners::new(&any), &k),
            Verdict::Deliver { instance: 0, .. }
        ));
        assert!(matches!(
            classify(V4, &msg_only(&any), &any, &Owners::new(&any), &k),
            Verdict::Deliver { instance: 0, .. }
        ));
    }
}

//! Unsolicited Neighbor Advertisement, the IPv6 counterpart of gratuitous
//! ARP: sent when this node becomes Master so that neighbours repoint their
//! cache entries for the virtual IPv6 addresses at once (RFC 5798 6.4.1 /
//! 6.4.2, RFC 4861 7.2.6).
//!
//! The whole Ethernet frame is built here because it goes out on an
//! AF_PACKET socket: an ICMPv6 raw socket would let the kernel pick the
//! source MAC, and the point of the message is to announce a specific one
//! (the VRRP virtual MAC).

use std::net::Ipv6Addr;

use super::checksum;

/// All-nodes multicast address, RFC 4861 7.2.6: unsolicited advertisements
/// go to it.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Ethernet mapping of ff02::1 (RFC 2464 section 7: 33:33 + low 32 bits).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
/// EtherType for IPv6 (RFC 2464 section 3).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IPv6 next-header value for ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbor Advertisement (RFC 4861 4.4).
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Target Link-Layer Address option type (RFC 4861 4.6.1).
pub const OPT_TARGET_LLADDR: u8 = 2;

const ETH_LEN: usize = 14;
const IPV6_LEN: usize = 40;
/// NA fixed part (type, code, checksum, flags+reserved, target) = 24, plus
/// one 8-octet TLLA option for a 6-byte MAC.
const NA_LEN: usize = 24 + 8;
/// Length of the frame [`unsolicited_na`] builds.
pub const FRAME_LEN: usize = ETH_LEN + IPV6_LEN + NA_LEN;

/// RFC 4861 4.4 flag bits in the first octet after the checksum.
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// RFC 4861 7.1.2: receivers drop ND messages whose hop limit is not 255,
/// which proves the sender is on-link.
const ND_HOP_LIMIT: u8 = 255;

/// What a test or capture check wants to know about an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaInfo {
    pub target: Ipv6Addr,
    pub tlla: Option<[u8; 6]>,
    pub hop_limit: u8,
    pub override_flag: bool,
}

/// Builds an unsolicited NA announcing that `target` is at `src_mac`, sent
/// from `src_ip` to all nodes, with the Router flag clear.
///
/// RFC 5798 6.4.1 asks for R set because a VRRP router is a router; vipd
/// floats service addresses on hosts that usually are not, and RFC 4861
/// 7.2.4/7.2.5 tie R to the IsRouter state neighbours keep for the sender,
/// so it is clear by default. Use [`unsolicited_na_with_router_flag`] for
/// hosts that do forward.
pub fn unsolicited_na(src_mac: [u8; 6], src_ip: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    unsolicited_na_with_router_flag(src_mac, src_ip, target, false)
}

/// [`unsolicited_na`] with an explicit Router flag.
///
/// Solicited is always clear and Override always set, per RFC 4861 7.2.6
/// for unsolicited advertisements of a non-anycast address: Override is what
/// makes neighbours replace the cached link-layer address.
pub fn unsolicited_na_with_router_flag(
    src_mac: [u8; 6],
    src_ip: Ipv6Addr,
    target: Ipv6Addr,
    router: bool,
) -> Vec<u8> {
    let mut icmp = [0u8; NA_LEN];
    icmp[0] = NEIGHBOR_ADVERT;
    icmp[1] = 0; // code
    // icmp[2..4]: checksum, filled below.
    icmp[4] = FLAG_OVERRIDE | if router { FLAG_ROUTER } else { 0 };
    // icmp[5..8]: reserved, zero.
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = OPT_TARGET_LLADDR;
    icmp[25] = 1; // option length in units of 8 octets
    icmp[26..32].copy_from_slice(&src_mac);
    // RFC 4443 2.3: checksum over the RFC 2460 8.1 pseudo-header and the
    // ICMPv6 message with the checksum field zero.
    let sum = checksum::checksum_v6(src_ip, ALL_NODES, IPPROTO_ICMPV6, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut frame = Vec::with_capacity(FRAME_LEN);
    // Ethernet II.
    frame.extend_from_slice(&ALL_NODES_MAC);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header, RFC 8200 section 3: version 6, traffic class 0, flow 0.
    frame.extend_from_slice(&[0x60, 0x00, 0x00, 0x00]);
    // NA_LEN is a small constant (32); the conversion cannot saturate.
    frame.extend_from_slice(&u16::try_from(NA_LEN).unwrap_or(u16::MAX).to_be_bytes());
    frame.push(IPPROTO_ICMPV6);
    frame.push(ND_HOP_LIMIT);
    frame.extend_from_slice(&src_ip.octets());
    frame.extend_from_slice(&ALL_NODES.octets());
    frame.extend_from_slice(&icmp);
    frame
}

/// Decodes an Ethernet frame holding an IPv6 Neighbor Advertisement, for
/// tests and captures. Returns `None` unless it is one with a correct
/// ICMPv6 checksum and well-formed options (RFC 4861 7.1.2); the hop limit
/// is reported rather than enforced so tests can assert on it. Extension
/// headers are not followed.
pub fn parse_na(frame: &[u8]) -> Option<NaInfo> {
    let eth = frame.get(..ETH_LEN)?;
    if eth.get(12..14)? != ETHERTYPE_IPV6.to_be_bytes() {
        return None;
    }
    let ip: &[u8; IPV6_LEN] = frame.get(ETH_LEN..ETH_LEN + IPV6_LEN)?.try_into().ok()?;
    if ip[0] >> 4 != 6 || ip[6] != IPPROTO_ICMPV6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let hop_limit = ip[7];
    let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    let start = ETH_LEN + IPV6_LEN;
    let icmp = frame.get(start..start + payload_len)?;

    // RFC 4861 7.1.2: type 136, code 0, ICMP length >= 24, valid checksum.
    let fixed: &[u8; 24] = icmp.get(..24)?.try_into().ok()?;
    if fixed[0] != NEIGHBOR_ADVERT || fixed[1] != 0 {
        return None;
    }
    let pseudo = checksum::pseudo_header_v6(
        Ipv6Addr::from(src),
        Ipv6Addr::from(dst),
        IPPROTO_ICMPV6,
        icmp.len(),
    );
    if !checksum::verify(pseudo, icmp) {
        return None;
    }
    let flags = fixed[4];
    // RFC 4861 7.1.2: a multicast NA must not claim to be solicited.
    if Ipv6Addr::from(dst).is_multicast() && flags & FLAG_SOLICITED != 0 {
        return None;
    }
    let target: [u8; 16] = fixed.get(8..24)?.try_into().ok()?;

    // Options: type, length in 8-octet units (0 is invalid), value.
    let mut tlla = None;
    let mut rest = icmp.get(24..)?;
    while !rest.is_empty() {
        let kind = *rest.first()?;
        let units = usize::from(*rest.get(1)?);
        if units == 0 {
            return None;
        }
        let opt = rest.get(..units * 8)?;
        if kind == OPT_TARGET_LLADDR && units == 1 && tlla.is_none() {
            tlla = opt.get(2..8).and_then(|m| <[u8; 6]>::try_from(m).ok());
        }
        rest = rest.get(units * 8..)?;
    }

    Some(NaInfo {
        target: Ipv6Addr::from(target),
        tlla,
        hop_limit,
        override_flag: flags & FLAG_OVERRIDE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];

    fn src_ip() -> Ipv6Addr {
        "fe80::200:5eff:fe00:133".parse().unwrap()
    }

    fn target() -> Ipv6Addr {
        "fd00::10".parse().unwrap()
    }

    #[rustfmt::skip]
    const EXPECTED: [u8; 86] = [
        // Ethernet
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, // destination: ff02::1 mapped
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // source: VRRP VMAC for VRID 51
        0x86, 0xdd,                         // EtherType IPv6
        // IPv6
        0x60, 0x00, 0x00, 0x00,             // version 6, traffic class 0, flow 0
        0x00, 0x20,                         // payload length 32
        0x3a,                               // next header 58 (ICMPv6)
        0xff,                               // hop limit 255
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // source fe80::
        0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x01, 0x33, //   200:5eff:fe00:133
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // destination ff02::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //   1
        // ICMPv6 Neighbor Advertisement
        0x88,                               // type 136
        0x00,                               // code 0
        0x9b, 0xa7,                         // checksum
        0x20,                               // R=0 S=0 O=1, 5 reserved bits
        0x00, 0x00, 0x00,                   // reserved
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target fd00::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, //   10
        0x02,                               // option: target link-layer address
        0x01,                               // option length 1 (8 octets)
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // link-layer address
    ];

    /// Deliberately naive RFC 1071 sum, independent of `wire::checksum`.
    fn independent_icmpv6_checksum(frame: &[u8]) -> u16 {
        let ip = &frame[14..54];
        let icmp = &frame[54..];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&ip[8..40]); // source + destination
        bytes.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        bytes.extend_from_slice(icmp);
        bytes[32 + 8 + 2] = 0; // zero the checksum field in the copy
        bytes[32 + 8 + 3] = 0;
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn unsolicited_na_vector() {
        let frame = unsolicited_na(VMAC, src_ip(), target());
        assert_eq!(frame, EXPECTED);
        assert_eq!(frame.len(), FRAME_LEN);
        assert_eq!(independent_icmpv6_checksum(&frame), 0x9ba7);
    }

    #[test]
    fn router_flag_variant() {
        let frame = unsolicited_na_with_router_flag(VMAC, src_ip(), target(), true);
        assert_eq!(frame[58], 0xa0); // R=1 S=0 O=1
        let sum = u16::from_be_bytes([frame[56], frame[57]]);
        assert_eq!(sum, independent_icmpv6_checksum(&frame));
        assert!(parse_na(&frame).is_some());
    }

    #[test]
    fn checksum_tracks_inputs() {
        let other: Ipv6Addr = "2001:db8::5".parse().unwrap();
        for (mac, src, tgt) in [
            ([0x02, 0, 0, 0, 0, 1], other, target()),
            (VMAC, other, other),
            ([0xff; 6], src_ip(), Ipv6Addr::UNSPECIFIED),
        ] {
            let frame = unsolicited_na(mac, src, tgt);
            let sum = u16::from_be_bytes([frame[56], frame[57]]);
            assert_eq!(sum, independent_icmpv6_checksum(&frame));
        }
    }

    #[test]
    fn parse_round_trip() {
        assert_eq!(
            parse_na(&EXPECTED),
            Some(NaInfo {
                target: target(),
                tlla: Some(VMAC),
                hop_limit: 255,
                override_flag: true,
            })
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for n in 0..EXPECTED.len() {
            assert_eq!(parse_na(&EXPECTED[..n]), None, "length {n}");
        }
        // Bad checksum.
        let mut f = EXPECTED;
        f[57] ^= 0x01;
        assert_eq!(parse_na(&f), None);
        // Wrong EtherType, IP version, next header.
        for (i, v) in [(12, 0x08), (14, 0x40), (20, 17)] {
            let mut f = EXPECTED;
            f[i] = v;
            assert_eq!(parse_na(&f), None, "byte {i}");
        }
        // Wrong type, wrong code, S flag on a multicast NA, zero-length
        // option: each with a correct checksum, so the field check is what
        // rejects it.
        for (i, v) in [(54, 135), (55, 1), (58, 0x60), (79, 0)] {
            let mut f = EXPECTED;
            f[i] = v;
            let sum = independent_icmpv6_checksum(&f);
            f[56..58].copy_from_slice(&sum.to_be_bytes());
            assert_eq!(parse_na(&f), None, "byte {i}");
        }
        // Sanity: the same re-checksumming leaves the original valid.
        let mut f = EXPECTED;
        let sum = independent_icmpv6_checksum(&f);
        f[56..58].copy_from_slice(&sum.to_be_bytes());
        assert!(parse_na(&f).is_some());
    }

    #[test]
    fn parse_without_tlla_and_with_other_options() {
        // Replace the TLLA option with a 16-byte unknown option (type 14,
        // length 2) and fix the lengths: parses, with no TLLA.
        let mut f = EXPECTED[..78].to_vec();
        f.extend_from_slice(&[14, 2]);
        f.extend_from_slice(&[0u8; 14]);
        f[18..20].copy_from_slice(&40u16.to_be_bytes());
        let sum = independent_icmpv6_checksum(&f);
        f[56..58].copy_from_slice(&sum.to_be_bytes());
        let info = parse_na(&f).unwrap();
        assert_eq!(info.tlla, None);
        assert_eq!(info.target, target());
    }

    #[test]
    fn random_frames_never_panic() {
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 120) as usize;
            let mut f: Vec<u8> = (0..len)
                .map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            if f.len() > 60 {
                f[12] = 0x86;
                f[13] = 0xdd;
                f[14] = 0x60;
                f[20] = 58;
                f[54] = 136;
                f[55] = 0;
            }
            let _ = parse_na(&f);
        }
    }
}

//! Gratuitous ARP, sent when this node becomes Master so that hosts and
//! switches move the virtual IPv4 addresses to it at once instead of waiting
//! for their ARP cache entries to expire (RFC 5798 6.4.1 / 6.4.2: "broadcast
//! a gratuitous ARP request containing the virtual router MAC address for
//! each IP address associated with the virtual router").
//!
//! The frame is the ARP Announcement of RFC 5227 section 3 (an ARP request
//! with sender and target protocol address both set to the claimed address),
//! which is what keepalived and the kernel send; a request is used rather
//! than a reply because some hosts only update existing cache entries from
//! requests.

use std::net::Ipv4Addr;

/// Ethernet header (14) + ARP for Ethernet/IPv4 (28). Shorter than the
/// 60-byte Ethernet minimum; the NIC pads it, as for every AF_PACKET sender.
pub const FRAME_LEN: usize = 42;
/// EtherType for ARP (IEEE 802 numbers registry).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType for IPv4, reused as the ARP protocol type (RFC 826).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// ARP hardware type for Ethernet (RFC 826, "ares_hrd$Ethernet").
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP opcodes (RFC 826).
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

const BROADCAST: [u8; 6] = [0xff; 6];

/// The fields of an ARP packet that matter when checking what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpInfo {
    pub oper: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
}

/// Builds a broadcast ARP Announcement for `ip` from `sender_mac` (the
/// virtual router MAC, or the interface MAC when no VMAC is used).
///
/// The target hardware address is all zeros: RFC 5227 2.1.1 says it is
/// ignored and SHOULD be zero, and the Linux kernel and iputils arping send
/// zeros. keepalived fills it with ff:ff:ff:ff:ff:ff instead; receivers do
/// not look at it in a request (RFC 826 only reads it in replies), so both
/// are understood alike.
pub fn gratuitous_arp(sender_mac: [u8; 6], ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    let ip = ip.octets();
    // Ethernet II header.
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&sender_mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // ARP, RFC 826 packet format.
    f[14..16].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&OP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&sender_mac);
    f[28..32].copy_from_slice(&ip);
    // f[32..38]: target hardware address, left zero (see above).
    f[38..42].copy_from_slice(&ip);
    f
}

/// Decodes an Ethernet/IPv4 ARP frame (untagged), for tests and for reading
/// captures; `None` for anything else. Trailing Ethernet padding is ignored.
pub fn parse_arp(frame: &[u8]) -> Option<ArpInfo> {
    let f: &[u8; FRAME_LEN] = frame.get(..FRAME_LEN)?.try_into().ok()?;
    if u16::from_be_bytes([f[12], f[13]]) != ETHERTYPE_ARP
        || u16::from_be_bytes([f[14], f[15]]) != HTYPE_ETHERNET
        || u16::from_be_bytes([f[16], f[17]]) != ETHERTYPE_IPV4
        || f[18] != 6
        || f[19] != 4
    {
        return None;
    }
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(&f[22..28]);
    Some(ArpInfo {
        oper: u16::from_be_bytes([f[20], f[21]]),
        sender_mac,
        sender_ip: Ipv4Addr::new(f[28], f[29], f[30], f[31]),
        target_ip: Ipv4Addr::new(f[38], f[39], f[40], f[41]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];

    #[rustfmt::skip]
    const EXPECTED: [u8; 42] = [
        // Ethernet
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // source: VRRP VMAC for VRID 51
        0x08, 0x06,                         // EtherType ARP
        // ARP
        0x00, 0x01,                         // hardware type Ethernet
        0x08, 0x00,                         // protocol type IPv4
        0x06,                               // hardware address length
        0x04,                               // protocol address length
        0x00, 0x01,                         // operation: request
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, // sender hardware address
        0x0a, 0x00, 0x00, 0x0a,             // sender protocol address 10.0.0.10
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target hardware address: zero
        0x0a, 0x00, 0x00, 0x0a,             // target protocol address 10.0.0.10
    ];

    #[test]
    fn gratuitous_arp_vector() {
        assert_eq!(gratuitous_arp(VMAC, Ipv4Addr::new(10, 0, 0, 10)), EXPECTED);
    }

    #[test]
    fn parse_round_trip() {
        let info = parse_arp(&EXPECTED).unwrap();
        assert_eq!(
            info,
            ArpInfo {
                oper: OP_REQUEST,
                sender_mac: VMAC,
                sender_ip: Ipv4Addr::new(10, 0, 0, 10),
                target_ip: Ipv4Addr::new(10, 0, 0, 10),
            }
        );
        // Padded to the Ethernet minimum, as seen on the wire.
        let mut padded = EXPECTED.to_vec();
        padded.resize(60, 0);
        assert_eq!(parse_arp(&padded), Some(info));
    }

    #[test]
    fn parse_rejects_non_arp() {
        for n in 0..FRAME_LEN {
            assert_eq!(parse_arp(&EXPECTED[..n]), None);
        }
        for (i, v) in [(12, 0x86), (15, 0x06), (16, 0x86), (18, 8), (19, 16)] {
            let mut f = EXPECTED;
            f[i] = v;
            assert_eq!(parse_arp(&f), None, "byte {i}");
        }
    }

    #[test]
    fn random_frames_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 80) as usize;
            let mut f: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            if f.len() > 13 {
                f[12] = 0x08;
                f[13] = 0x06;
            }
            let _ = parse_arp(&f);
        }
    }
}

//! The IPsec Authentication Header (RFC 2402) as VRRPv2 `auth_type AH`
//! uses it (RFC 2338 5.3.6.2 and 10.3), in keepalived's form: keepalived
//! builds and checks it in user space, with no IPsec security association
//! in the kernel, so this is the form every peer on the wire speaks.
//!
//! The datagram is `IPv4 header (protocol 51) | AH | VRRPv2 message`:
//!
//! - AH is 24 octets: next header 112, payload length 4 (RFC 2402 2.2: 32-bit
//!   words minus 2, for a 96-bit ICV), reserved 0, SPI, sequence number,
//!   ICV (12 octets).
//! - SPI is the sender's IPv4 source address (no SA negotiation exists in a
//!   multicast group; keepalived's choice, and the receiver checks it).
//! - ICV is HMAC-MD5-96 (RFC 2403: HMAC-MD5 truncated to its first 96 bits)
//!   keyed with the 8 password octets, zero padded (keepalived's
//!   `auth_data`), over the IPv4 header with the mutable fields TOS,
//!   fragment offset/flags and header checksum zeroed (RFC 2402 3.3.3.1.1.1),
//!   and TTL zeroed too in unicast mode but included (255) in multicast
//!   mode, as keepalived does; then AH with the ICV zeroed; then the VRRP
//!   message.
//! - The sequence number counts adverts (RFC 2402 3.3.2); the replay rule
//!   that goes with it is the caller's ([`crate::advert`]).
//!
//! The IP identification field is covered by the ICV, so a sender must fix
//! it before computing the ICV and send with its own IP header (IP_HDRINCL,
//! with a non-zero ID the kernel keeps): [`build_datagram`].
//!
//! Nothing here panics on any input.

use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use md5::Md5;

use super::vrrp::{IPPROTO_VRRP, ParseError};

/// IP protocol number of AH (RFC 2402 2).
pub const IPPROTO_AH: u8 = 51;
/// AH with a 96-bit ICV: 12 fixed octets and the ICV.
pub const AH_LEN: usize = 24;
/// HMAC-MD5-96 (RFC 2403 2).
pub const ICV_LEN: usize = 12;
/// Payload Length in 32-bit words minus 2 (RFC 2402 2.2): (24 / 4) - 2.
pub const PAYLOAD_LEN: u8 = 4;
/// keepalived's key: `auth_pass` truncated or zero-padded to 8 octets.
pub const KEY_LEN: usize = 8;
/// IPv4 header without options, as we send it.
const IPV4_LEN: usize = 20;
/// keepalived sends adverts with TOS "internetwork control" (0xc0).
const TOS_NETWORK_CONTROL: u8 = 0xc0;

/// Byte offsets in the AH header (RFC 2402 2).
mod field {
    use std::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: Range<usize> = 2..4;
    pub const SPI: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const ICV: Range<usize> = 12..24;
}

/// Byte offsets of the IPv4 header fields RFC 2402 3.3.3.1.1.1 calls
/// mutable (RFC 791 3.1).
mod ip {
    pub const TOS: usize = 1;
    pub const FLAGS_FRAG: std::ops::Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const CHECKSUM: std::ops::Range<usize> = 10..12;
}

/// The HMAC key of an AH instance: the password as keepalived stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct AhKey([u8; KEY_LEN]);

impl AhKey {
    /// The first 8 octets of `password`, zero padded (keepalived's
    /// `vrrp_auth_pass_handler`).
    pub fn from_password(password: &str) -> AhKey {
        let mut k = [0u8; KEY_LEN];
        for (d, s) in k.iter_mut().zip(password.as_bytes()) {
            *d = *s;
        }
        AhKey(k)
    }

    fn mac(&self) -> Hmac<Md5> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Md5> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
}

impl std::fmt::Debug for AhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AhKey(..)")
    }
}

/// Whether the TTL is covered by the ICV: keepalived zeroes it in unicast
/// mode (adverts to peers in other subnets cross routers, which change it)
/// and covers it in multicast mode (it must be 255 anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlCoverage {
    /// Multicast: the TTL as sent (255) is covered.
    Covered,
    /// Unicast: the TTL is zeroed like the other mutable fields.
    Zeroed,
}

/// An AH header, read from or for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhHeader {
    /// Next header; 112 (VRRP) for every header [`parse`] returns.
    pub next_header: u8,
    /// Security Parameter Index: the sender's IPv4 address, as keepalived
    /// sets it.
    pub spi: u32,
    /// Sequence number (RFC 2402 2.5).
    pub seq: u32,
    /// Integrity check value, HMAC-MD5-96.
    pub icv: [u8; ICV_LEN],
}

impl AhHeader {
    /// The 24 octets of the header.
    pub fn to_bytes(&self) -> [u8; AH_LEN] {
        let mut b = [0u8; AH_LEN];
        b[field::NEXT_HEADER] = self.next_header;
        b[field::PAYLOAD_LEN] = PAYLOAD_LEN;
        b[field::RESERVED].copy_from_slice(&[0, 0]);
        b[field::SPI].copy_from_slice(&self.spi.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::ICV].copy_from_slice(&self.icv);
        b
    }
}

/// What came in front of a received VRRP message on the AH socket: what the
/// receiver needs to check its ICV (against the instance's key) and its
/// sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AhEnvelope {
    /// The IPv4 header as received, options included.
    pub ip_header: Vec<u8>,
    pub header: AhHeader,
}

/// Splits what follows the IPv4 header of a protocol-51 datagram into the
/// AH header and the VRRP message it protects. Only the 96-bit ICV form
/// (payload length 4) is understood; another next header means the packet is
/// IPsec for something else, reported as [`ParseError::AhNotVrrp`].
pub fn parse(bytes: &[u8]) -> Result<(AhHeader, &[u8]), ParseError> {
    let h: &[u8; AH_LEN] = bytes
        .get(..AH_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(ParseError::BadAhHeader)?;
    if h[field::PAYLOAD_LEN] != PAYLOAD_LEN {
        return Err(ParseError::BadAhHeader);
    }
    if h[field::NEXT_HEADER] != IPPROTO_VRRP {
        return Err(ParseError::AhNotVrrp(h[field::NEXT_HEADER]));
    }
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&h[r]);
        u32::from_be_bytes(w)
    };
    let mut icv = [0u8; ICV_LEN];
    icv.copy_from_slice(&h[field::ICV]);
    let header = AhHeader {
        next_header: h[field::NEXT_HEADER],
        spi: word(field::SPI),
        seq: word(field::SEQ),
        icv,
    };
    Ok((header, bytes.get(AH_LEN..).unwrap_or(&[])))
}

/// The HMAC-MD5 over the IP header with the mutable fields zeroed, AH with
/// its ICV zeroed, and the VRRP message (RFC 2402 3.3.3).
fn hmac(key: &AhKey, ttl: TtlCoverage, ip_header: &[u8], ah: &AhHeader, msg: &[u8]) -> Hmac<Md5> {
    let mut iph = ip_header.to_vec();
    let mut zero = |i: usize| {
        if let Some(b) = iph.get_mut(i) {
            *b = 0;
        }
    };
    zero(ip::TOS);
    ip::FLAGS_FRAG.for_each(&mut zero);
    ip::CHECKSUM.for_each(&mut zero);
    if ttl == TtlCoverage::Zeroed {
        zero(ip::TTL);
    }
    let mut ah = *ah;
    ah.icv = [0u8; ICV_LEN];
    let mut mac = key.mac();
    mac.update(&iph);
    mac.update(&ah.to_bytes());
    mac.update(msg);
    mac
}

/// The ICV of a datagram whose AH header is `ah` (its `icv` is ignored).
pub fn icv(
    key: &AhKey,
    ttl: TtlCoverage,
    ip_header: &[u8],
    ah: &AhHeader,
    msg: &[u8],
) -> [u8; ICV_LEN] {
    let full = hmac(key, ttl, ip_header, ah, msg).finalize().into_bytes();
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&full[..ICV_LEN]);
    out
}

/// Whether `ah.icv` is right for the datagram, compared in constant time.
pub fn verify(key: &AhKey, ttl: TtlCoverage, ip_header: &[u8], ah: &AhHeader, msg: &[u8]) -> bool {
    hmac(key, ttl, ip_header, ah, msg)
        .verify_truncated_left(&ah.icv)
        .is_ok()
}

/// What [`build_datagram`] puts in the headers besides the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhSend {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// IP identification: non-zero, or the kernel would pick one after the
    /// ICV was computed (keepalived counts it up from 1, skipping 0).
    pub ip_id: u16,
    pub seq: u32,
    pub ttl: TtlCoverage,
}

/// The whole IPv4 datagram for a raw IP_HDRINCL socket: IPv4 header (TOS
/// 0xc0, TTL 255, no DF, protocol 51, header checksum filled in), AH with
/// SPI = source and the ICV, then `msg` (the VRRPv2 message, checksum done).
pub fn build_datagram(key: &AhKey, send: &AhSend, msg: &[u8]) -> Vec<u8> {
    let total = IPV4_LEN + AH_LEN + msg.len();
    let mut iph = [0u8; IPV4_LEN];
    iph[0] = 0x45; // version 4, IHL 5
    iph[ip::TOS] = TOS_NETWORK_CONTROL;
    iph[2..4].copy_from_slice(&(total.min(usize::from(u16::MAX)) as u16).to_be_bytes());
    iph[4..6].copy_from_slice(&send.ip_id.to_be_bytes());
    // Flags and fragment offset 0, as keepalived (DF would let the kernel
    // zero the ID).
    iph[ip::TTL] = 255;
    iph[9] = IPPROTO_AH;
    iph[12..16].copy_from_slice(&send.src.octets());
    iph[16..20].copy_from_slice(&send.dst.octets());
    let mut ah = AhHeader {
        next_header: IPPROTO_VRRP,
        spi: u32::from(send.src),
        seq: send.seq,
        icv: [0u8; ICV_LEN],
    };
    ah.icv = icv(key, send.ttl, &iph, &ah, msg);
    let sum = super::checksum::checksum(&iph);
    iph[ip::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&iph);
    out.extend_from_slice(&ah.to_bytes());
    out.extend_from_slice(msg);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::ipv4::parse_ipv4;

    /// An advert of keepalived 2.2.7 (`auth_type AH`, `auth_pass 12345678`,
    /// the seed 003 instance DIENST1: VRID 51, priority 100, advert_int 1,
    /// VIP 1.2.3.4/32) from 10.9.60.1, multicast, captured with tcpdump in
    /// the lab (tests/fixtures/ah/keepalived_ah_advert.pcap holds the frame;
    /// the .rs next to it the bytes, commented per field).
    pub(crate) const KEEPALIVED: [u8; 64] =
        include!("../../tests/fixtures/ah/keepalived_ah_advert.rs");

    #[test]
    fn keepalived_vector_fields() {
        let (iph, rest) = parse_ipv4(&KEEPALIVED).unwrap();
        assert_eq!(iph.protocol, IPPROTO_AH);
        assert_eq!(iph.ttl, 255);
        let (ah, msg) = parse(rest).unwrap();
        assert_eq!(ah.next_header, IPPROTO_VRRP);
        assert_eq!(ah.spi, u32::from(iph.src), "SPI = source address");
        assert!(ah.seq > 0);
        assert_eq!(msg.len(), 20, "VRRPv2 header, one address, auth data");
        assert_eq!(msg[4], 2, "VRRP auth type 2 (AH)");
        assert_eq!(&msg[12..20], &[0u8; 8], "auth data zero");
    }

    #[test]
    fn keepalived_vector_verifies_with_its_password_only() {
        let (_, rest) = parse_ipv4(&KEEPALIVED).unwrap();
        let (ah, msg) = parse(rest).unwrap();
        let iph = &KEEPALIVED[..20];
        let key = AhKey::from_password("12345678");
        assert!(verify(&key, TtlCoverage::Covered, iph, &ah, msg));
        assert!(!verify(
            &AhKey::from_password("1234567"),
            TtlCoverage::Covered,
            iph,
            &ah,
            msg
        ));
        // Mutable fields do not matter, everything else does.
        let mut changed = iph.to_vec();
        changed[1] = 0x00; // TOS
        changed[10] ^= 0xff; // header checksum
        assert!(verify(&key, TtlCoverage::Covered, &changed, &ah, msg));
        changed[4] ^= 1; // identification
        assert!(!verify(&key, TtlCoverage::Covered, &changed, &ah, msg));
        let mut later = ah;
        later.seq += 1;
        assert!(!verify(&key, TtlCoverage::Covered, iph, &later, msg));
    }

    #[test]
    fn we_build_what_keepalived_builds() {
        // Same headers, seq and message as keepalived's advert: the same
        // bytes but for the header checksum, which the kernel fills in.
        let (iph, rest) = parse_ipv4(&KEEPALIVED).unwrap();
        let (ah, msg) = parse(rest).unwrap();
        let ip_id = u16::from_be_bytes([KEEPALIVED[4], KEEPALIVED[5]]);
        let ours = build_datagram(
            &AhKey::from_password("12345678"),
            &AhSend {
                src: iph.src,
                dst: iph.dst,
                ip_id,
                seq: ah.seq,
                ttl: TtlCoverage::Covered,
            },
            msg,
        );
        assert_eq!(&ours[..10], &KEEPALIVED[..10]);
        assert_eq!(&ours[12..], &KEEPALIVED[12..]);
        assert_eq!(crate::wire::checksum::checksum(&ours[..20]), 0);
    }

    /// A datagram we build, field by field.
    #[test]
    fn built_datagram_layout() {
        let msg = [
            0x21, // version 2, type 1
            0x33, // VRID 51
            0x64, // priority 100
            0x01, // one address
            0x02, // auth type 2 (AH)
            0x01, // adver int 1 s
            0x00, 0x00, // checksum (not checked here)
            0x01, 0x02, 0x03, 0x04, // 1.2.3.4
            0, 0, 0, 0, 0, 0, 0, 0, // auth data, zero
        ];
        let d = build_datagram(
            &AhKey::from_password("pw"),
            &AhSend {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(224, 0, 0, 18),
                ip_id: 7,
                seq: 9,
                ttl: TtlCoverage::Zeroed,
            },
            &msg,
        );
        assert_eq!(d.len(), 64);
        assert_eq!(&d[..2], &[0x45, 0xc0]); // v4 IHL 5, TOS 0xc0
        assert_eq!(&d[2..4], &[0, 64]); // total length
        assert_eq!(&d[4..6], &[0, 7]); // identification
        assert_eq!(&d[6..8], &[0, 0]); // no flags, offset 0
        assert_eq!(&d[8..10], &[255, 51]); // TTL 255, protocol AH
        assert_eq!(&d[12..20], &[10, 0, 0, 1, 224, 0, 0, 18]);
        assert_eq!(&d[20..24], &[112, 4, 0, 0]); // next VRRP, len 4, reserved
        assert_eq!(&d[24..28], &[10, 0, 0, 1]); // SPI = source
        assert_eq!(&d[28..32], &[0, 0, 0, 9]); // sequence number
        assert_eq!(&d[44..], &msg);
        let (ah, rest) = parse(&d[20..]).unwrap();
        assert_eq!(rest, &msg);
        let key = AhKey::from_password("pw");
        assert!(verify(&key, TtlCoverage::Zeroed, &d[..20], &ah, rest));
        // Unicast zeroes the TTL: a router on the way may lower it.
        let mut hop = d[..20].to_vec();
        hop[8] = 63;
        assert!(verify(&key, TtlCoverage::Zeroed, &hop, &ah, rest));
        assert!(!verify(&key, TtlCoverage::Covered, &hop, &ah, rest));
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(parse(&[]), Err(ParseError::BadAhHeader));
        assert_eq!(parse(&[112; 23]), Err(ParseError::BadAhHeader));
        let mut h = [0u8; 24];
        h[0] = 112;
        h[1] = 5; // payload length for a 128-bit ICV
        assert_eq!(parse(&h), Err(ParseError::BadAhHeader));
        h[1] = 4;
        h[0] = 6; // AH around TCP
        assert_eq!(parse(&h), Err(ParseError::AhNotVrrp(6)));
        h[0] = 112;
        let (_, rest) = parse(&h).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn key_is_truncated_and_padded_like_keepalived() {
        assert_eq!(AhKey::from_password("12345678abc").0, *b"12345678");
        assert_eq!(AhKey::from_password("ab").0, *b"ab\0\0\0\0\0\0");
    }
}

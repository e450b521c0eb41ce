//! The pure parts: echo request and reply packets.

use crate::family::Family;

const ICMP_ECHO_REQUEST: u8 = 8;
pub(super) const ICMP_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
pub(super) const ICMP6_ECHO_REPLY: u8 = 129;
/// Payload: token (8 bytes), full 64-bit sequence number (8), marker (8).
const MARKER: &[u8; 8] = b"vipdprob";
const PAYLOAD_LEN: usize = 24;
const ECHO_LEN: usize = 8 + PAYLOAD_LEN;

/// Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request. For ICMPv6 the checksum is left 0: the kernel computes
/// it (it covers a pseudo-header with the source address we do not know).
pub fn echo_request(family: Family, id: u16, seq: u64, token: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(ECHO_LEN);
    p.push(match family {
        Family::V4 => ICMP_ECHO_REQUEST,
        Family::V6 => ICMP6_ECHO_REQUEST,
    });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&(seq as u16).to_be_bytes());
    p.extend_from_slice(&token.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(MARKER);
    if family == Family::V4 {
        let c = inet_checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// An echo reply that carries our payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    pub id: u16,
    /// Sequence number from the ICMP header (16 bits).
    pub seq16: u16,
    pub token: u64,
    /// Full sequence number from the payload.
    pub seq: u64,
}

/// Parses a received datagram. `ip_header`: IPv4 raw sockets hand over the
/// IP header too. Returns None for anything that is not a well-formed echo
/// reply with our payload layout (never panics, whatever the bytes).
pub fn parse_echo_reply(buf: &[u8], family: Family, ip_header: bool) -> Option<EchoReply> {
    let icmp = if ip_header {
        let first = *buf.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < 20 || *buf.get(9)? != 1 {
            return None;
        }
        buf.get(ihl..)?
    } else {
        buf
    };
    if icmp.len() < ECHO_LEN {
        return None;
    }
    let want = match family {
        Family::V4 => ICMP_ECHO_REPLY,
        Family::V6 => ICMP6_ECHO_REPLY,
    };
    if icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    // IPv4: the checksum must verify (the kernel checks ICMPv6's).
    if family == Family::V4 && inet_checksum(icmp) != 0 {
        return None;
    }
    if &icmp[24..32] != MARKER {
        return None;
    }
    let be64 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_be_bytes(a)
    };
    let r = EchoReply {
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq16: u16::from_be_bytes([icmp[6], icmp[7]]),
        token: be64(&icmp[8..16]),
        seq: be64(&icmp[16..24]),
    };
    // Header and payload sequence numbers must agree.
    (r.seq as u16 == r.seq16).then_some(r)
}

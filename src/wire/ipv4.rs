//! Just enough of the IPv4 header (RFC 791 section 3.1) to read VRRP off a
//! raw `IPPROTO_VRRP` socket.
//!
//! Linux hands IPv4 raw sockets the whole datagram, header included (raw(7)),
//! while IPv6 raw sockets never see the header. The VRRP receive path needs
//! the source, destination and TTL from it (RFC 5798 section 7.1 requires
//! TTL 255 and uses the source for tie-breaking), so this is the one place
//! the daemon looks at IP header bytes itself. The kernel already verified
//! the header checksum and reassembled fragments before delivery, so neither
//! is repeated here.

use std::net::Ipv4Addr;

use super::vrrp::ParseError;

/// Length of an IPv4 header without options (IHL = 5).
pub const MIN_HEADER_LEN: usize = 20;

/// The fields the VRRP receive path acts on; everything else is left to the
/// kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
}

/// Splits a datagram read from an IPv4 raw socket into its header and the
/// upper-layer payload.
///
/// The payload is cut at Total Length, not at the end of the buffer, because
/// a driver may deliver link-layer padding after short datagrams and that
/// padding would otherwise be mistaken for VRRP trailing bytes.
pub fn parse_ipv4(bytes: &[u8]) -> Result<(Ipv4Header, &[u8]), ParseError> {
    let fixed: &[u8; MIN_HEADER_LEN] = bytes
        .get(..MIN_HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(ParseError::Truncated)?;

    // RFC 791 3.1: Version (4 bits), IHL (4 bits, in 32-bit words).
    let version = fixed[0] >> 4;
    if version != 4 {
        return Err(ParseError::BadIpVersion(version));
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    if header_len < MIN_HEADER_LEN {
        return Err(ParseError::BadIpHeader);
    }

    // RFC 791 3.1: Total Length covers header and data, in octets.
    let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if total_len < header_len {
        return Err(ParseError::BadIpHeader);
    }
    let payload = bytes
        .get(header_len..total_len)
        .ok_or(ParseError::Truncated)?;

    let header = Ipv4Header {
        ttl: fixed[8],
        protocol: fixed[9],
        src: Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]),
        dst: Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]),
    };
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VRRPv3 advertisement as an IPv4 raw socket returns it.
    const DATAGRAM: [u8; 32] = [
        0x45, // version 4, IHL 5 (20 bytes)
        0xc0, // TOS 0xc0, network control (not verified by the parser)
        0x00, 0x20, // total length 32 = 20 header + 12 VRRP
        0x00, 0x00, // identification
        0x40, 0x00, // flags DF, fragment offset 0
        0xff, // TTL 255 (RFC 5798 5.1.1.3)
        0x70, // protocol 112 (VRRP)
        0x90, 0x9a, // header checksum (not verified by the parser)
        0x0a, 0x00, 0x00, 0x01, // source 10.0.0.1
        0xe0, 0x00, 0x00, 0x12, // destination 224.0.0.18
        // VRRP payload (see wire::vrrp tests for the field breakdown)
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x75, 0xcd, 0x0a, 0x00, 0x00, 0x0a,
    ];

    #[test]
    fn parses_header_and_cuts_payload() {
        let (header, payload) = parse_ipv4(&DATAGRAM).unwrap();
        assert_eq!(
            header,
            Ipv4Header {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(224, 0, 0, 18),
                ttl: 255,
                protocol: 112,
            }
        );
        assert_eq!(payload, &DATAGRAM[20..]);
    }

    #[test]
    fn ignores_padding_after_total_length() {
        let mut padded = DATAGRAM.to_vec();
        padded.extend_from_slice(&[0u8; 14]);
        let (_, payload) = parse_ipv4(&padded).unwrap();
        assert_eq!(payload, &DATAGRAM[20..]);
    }

    #[test]
    fn skips_options() {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL) before the payload.
        let mut d = DATAGRAM[..20].to_vec();
        d[0] = 0x46;
        d[3] = 0x24; // total length 36
        d.extend_from_slice(&[0x01, 0x01, 0x01, 0x00]);
        d.extend_from_slice(&DATAGRAM[20..]);
        let (_, payload) = parse_ipv4(&d).unwrap();
        assert_eq!(payload, &DATAGRAM[20..]);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse_ipv4(&[]), Err(ParseError::Truncated));
        assert_eq!(parse_ipv4(&DATAGRAM[..19]), Err(ParseError::Truncated));
        // Total length beyond the buffer.
        assert_eq!(parse_ipv4(&DATAGRAM[..31]), Err(ParseError::Truncated));

        let mut d = DATAGRAM;
        d[0] = 0x65; // IPv6 version nibble
        assert_eq!(parse_ipv4(&d), Err(ParseError::BadIpVersion(6)));

        let mut d = DATAGRAM;
        d[0] = 0x44; // IHL 4 < 5
        assert_eq!(parse_ipv4(&d), Err(ParseError::BadIpHeader));

        let mut d = DATAGRAM;
        d[0] = 0x4f; // IHL 15 = 60 bytes, longer than the datagram
        assert_eq!(parse_ipv4(&d), Err(ParseError::BadIpHeader));

        let mut d = DATAGRAM;
        d[2] = 0x00;
        d[3] = 0x10; // total length 16 < header length
        assert_eq!(parse_ipv4(&d), Err(ParseError::BadIpHeader));
    }

    #[test]
    fn header_only_datagram_has_empty_payload() {
        let mut d = DATAGRAM;
        d[3] = 0x14; // total length 20
        let (_, payload) = parse_ipv4(&d).unwrap();
        assert!(payload.is_empty());
    }
}

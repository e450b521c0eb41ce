//! VRRP advertisements (src/wire/vrrp.rs) and the IPv4 header in front of
//! them (src/wire/ipv4.rs): parse never panics, and whatever parses is
//! emitted again and parses back to the same advertisement.
//!
//! Input layout: one mode byte, then the IP addresses the message travels
//! between (4 + 4 bytes for IPv4, 16 + 16 for IPv6), then the VRRP message.
//! Mode bits:
//! - 0x01: IPv6 addresses (else IPv4);
//! - 0x02: the VRRPv3-over-IPv4 checksum over the message only
//!   (keepalived's `v3_checksum_as_v2`), else with the pseudo-header;
//! - 0x04: the checksum is filled in before parsing, so the fuzzer gets past
//!   the checksum check and explores what follows it;
//! - 0x08: the rest is a whole IPv4 datagram as a raw socket returns it
//!   (header included), parsed as the receive path does; addresses come
//!   from its header.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vipd::wire::ipv4::parse_ipv4;
use vipd::wire::vrrp::{V3Ipv4Checksum, VrrpPacket, VrrpRepr, parse_with, peek_vrid};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let csum = if mode & 0x02 != 0 {
        V3Ipv4Checksum::MessageOnly
    } else {
        V3Ipv4Checksum::PseudoHeader
    };
    if mode & 0x08 != 0 {
        // The receive path: IPv4 header, then the VRRP message it carries.
        if let Ok((hdr, payload)) = parse_ipv4(rest) {
            let _ = peek_vrid(payload);
            check(
                payload.to_vec(),
                hdr.src.into(),
                hdr.dst.into(),
                csum,
                mode & 0x04 != 0,
            );
        }
        return;
    }
    let (src, dst, payload): (IpAddr, IpAddr, &[u8]) = if mode & 0x01 != 0 {
        let Some((a, rest)) = rest.split_first_chunk::<16>() else {
            return;
        };
        let Some((b, rest)) = rest.split_first_chunk::<16>() else {
            return;
        };
        (Ipv6Addr::from(*a).into(), Ipv6Addr::from(*b).into(), rest)
    } else {
        let Some((a, rest)) = rest.split_first_chunk::<4>() else {
            return;
        };
        let Some((b, rest)) = rest.split_first_chunk::<4>() else {
            return;
        };
        (Ipv4Addr::from(*a).into(), Ipv4Addr::from(*b).into(), rest)
    };
    check(payload.to_vec(), src, dst, csum, mode & 0x04 != 0);
});

fn check(mut payload: Vec<u8>, src: IpAddr, dst: IpAddr, csum: V3Ipv4Checksum, fix: bool) {
    if fix {
        if let Ok(mut p) = VrrpPacket::new_checked(&mut payload[..]) {
            p.fill_checksum(src, dst, csum);
        }
    }
    let Ok(repr) = parse_with(&payload, src, dst, csum) else {
        return;
    };
    // Every field of a parsed advertisement is within what emit accepts,
    // except AH authentication, which is recognised but never sent.
    let mut buf = vec![0u8; repr.buffer_len()];
    match repr.emit_with(&mut buf, src, dst, csum) {
        Ok(n) => {
            assert_eq!(
                n,
                payload.len(),
                "emitted length differs from the parsed message"
            );
            let again = parse_with(&buf[..n], src, dst, csum)
                .unwrap_or_else(|e| panic!("emitted advertisement does not parse: {e} ({repr:?})"));
            assert_eq!(
                again, repr,
                "parse -> emit -> parse changed the advertisement"
            );
            round_trip_convenience(&repr, src, dst, csum, &buf[..n]);
        }
        Err(e) => panic!("parsed advertisement cannot be emitted: {e} ({repr:?})"),
    }
}

/// `to_bytes` (the daemon's send path) writes the same bytes as `emit`
/// with keepalived's default checksum.
fn round_trip_convenience(
    repr: &VrrpRepr,
    src: IpAddr,
    dst: IpAddr,
    csum: V3Ipv4Checksum,
    emitted: &[u8],
) {
    if csum == V3Ipv4Checksum::PseudoHeader {
        let bytes = repr
            .to_bytes(src, dst)
            .expect("to_bytes after a successful emit");
        assert_eq!(bytes, emitted);
    }
}

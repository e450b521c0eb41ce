//! The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers that
//! VRRPv3 and ICMPv6 fold into it.
//!
//! Kept separate from the codecs so that the VRRP, neighbour discovery and
//! test code all share one implementation of the arithmetic, and so that
//! callers can sum discontiguous pieces (pseudo-header + message) without
//! copying them into one buffer.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to a running one's complement sum as big-endian 16-bit words.
///
/// The accumulator is a `u64` and carries are folded only at the end: that
/// is exact (RFC 1071 section 2 (B), "deferred carries") for any slice a
/// process can hold, so no overflow handling is needed here. An odd trailing
/// byte is padded with a zero octet on the right, as RFC 1071 section 4.1
/// does.
pub fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        if let [hi, lo] = *w {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds the deferred carries back into 16 bits (end-around carry).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 0xffff, so the conversion cannot fail; a
    // saturating fallback keeps the function panic-free regardless.
    u16::try_from(acc).unwrap_or(u16::MAX)
}

/// The checksum value to put on the wire for data whose running sum is `acc`.
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// Checksum over `data` alone, without a pseudo-header (RFC 1071; used by
/// VRRPv2, RFC 3768 section 5.3.8).
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// Running sum of the IPv4 pseudo-header: source, destination, a zero octet,
/// the protocol number and the upper-layer length (the layout of RFC 768 and
/// RFC 793 section 3.1, which VRRPv3-over-IPv4 implementations reuse).
///
/// The length is added as a 32-bit quantity split into two words; for any
/// length that fits the 16-bit IPv4 field this is identical to the 16-bit
/// encoding, and it cannot overflow for larger ones.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let mut acc = accumulate(0, &src.octets());
    acc = accumulate(acc, &dst.octets());
    acc += u64::from(protocol);
    acc + upper_layer_len(len)
}

/// Running sum of the IPv6 pseudo-header of RFC 2460 section 8.1 (unchanged
/// in RFC 8200 section 8.1): source, destination, 32-bit upper-layer length,
/// three zero octets and the next-header value.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let mut acc = accumulate(0, &src.octets());
    acc = accumulate(acc, &dst.octets());
    acc += upper_layer_len(len);
    acc + u64::from(next_header)
}

/// Splits a length into the two 16-bit words of a 32-bit length field.
fn upper_layer_len(len: usize) -> u64 {
    // Lengths beyond u32 cannot occur on the wire; saturate rather than wrap
    // so that the function stays total.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    u64::from(len >> 16) + u64::from(len & 0xffff)
}

/// Checksum over an IPv4 pseudo-header followed by `msg`.
pub fn checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, msg: &[u8]) -> u16 {
    finish(accumulate(
        pseudo_header_v4(src, dst, protocol, msg.len()),
        msg,
    ))
}

/// Checksum over an IPv6 pseudo-header followed by `msg`.
pub fn checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, msg: &[u8]) -> u16 {
    finish(accumulate(
        pseudo_header_v6(src, dst, next_header, msg.len()),
        msg,
    ))
}

/// Whether a message whose checksum field is already filled in sums to the
/// all-ones value, given the running sum of its pseudo-header (0 for none).
///
/// Verifying by summing, rather than by recomputing and comparing, accepts
/// both encodings of zero (0x0000 and 0xffff) that RFC 1071 arithmetic
/// allows a sender to produce.
pub fn verify(pseudo: u64, msg: &[u8]) -> bool {
    fold(accumulate(pseudo, msg)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to
        // 0x2ddf0, which folds to 0xddf2; the checksum is its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_right() {
        // A lone trailing octet counts as the high byte of a word.
        assert_eq!(fold(accumulate(0, &[0x12])), 0x1200);
        assert_eq!(fold(accumulate(0, &[0x00, 0x01, 0x12])), 0x1201);
    }

    #[test]
    fn empty_and_all_ones() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(fold(accumulate(0, &[0xff; 1000])), 0xffff);
    }

    #[test]
    fn verify_accepts_both_zeros() {
        // Data summing to 0xffff has checksum 0x0000; a sender writing the
        // other zero, 0xffff, must also verify.
        let mut msg = [0xff, 0xff, 0x00, 0x00];
        assert_eq!(checksum(&msg), 0x0000);
        assert!(verify(0, &msg));
        msg[2] = 0xff;
        msg[3] = 0xff;
        assert!(verify(0, &msg));
    }
}

//! ARP frames (src/wire/arp.rs): `parse_arp` never panics, and a
//! gratuitous ARP built for what was parsed parses back to the sender's
//! MAC and address (RFC 5798 6.4.2 / RFC 5227 gratuitous form: request,
//! sender and target protocol address equal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd::wire::arp::{ArpInfo, OP_REQUEST, gratuitous_arp, parse_arp};

fuzz_target!(|data: &[u8]| {
    let Some(info) = parse_arp(data) else {
        return;
    };
    let frame = gratuitous_arp(info.sender_mac, info.sender_ip);
    let again = parse_arp(&frame).expect("a gratuitous ARP we built does not parse");
    assert_eq!(
        again,
        ArpInfo {
            oper: OP_REQUEST,
            sender_mac: info.sender_mac,
            sender_ip: info.sender_ip,
            target_ip: info.sender_ip,
        }
    );
    // A parsed gratuitous request is a fixed point.
    if info.oper == OP_REQUEST && info.sender_ip == info.target_ip {
        assert_eq!(again, info);
    }
});

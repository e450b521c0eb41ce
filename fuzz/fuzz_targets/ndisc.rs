//! IPv6 Neighbor Advertisements (src/wire/ndisc.rs): `parse_na` never
//! panics, and an unsolicited NA built for what was parsed (target, TLLA)
//! parses back with the same target and TLLA, hop limit 255 and Override
//! set (RFC 4861 7.2.6). The source address comes from the input frame
//! when it is long enough, so the checksum covers arbitrary addresses.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vipd::wire::ndisc::{NaInfo, parse_na, unsolicited_na_with_router_flag};

fuzz_target!(|data: &[u8]| {
    let Some(info) = parse_na(data) else {
        return;
    };
    let Some(mac) = info.tlla else {
        return;
    };
    // Ethernet (14) + IPv6 source at offset 8 of the IPv6 header.
    let src: [u8; 16] = data
        .get(22..38)
        .and_then(|s| s.try_into().ok())
        .expect("a parsed NA has a full IPv6 header");
    for router in [false, true] {
        let frame = unsolicited_na_with_router_flag(mac, Ipv6Addr::from(src), info.target, router);
        let again = parse_na(&frame).expect("an NA we built does not parse");
        assert_eq!(
            again,
            NaInfo {
                target: info.target,
                tlla: Some(mac),
                hop_limit: 255,
                override_flag: true,
            }
        );
    }
});

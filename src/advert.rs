//! Adverts of one instance: what we send, and whether one we received is
//! ours to act on (RFC 5798 7.1, RFC 3768 7.1). Pure functions, so every
//! drop reason is unit-tested; the daemon only counts the verdicts.

use std::net::IpAddr;

use crate::config::{AuthType, InstanceConfig, VrrpVersion};
use crate::family::Family;
use crate::vrrp::interval_to_field;
use crate::wire::ah::{self, AhEnvelope, TtlCoverage};
use crate::wire::vrrp::{Auth, Version, VrrpRepr};

/// The advert this instance sends for one family.
pub fn build(cfg: &InstanceConfig, family: Family, priority: u8) -> VrrpRepr {
    VrrpRepr {
        version: wire_version(cfg.version),
        vrid: cfg.vrid,
        priority,
        max_adver_int: interval_to_field(cfg.version, cfg.advert_interval),
        auth: auth_of(cfg),
        addresses: cfg
            .vips
            .iter()
            .filter(|v| v.family() == family)
            .map(|v| v.address)
            .collect(),
    }
}

pub fn wire_version(v: VrrpVersion) -> Version {
    match v {
        VrrpVersion::V2 => Version::V2,
        VrrpVersion::V3 => Version::V3,
    }
}

fn auth_of(cfg: &InstanceConfig) -> Auth {
    match (&cfg.version, &cfg.auth_pass) {
        (VrrpVersion::V2, Some(_)) if cfg.auth_type == AuthType::Ah => Auth::Ah,
        (VrrpVersion::V2, Some(p)) => {
            // RFC 3768 5.3.10: up to 8 octets, zero padded.
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(p.as_bytes()) {
                *d = *s;
            }
            Auth::Password(b)
        }
        _ => Auth::None,
    }
}

/// Why a parsed advert for our VRID is not acted on. The names are the
/// drop counters shown by `vipctl status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// RFC 5798 7.1: the TTL / hop limit must be 255 (multicast only: unicast
    /// adverts to peers in other subnets cross routers).
    BadTtl,
    /// Version differs from the instance's.
    VersionMismatch,
    /// RFC 3768 7.1: authentication type or password differ.
    AuthMismatch,
    /// RFC 3768 7.1: the v2 advert interval must match ours.
    IntervalMismatch,
    /// RFC 5798 7.1: the address list differs and the sender is not the owner.
    AddressMismatch,
    /// Unicast mode and the sender is not a configured peer.
    UnknownPeer,
    /// Our own advert came back (e.g. a unicast peer list that includes us).
    OwnPacket,
    /// The instance authenticates with AH and the advert came without
    /// (RFC 2338 5.3.6.2; keepalived: "No AH header but auth type is AH").
    AhMissing,
    /// The advert came in an AH header and the instance does not use AH.
    AhUnexpected,
    /// The AH ICV is wrong: another password, or the packet was altered.
    AhIcvMismatch,
    /// The AH SPI is not the sender's address (keepalived's rule).
    AhBadSpi,
    /// The AH sequence number is not above the last one seen or sent: a
    /// replayed (or stale) advert (RFC 2402 3.4.3, as keepalived applies it).
    AhReplay,
}

impl Reject {
    pub fn reason(self) -> &'static str {
        match self {
            Reject::BadTtl => "bad_ttl",
            Reject::VersionMismatch => "version_mismatch",
            Reject::AuthMismatch => "auth_mismatch",
            Reject::IntervalMismatch => "interval_mismatch",
            Reject::AddressMismatch => "address_mismatch",
            Reject::UnknownPeer => "unknown_peer",
            Reject::OwnPacket => "own_packet",
            Reject::AhMissing => "ah_missing",
            Reject::AhUnexpected => "ah_unexpected",
            Reject::AhIcvMismatch => "ah_icv_mismatch",
            Reject::AhBadSpi => "ah_bad_spi",
            Reject::AhReplay => "ah_replay",
        }
    }
}

/// The AH sequence number of an instance, as keepalived keeps it: one
/// counter for what it sends and what it receives. A received advert must
/// carry a number above it, and raises it; a sent one takes the next
/// number. So a backup that followed a master sends above everything the
/// group has seen when it takes over, and a router that restarts (from 0)
/// is heard again once it has heard the group (it starts as backup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AhSequence {
    seq: u32,
    ip_id: u16,
}

/// keepalived stops counting at 0xFFFFFFFD (136 years at one advert a second).
const AH_SEQ_MAX: u32 = 0xFFFF_FFFD;

impl AhSequence {
    /// The last number sent or accepted.
    pub fn last(&self) -> u32 {
        self.seq
    }

    /// The sequence number and IP identification of the next advert sent
    /// (the ID is covered by the ICV, so it is chosen here, never 0: the
    /// kernel replaces a zero ID).
    pub fn next_send(&mut self) -> (u32, u16) {
        if self.seq < AH_SEQ_MAX {
            self.seq += 1;
        }
        self.ip_id = self.ip_id.wrapping_add(1).max(1);
        (self.seq, self.ip_id)
    }

    /// Whether a received number is new (strictly above the counter).
    pub fn accepts(&self, seq: u32) -> bool {
        seq > self.seq
    }

    /// Records an accepted number.
    pub fn accepted(&mut self, seq: u32) {
        self.seq = self.seq.max(seq);
    }
}

/// keepalived's AH checks (vrrp_in_chk_ipsecah), before anything in the
/// advert is believed: AH present exactly when configured, the ICV under the
/// instance's key, SPI = source, sequence number new. Returns the sequence
/// number to record once the advert is accepted.
pub fn check_ah(
    cfg: &InstanceConfig,
    envelope: Option<&AhEnvelope>,
    msg: &[u8],
    src: IpAddr,
    seq: &AhSequence,
) -> Result<Option<u32>, Reject> {
    let (key, env) = match (cfg.ah_key(), envelope) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err(Reject::AhUnexpected),
        (Some(_), None) => return Err(Reject::AhMissing),
        (Some(k), Some(e)) => (k, e),
    };
    let ttl = if cfg.unicast.is_some() {
        TtlCoverage::Zeroed
    } else {
        TtlCoverage::Covered
    };
    if !ah::verify(&key, ttl, &env.ip_header, &env.header, msg) {
        return Err(Reject::AhIcvMismatch);
    }
    let spi_ok = match src {
        IpAddr::V4(a) => env.header.spi == u32::from(a),
        IpAddr::V6(_) => false,
    };
    if !spi_ok {
        return Err(Reject::AhBadSpi);
    }
    if !seq.accepts(env.header.seq) {
        return Err(Reject::AhReplay);
    }
    Ok(Some(env.header.seq))
}

/// Checks a received advert against the instance. `own` tells whether an
/// address is one of this host's.
pub fn check(
    cfg: &InstanceConfig,
    repr: &VrrpRepr,
    src: IpAddr,
    ttl: u8,
    own: impl Fn(IpAddr) -> bool,
) -> Result<(), Reject> {
    if own(src) {
        return Err(Reject::OwnPacket);
    }
    if cfg.unicast.is_none() && ttl != 255 {
        return Err(Reject::BadTtl);
    }
    if repr.version != wire_version(cfg.version) {
        return Err(Reject::VersionMismatch);
    }
    if let Some(u) = &cfg.unicast
        && !u.peers.contains(&src)
    {
        return Err(Reject::UnknownPeer);
    }
    if cfg.version == VrrpVersion::V2 {
        if repr.auth != auth_of(cfg) {
            return Err(Reject::AuthMismatch);
        }
        if repr.max_adver_int != interval_to_field(cfg.version, cfg.advert_interval) {
            return Err(Reject::IntervalMismatch);
        }
    }
    if repr.priority != 255 && !same_addresses(cfg, &repr.addresses, Family::of(src)) {
        return Err(Reject::AddressMismatch);
    }
    Ok(())
}

/// Lists this short are compared pairwise, without allocating: this runs
/// for every advert heard, and nearly every instance has a few VIPs.
const PAIRWISE_UP_TO: usize = 16;

/// Whether the advert's addresses are, as a set, the instance's VIPs of
/// that family (order and repeats in the advert do not matter; the
/// configuration holds each VIP once).
fn same_addresses(cfg: &InstanceConfig, theirs: &[IpAddr], family: Family) -> bool {
    let ours = || {
        cfg.vips
            .iter()
            .filter(move |v| v.family() == family)
            .map(|v| v.address)
    };
    if theirs.len() <= PAIRWISE_UP_TO && cfg.vips.len() <= PAIRWISE_UP_TO {
        return theirs.iter().all(|a| ours().any(|o| o == *a))
            && ours().all(|o| theirs.contains(&o));
    }
    let mut theirs = theirs.to_vec();
    let mut ours: Vec<IpAddr> = ours().collect();
    theirs.sort();
    theirs.dedup();
    ours.sort();
    theirs == ours
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn cfg(extra: &str) -> InstanceConfig {
        let text = format!(
            "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    vips: [192.0.2.10/24, 192.0.2.11/24, \"2001:db8::10/64\"]\n{extra}"
        );
        Config::parse(&text, Path::new("t"))
            .unwrap()
            .instances
            .remove(0)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn none(_: IpAddr) -> bool {
        false
    }

    #[test]
    fn builds_one_advert_per_family() {
        let c = cfg("");
        let v4 = build(&c, Family::V4, 100);
        assert_eq!(v4.addresses, vec![ip("192.0.2.10"), ip("192.0.2.11")]);
        assert_eq!(v4.max_adver_int, 100);
        let v6 = build(&c, Family::V6, 0);
        assert_eq!((v6.addresses.len(), v6.priority), (1, 0));
    }

    #[test]
    fn accepts_a_matching_advert_in_any_address_order() {
        let c = cfg("");
        let mut r = build(&c, Family::V4, 200);
        r.addresses.reverse();
        assert_eq!(check(&c, &r, ip("192.0.2.2"), 255, none), Ok(()));
    }

    #[test]
    fn rejects_each_mismatch_with_its_reason() {
        let c = cfg("");
        let good = build(&c, Family::V4, 200);
        let src = ip("192.0.2.2");
        assert_eq!(check(&c, &good, src, 64, none), Err(Reject::BadTtl));
        assert_eq!(
            check(&c, &good, src, 255, |a| a == src),
            Err(Reject::OwnPacket)
        );
        let mut r = good.clone();
        r.version = Version::V2;
        assert_eq!(check(&c, &r, src, 255, none), Err(Reject::VersionMismatch));
        let mut r = good.clone();
        r.addresses.pop();
        assert_eq!(check(&c, &r, src, 255, none), Err(Reject::AddressMismatch));
        // RFC 5798 7.1: the owner's advert is processed despite a mismatch.
        r.priority = 255;
        assert_eq!(check(&c, &r, src, 255, none), Ok(()));
    }

    // The pairwise comparison (short lists) and the sorted one (long lists)
    // say the same as "equal as sets" for every variation of an advert.
    #[test]
    fn address_sets_compare_alike_short_and_long() {
        for n in [1usize, 3, PAIRWISE_UP_TO, PAIRWISE_UP_TO + 1, 40] {
            let vips: Vec<String> = (0..n)
                .map(|i| format!("10.9.{}.{}/32", i / 200, i % 200 + 1))
                .collect();
            let text = format!(
                "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    vips: [{}, \"2001:db8::1/64\"]\n",
                vips.join(", ")
            );
            let c = Config::parse(&text, Path::new("t"))
                .unwrap()
                .instances
                .remove(0);
            let ours: Vec<IpAddr> = build(&c, Family::V4, 100).addresses;
            let other = ip("10.8.0.1");
            let mut variants: Vec<(Vec<IpAddr>, bool)> = vec![(ours.clone(), true)];
            let mut rev = ours.clone();
            rev.reverse();
            variants.push((rev.clone(), true));
            let mut dup = rev.clone();
            dup.push(ours[0]);
            variants.push((dup, true));
            let mut missing = ours.clone();
            missing.pop();
            variants.push((missing.clone(), false));
            let mut replaced = missing.clone();
            replaced.push(other);
            variants.push((replaced, false));
            let mut extra = ours.clone();
            extra.push(other);
            variants.push((extra, false));
            variants.push((vec![ip("2001:db8::1")], false));
            // Repeats standing in for a missing address.
            if n > 1 {
                let mut padded = missing.clone();
                padded.push(ours[0]);
                variants.push((padded, false));
            }
            for (theirs, equal) in variants {
                assert_eq!(
                    same_addresses(&c, &theirs, Family::V4),
                    equal,
                    "{n} VIPs, advert {theirs:?}"
                );
            }
        }
    }

    fn ah_cfg(extra: &str) -> InstanceConfig {
        let text = format!(
            "instances:\n  - name: a\n    interface: eth0\n    vrid: 51\n    version: 2\n    auth_type: ah\n    auth_pass: '12345678'\n    vips: [1.2.3.4/32]\n{extra}"
        );
        Config::parse(&text, Path::new("t"))
            .unwrap()
            .instances
            .remove(0)
    }

    /// keepalived's captured advert (see wire::ah), split as the AH socket does.
    fn keepalived_advert() -> (AhEnvelope, Vec<u8>, IpAddr) {
        let d = crate::wire::ah::tests::KEEPALIVED;
        let (iph, rest) = crate::wire::ipv4::parse_ipv4(&d).unwrap();
        let (header, msg) = ah::parse(rest).unwrap();
        (
            AhEnvelope {
                ip_header: d[..20].to_vec(),
                header,
            },
            msg.to_vec(),
            IpAddr::V4(iph.src),
        )
    }

    #[test]
    fn ah_accepts_keepalived_and_rejects_each_fault_with_its_reason() {
        let c = ah_cfg("");
        let (env, msg, src) = keepalived_advert();
        let fresh = AhSequence::default();
        assert_eq!(check_ah(&c, Some(&env), &msg, src, &fresh), Ok(Some(1)));
        // The VRRP part says AH too, so the usual checks pass.
        let repr = crate::wire::vrrp::parse(&msg, src, ip("224.0.0.18")).unwrap();
        assert_eq!(check(&c, &repr, src, 255, none), Ok(()));

        // The same advert again: a replay.
        let mut seen = AhSequence::default();
        seen.accepted(1);
        assert_eq!(
            check_ah(&c, Some(&env), &msg, src, &seen),
            Err(Reject::AhReplay)
        );
        // Another password.
        let other = InstanceConfig {
            auth_pass: Some("1234567".into()),
            ..ah_cfg("")
        };
        assert_eq!(
            check_ah(&other, Some(&env), &msg, src, &fresh),
            Err(Reject::AhIcvMismatch)
        );
        // A changed byte in the message (priority).
        let mut bent = msg.clone();
        bent[2] = 255;
        assert_eq!(
            check_ah(&c, Some(&env), &bent, src, &fresh),
            Err(Reject::AhIcvMismatch)
        );
        // Unicast mode zeroes the TTL in the ICV: keepalived's multicast
        // ICV (TTL 255 covered) does not verify there.
        assert_eq!(
            check_ah(
                &ah_cfg("    unicast: {peers: [10.9.60.1]}\n"),
                Some(&env),
                &msg,
                src,
                &fresh
            ),
            Err(Reject::AhIcvMismatch)
        );
        // Sent from another address than the SPI names.
        assert_eq!(
            check_ah(&c, Some(&env), &msg, ip("10.9.60.7"), &fresh),
            Err(Reject::AhBadSpi)
        );
        // Without AH where AH is configured, and the reverse.
        assert_eq!(
            check_ah(&c, None, &msg, src, &fresh),
            Err(Reject::AhMissing)
        );
        let pass = InstanceConfig {
            auth_type: AuthType::Pass,
            ..ah_cfg("")
        };
        assert_eq!(
            check_ah(&pass, Some(&env), &msg, src, &fresh),
            Err(Reject::AhUnexpected)
        );
        assert_eq!(check_ah(&pass, None, &msg, src, &fresh), Ok(None));
    }

    #[test]
    fn ah_sequence_is_shared_by_send_and_receive() {
        let mut s = AhSequence::default();
        assert_eq!(s.next_send(), (1, 1));
        assert!(!s.accepts(1), "our own number is not new");
        assert!(s.accepts(2));
        s.accepted(500);
        assert_eq!(s.next_send().0, 501, "a new master sends above the group");
        s.accepted(3);
        assert_eq!(s.last(), 501, "never goes back");
        let mut top = AhSequence {
            seq: AH_SEQ_MAX,
            ip_id: u16::MAX,
        };
        assert_eq!(top.next_send(), (AH_SEQ_MAX, 1), "stops; ID skips 0");
    }

    #[test]
    fn ah_advert_is_v2_with_auth_type_2() {
        let c = ah_cfg("");
        let r = build(&c, Family::V4, 100);
        assert_eq!(r.auth, Auth::Ah);
        let bytes = r.to_bytes(ip("10.9.60.1"), ip("224.0.0.18")).unwrap();
        // The VRRP part of keepalived's advert, byte for byte.
        assert_eq!(bytes, &crate::wire::ah::tests::KEEPALIVED[44..]);
    }

    #[test]
    fn v2_checks_auth_and_interval() {
        let text = "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    version: 2\n    auth_pass: secret\n    vips: [192.0.2.10]\n";
        let c = Config::parse(text, Path::new("t"))
            .unwrap()
            .instances
            .remove(0);
        let good = build(&c, Family::V4, 100);
        assert_eq!(good.auth, Auth::Password(*b"secret\0\0"));
        let src = ip("192.0.2.2");
        assert_eq!(check(&c, &good, src, 255, none), Ok(()));
        let mut r = good.clone();
        r.auth = Auth::Password(*b"wrong\0\0\0");
        assert_eq!(check(&c, &r, src, 255, none), Err(Reject::AuthMismatch));
        r.auth = Auth::None;
        assert_eq!(check(&c, &r, src, 255, none), Err(Reject::AuthMismatch));
        let mut r = good.clone();
        r.max_adver_int = 2;
        assert_eq!(check(&c, &r, src, 255, none), Err(Reject::IntervalMismatch));
    }

    #[test]
    fn unicast_accepts_only_peers_and_any_ttl() {
        let c = cfg("    unicast:\n      peers: [192.0.2.2, \"2001:db8::2\"]\n");
        let r = build(&c, Family::V4, 100);
        assert_eq!(check(&c, &r, ip("192.0.2.2"), 63, none), Ok(()));
        assert_eq!(
            check(&c, &r, ip("192.0.2.3"), 255, none),
            Err(Reject::UnknownPeer)
        );
    }
}

//! Adverts of one instance: what we send, and whether one we received is
//! ours to act on (RFC 5798 7.1, RFC 3768 7.1). Pure functions, so every
//! drop reason is unit-tested; the daemon only counts the verdicts.

use std::net::IpAddr;

use crate::config::{InstanceConfig, VrrpVersion};
use crate::family::Family;
use crate::vrrp::interval_to_field;
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
        }
    }
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
    if repr.priority != 255 {
        let mut theirs: Vec<IpAddr> = repr.addresses.clone();
        let mut ours: Vec<IpAddr> = cfg
            .vips
            .iter()
            .filter(|v| v.family() == Family::of(src))
            .map(|v| v.address)
            .collect();
        theirs.sort();
        theirs.dedup();
        ours.sort();
        if theirs != ours {
            return Err(Reject::AddressMismatch);
        }
    }
    Ok(())
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

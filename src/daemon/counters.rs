//! Per-instance counters, and why packets are dropped, as types.
//!
//! The keys are the names `vipctl status` has always shown (scripts and
//! monitoring rely on them): they come from one place each, the codec's
//! [`ParseError::reason`], the advert check's [`Reject::reason`], and the
//! two enums here.

use std::collections::BTreeMap;

use crate::advert::Reject;
use crate::wire::vrrp::ParseError;

/// Why a received packet was not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not a well-formed VRRP message (or its IP header was not well
    /// formed): RFC 5798 7.1's message checks.
    Malformed(ParseError),
    /// Well formed, for one of our instances, but not to be acted on: RFC
    /// 5798 7.1's checks against the instance.
    Rejected(Reject),
    /// Well formed, but no instance on that interface and family has its
    /// VRID.
    UnknownVrid,
}

impl DropReason {
    /// The stable counter name.
    pub fn key(self) -> &'static str {
        match self {
            DropReason::Malformed(e) => e.reason(),
            DropReason::Rejected(r) => r.reason(),
            DropReason::UnknownVrid => "unknown_vrid",
        }
    }
}

/// Why something we meant to send did not leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// No address of the advert's family to send it from.
    NoSourceAddress,
    /// The kernel refused the advert.
    Advert,
    /// The kernel refused a gratuitous ARP / unsolicited NA.
    Announcement,
}

impl SendFailure {
    /// The stable counter name.
    pub fn key(self) -> &'static str {
        match self {
            SendFailure::NoSourceAddress => "send_no_source_address",
            SendFailure::Advert => "send_failed",
            SendFailure::Announcement => "announce_failed",
        }
    }
}

/// Counts by stable name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(BTreeMap<&'static str, u64>);

impl Tally {
    pub fn add(&mut self, key: &'static str, n: u64) {
        *self.0.entry(key).or_default() += n;
    }

    /// As `vipctl status` shows them.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        self.0.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}

/// What one instance did and dropped.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub became_master: u64,
    pub vips_restored: u64,
    /// Split-brain episodes seen as master ([`crate::vrrp::Action::DualMaster`]).
    pub dual_master: u64,
    /// Received packets dropped, and sends that failed, by name. Both are
    /// shown under `drops` in `vipctl status` (its keys are a stable
    /// interface); the `send_` and `announce_` names tell them apart.
    pub drops: Tally,
}

impl Counters {
    pub fn dropped(&mut self, reason: DropReason) {
        self.drops.add(reason.key(), 1);
    }

    pub fn send_failed(&mut self, failure: SendFailure, n: u64) {
        if n > 0 {
            self.drops.add(failure.key(), n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The counter names are an interface: every reason keeps its name.
    #[test]
    fn drop_reasons_keep_their_names() {
        let cases: &[(DropReason, &str)] = &[
            (
                DropReason::Malformed(ParseError::EmptyPayload),
                "empty_payload",
            ),
            (DropReason::Malformed(ParseError::Truncated), "truncated"),
            (DropReason::Malformed(ParseError::BadLength), "bad_length"),
            (
                DropReason::Malformed(ParseError::BadVersion(4)),
                "bad_version",
            ),
            (DropReason::Malformed(ParseError::BadType(2)), "bad_type"),
            (
                DropReason::Malformed(ParseError::BadChecksum),
                "bad_checksum",
            ),
            (
                DropReason::Malformed(ParseError::BadAuthType(3)),
                "bad_auth_type",
            ),
            (
                DropReason::Malformed(ParseError::FamilyMismatch),
                "family_mismatch",
            ),
            (
                DropReason::Malformed(ParseError::V2OverIpv6),
                "v2_over_ipv6",
            ),
            (
                DropReason::Malformed(ParseError::BadIpVersion(6)),
                "bad_ip_version",
            ),
            (
                DropReason::Malformed(ParseError::BadIpHeader),
                "bad_ip_header",
            ),
            (DropReason::Rejected(Reject::BadTtl), "bad_ttl"),
            (
                DropReason::Rejected(Reject::VersionMismatch),
                "version_mismatch",
            ),
            (DropReason::Rejected(Reject::AuthMismatch), "auth_mismatch"),
            (
                DropReason::Rejected(Reject::IntervalMismatch),
                "interval_mismatch",
            ),
            (
                DropReason::Rejected(Reject::AddressMismatch),
                "address_mismatch",
            ),
            (DropReason::Rejected(Reject::UnknownPeer), "unknown_peer"),
            (DropReason::Rejected(Reject::OwnPacket), "own_packet"),
            (DropReason::Rejected(Reject::AhMissing), "ah_missing"),
            (DropReason::Rejected(Reject::AhUnexpected), "ah_unexpected"),
            (
                DropReason::Rejected(Reject::AhIcvMismatch),
                "ah_icv_mismatch",
            ),
            (DropReason::Rejected(Reject::AhBadSpi), "ah_bad_spi"),
            (DropReason::Rejected(Reject::AhReplay), "ah_replay"),
            (
                DropReason::Malformed(ParseError::BadAhHeader),
                "bad_ah_header",
            ),
            (
                DropReason::Malformed(ParseError::AhNotVrrp(6)),
                "ah_not_vrrp",
            ),
            (DropReason::UnknownVrid, "unknown_vrid"),
        ];
        for (reason, key) in cases {
            assert_eq!(reason.key(), *key, "{reason:?}");
        }
        assert_eq!(SendFailure::NoSourceAddress.key(), "send_no_source_address");
        assert_eq!(SendFailure::Advert.key(), "send_failed");
        assert_eq!(SendFailure::Announcement.key(), "announce_failed");
    }

    #[test]
    fn counts_by_name() {
        let mut c = Counters::default();
        c.dropped(DropReason::Malformed(ParseError::BadVersion(4)));
        c.dropped(DropReason::Malformed(ParseError::BadVersion(5)));
        c.send_failed(SendFailure::Announcement, 3);
        c.send_failed(SendFailure::Advert, 0);
        let m = c.drops.to_map();
        assert_eq!(m.get("bad_version"), Some(&2));
        assert_eq!(m.get("announce_failed"), Some(&3));
        assert_eq!(m.get("send_failed"), None, "zero failures leave no key");
    }
}

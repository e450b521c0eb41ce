//! Per-instance choices about what goes on the wire beyond RFC 5798's
//! fields: the VRRPv3-over-IPv4 checksum form peers expect, the DSCP of
//! adverts, and how a master answers another master of lower priority
//! (issue 11: interoperate with every peer an operator has). Each has the
//! default a new group should use; the others exist for existing peers.
//! See docs/wire-variants.md.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::wire::vrrp::V3Ipv4Checksum;

/// How the checksum of a VRRPv3 advert over IPv4 is computed (`v3_ipv4_checksum`).
/// IPv6 (always with the RFC 2460 pseudo-header) and VRRPv2 (never) are
/// not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum V3Ipv4ChecksumForm {
    /// RFC 5798 5.2.8 as keepalived (default), FRR (default) and Wireshark
    /// read it: an IPv4 pseudo-header (source, destination, 0, 112, length)
    /// and the message.
    #[default]
    PseudoHeader,
    /// The message alone, as VRRPv2 sums it (RFC 9568 5.2.8): keepalived's
    /// `v3_checksum_as_v2`, FRR's `no checksum-with-ipv4-pseudoheader`.
    MessageOnly,
    /// The pseudo-header with the VRRP group 224.0.0.18 as destination even
    /// for unicast adverts: keepalived 1.3.6 and earlier, and keepalived's
    /// `old_unicast_checksum`. The same as `pseudo_header` for multicast.
    GroupPseudoHeader,
}

impl V3Ipv4ChecksumForm {
    pub const ALL: [V3Ipv4ChecksumForm; 3] = [
        V3Ipv4ChecksumForm::PseudoHeader,
        V3Ipv4ChecksumForm::MessageOnly,
        V3Ipv4ChecksumForm::GroupPseudoHeader,
    ];

    /// The codec's name for it.
    pub fn codec(self) -> V3Ipv4Checksum {
        match self {
            V3Ipv4ChecksumForm::PseudoHeader => V3Ipv4Checksum::PseudoHeader,
            V3Ipv4ChecksumForm::MessageOnly => V3Ipv4Checksum::MessageOnly,
            V3Ipv4ChecksumForm::GroupPseudoHeader => V3Ipv4Checksum::GroupPseudoHeader,
        }
    }

    pub fn is_default(&self) -> bool {
        *self == V3Ipv4ChecksumForm::default()
    }
}

/// Which checksum forms a received VRRPv3 advert over IPv4 may carry
/// (`v3_ipv4_checksum_accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumAccept {
    /// Only the form this instance sends. A peer of another form is
    /// counted (`bad_checksum`) and ignored, so the mismatch shows in
    /// `vipctl status` instead of half-working: accepting a peer that
    /// rejects our adverts would still end in two masters whenever we win.
    #[default]
    Sent,
    /// Any of the three forms. For a group being migrated whose routers do
    /// not all agree yet; the chance that a corrupted message passes one of
    /// three sums is still about 3 in 65536.
    Any,
}

impl ChecksumAccept {
    pub fn is_default(&self) -> bool {
        *self == ChecksumAccept::default()
    }

    /// The forms to try on receive after the sent one fails its checksum
    /// (none unless `any`); an iterator, so the receive path allocates
    /// nothing per packet.
    pub fn fallbacks(self, sent: V3Ipv4ChecksumForm) -> impl Iterator<Item = V3Ipv4Checksum> {
        V3Ipv4ChecksumForm::ALL
            .into_iter()
            .filter(move |f| self == ChecksumAccept::Any && *f != sent)
            .map(V3Ipv4ChecksumForm::codec)
    }
}

/// The Differentiated Services code point of adverts (`dscp`, 0-63): the
/// upper six bits of the IPv4 TOS / IPv6 traffic class (RFC 2474).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dscp(u8);

impl Dscp {
    /// Class selector 6, network control (RFC 4594 3.2): what keepalived
    /// and FRR mark their adverts with.
    pub const CS6: Dscp = Dscp(48);

    pub fn new(v: u8) -> Option<Dscp> {
        (v <= 63).then_some(Dscp(v))
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// The IPv4 TOS / IPv6 traffic class octet (ECN bits zero).
    pub fn tos(self) -> u8 {
        self.0 << 2
    }

    pub fn is_default(&self) -> bool {
        *self == Dscp::default()
    }
}

impl Default for Dscp {
    fn default() -> Dscp {
        Dscp::CS6
    }
}

impl fmt::Display for Dscp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Dscp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

/// Checked where it is written, so the error carries its line.
impl<'de> Deserialize<'de> for Dscp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dscp, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dscp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSCP value 0-63 (48 is CS6, network control)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dscp, E> {
                u8::try_from(v).ok().and_then(Dscp::new).ok_or_else(|| {
                    E::custom(format!(
                        "dscp {v} is out of range 0-63 (it is the upper six bits of the TOS octet: write 48 for CS6, not 192)"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dscp, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("dscp {v} is out of range 0-63"))),
                }
            }
        }
        d.deserialize_u64(V)
    }
}

/// What a master does on hearing an advert of lower priority (or of equal
/// priority from a lower address), i.e. another master it outranks: a
/// split brain healing (`lower_priority_master`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LowerPriorityMaster {
    /// Advertise at once, so the other master steps down now rather than
    /// at our next interval, and announce the VIPs again (gratuitous ARP /
    /// unsolicited NA) so switches and neighbours relearn where they are;
    /// counted as `dual_master` and logged. keepalived does the same
    /// (`garp_lower_prio_repeat`, adverts unless `lower_prio_no_advert`).
    #[default]
    Reassert,
    /// Discard the advert, as RFC 5798 6.4.3 says; the other master steps
    /// down at our next advert. Still counted and logged.
    Ignore,
}

impl LowerPriorityMaster {
    pub fn is_default(&self) -> bool {
        *self == LowerPriorityMaster::default()
    }
}

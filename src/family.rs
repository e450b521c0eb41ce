//! Address families as a type, so a flipped `!` cannot compile.
//!
//! VRRP runs one advert stream per family (RFC 5798 5.2.9: an advert carries
//! addresses of one family only, inferred from the IP header), VRIDs are
//! per family (RFC 5798 7.3), and the virtual MAC differs by family
//! (00-00-5E-00-01-VRID for IPv4, 00-00-5E-00-02-VRID for IPv6). Everything
//! that used to take an `ipv6: bool` (or an `ipv4: bool`, or `v4`) takes a
//! [`Family`] instead.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Both families, IPv4 first (the order adverts are sent in).
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Whether `addr` belongs to this family.
    pub fn contains(self, addr: IpAddr) -> bool {
        Family::of(addr) == self
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }

    /// "IPv4" or "IPv6", for messages.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_of_addresses() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(Family::of(v4), Family::V4);
        assert_eq!(Family::of(v6), Family::V6);
        assert!(Family::V4.contains(v4) && !Family::V4.contains(v6));
        assert_eq!(Family::V4.other(), Family::V6);
        assert_eq!(Family::V6.to_string(), "IPv6");
        assert_eq!(Family::ALL, [Family::V4, Family::V6]);
    }
}

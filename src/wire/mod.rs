//! Packet codecs: pure functions from bytes to values and back, no I/O.
//!
//! Everything here must be total on arbitrary input, because it is the
//! first code to see bytes from the network.

pub mod ah;
pub mod arp;
pub mod checksum;
pub mod ipv4;
pub mod ndisc;
pub mod vrrp;

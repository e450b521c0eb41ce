//! The edges that touch the kernel, each behind a small interface:
//! raw VRRP sockets, rtnetlink, and link-layer announcements.

pub mod announce;
pub mod netlink;
pub mod networkd_dbus;
pub mod timer;
pub mod vrrp_socket;

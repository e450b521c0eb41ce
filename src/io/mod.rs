//! The edges that touch the kernel, each behind a small interface:
//! raw VRRP sockets, rtnetlink, link-layer announcements, and systemd
//! (notifications, journal, units), the files vipd writes into a system,
//! and the optional Prometheus listener.

pub mod announce;
pub mod files;
pub mod journal;
pub mod metrics_http;
pub mod netlink;
pub mod networkd_dbus;
pub mod notify;
pub mod script;
pub mod sysctl;
pub mod systemd;
pub mod timer;
pub mod track;
pub mod vip_device;
pub mod vrrp_socket;

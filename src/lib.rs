//! vipd: a VRRP daemon (RFC 5798 / RFC 3768) for netplan and systemd-networkd hosts.
//!
//! Layout: `wire` (packet codecs, pure), `vrrp` (the sans-IO state machine),
//! `config` (YAML schema and validation), `keepalived` (keepalived.conf import),
//! `diagnostic` (the located error both report),
//! `io` (raw sockets, netlink, announcements: the only code that touches the
//! kernel), `control` (the control-socket protocol), `notify` (notify hooks
//! and units on state changes, sans I/O), `watch` (the event stream of
//! `vipctl watch`), `daemon` (the thin loop that wires them together).

pub mod advert;
pub mod assets;
pub mod cleanup;
pub mod config;
pub mod control;
pub mod daemon;
pub mod diagnostic;
pub mod exit;
pub mod family;
pub mod file_kind;
pub mod health;
pub mod hooks;
pub mod io;
pub mod keepalived;
pub mod metrics;
pub mod migrate;
pub mod networkd;
pub mod notify;
pub mod output;
pub mod probe;
pub mod vrrp;
pub mod watch;
pub mod wire;

//! Service health, sans I/O: tracker results in, each instance's effective
//! priority and FAULT out, time passed in.
//!
//! The runners that produce results (commands, D-Bus, /proc, inotify,
//! TCP) live in `crate::io::track`; the daemon feeds their results here and
//! tells each router what changed ([`crate::vrrp::Event::SetPriority`],
//! [`crate::vrrp::Event::HealthFault`]).
//!
//! Layout: `tracker` (one tracker's rise/fall), `priority` (weights and
//! FAULT, the arithmetic `vipctl status` shows), `board` (every tracker and
//! who uses it, groups included).

mod board;
mod priority;
mod tracker;

pub use board::{Board, Change};
pub use priority::{Effect, FILE_FAULT_AT, Health, Term, evaluate};
pub use tracker::{Outcome, Status, Tracker};

//! `vipctl probe`: an ICMP/ICMPv6 echo prober that measures how long a VIP is
//! unreachable, for operators during maintenance and for the labs.
//!
//! Why not `ping -i 0.01`: iputils ping sleeps with millisecond rounding and
//! timestamps replies after it was scheduled, so on a loaded VM it only
//! manages ~60 requests/s and reports 30-140 ms "gaps" that are its own
//! scheduling delay. Here:
//! - requests go out on an absolute CLOCK_MONOTONIC grid (a periodic timerfd:
//!   the kernel keeps the grid, a late wake-up does not shift later slots);
//! - receive times are the kernel's (SO_TIMESTAMPNS), so the prober's own
//!   scheduling delay does not lengthen a measured gap;
//! - replies are matched by id + sequence number + a per-run token in the
//!   payload, so other pingers' replies, duplicates and garbage are ignored.
//!
//! The pure parts (`packet`: build and parse; `tracker`: sequence
//! bookkeeping and statistics) are separate from the system side (`socket`)
//! and the socket loop (`run`), and unit-tested with byte vectors and
//! synthetic timestamps.

mod packet;
mod run;
mod socket;
mod tracker;

use std::io;
use std::process::ExitCode;

use crate::exit::Exit;

pub use packet::{EchoReply, echo_request, inet_checksum, parse_echo_reply};
use run::run;
pub use socket::resolve_target;
pub use tracker::{Fate, Gap, GapBound, ReplyKind, Request, Summary, Tracker};

/// Arguments of `vipctl probe`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Time between two requests, in milliseconds (absolute schedule).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub interval_ms: u64,
    /// Stop after this many requests (and their replies or timeouts).
    #[arg(long, conflicts_with = "duration_ms", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop sending after this many milliseconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_ms: Option<u64>,
    /// A request without a reply after this long is reported lost.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Print the summary as one JSON object instead of a `summary` line.
    #[arg(long)]
    pub json: bool,
    /// Ask for SCHED_FIFO (priority 10) so that sends are not delayed by
    /// other processes; a warning is printed and the probe goes on if this
    /// is not allowed.
    #[arg(long)]
    pub realtime: bool,
    /// IPv4/IPv6 address or host name; link-local IPv6 as `fe80::1%eth0`.
    pub target: String,
}

/// Runs `vipctl probe`. Exit code 0 if at least one reply came back, 1 if
/// none, 2 on a usage or socket error.
pub fn main(args: ProbeArgs) -> ExitCode {
    match run(&args, &mut io::stdout()) {
        Ok(s) if s.received > 0 => Exit::Success.into(),
        Ok(_) => Exit::Failure.into(),
        Err(e) => {
            eprintln!("vipctl probe: {e}");
            Exit::Usage.into()
        }
    }
}

#[cfg(test)]
mod tests;

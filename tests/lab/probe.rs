//! Precise reachability observer: `vipctl probe` in a lab host.
//!
//! Unlike [`super::ping`] (iputils ping: ~60 requests/s here and its own
//! scheduling delay in every timestamp), `vipctl probe` sends on an absolute
//! timerfd schedule and stamps replies with the kernel's receive time, so a
//! 10 ms interval is 10 ms and a gap is the network's, not the observer's.
//! This module only parses its output; `vipctl probe` itself is judged by
//! tests/probe_lab.rs against events the lab makes (address removed, link
//! down) on its own clock.

use super::vipd::vipctl_bin;
use super::{Host, ProcHandle, now_epoch};
use std::net::IpAddr;
use std::time::Duration;

/// A running `vipctl probe --interval-ms N --realtime TARGET`.
pub struct ProbeObserver {
    proc: ProcHandle,
    target: IpAddr,
    started: Duration,
}

/// Result of a [`ProbeObserver`].
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    /// Requests sent / fresh replies / requests declared lost (summary).
    pub sent: u32,
    pub received: u32,
    pub lost: u32,
    /// Longest time without a reply, edges included: between successive
    /// replies, from the first request to the first reply, and from the last
    /// reply to stop (the whole run if there was no reply).
    pub longest_gap: Duration,
    /// Kernel receive times (since the epoch) of the replies, in order.
    pub replies: Vec<Duration>,
    /// Send times of the requests those replies answer (same order).
    pub reply_sent: Vec<Duration>,
    /// Send times of the requests that got no reply within the timeout.
    pub lost_sent: Vec<Duration>,
    /// Mean interval between requests the probe achieved (summary's
    /// `mean_interval_us`; the nominal interval if it printed none).
    pub interval: Duration,
    /// Worst delay of a send after its slot (summary's `max_send_late_us`).
    pub max_send_late: Duration,
    /// Schedule slots skipped because the probe was not running in time.
    pub skipped_slots: u32,
    /// Send time of the first request (or the spawn time if none), and
    /// when `stop` was called.
    pub started: Duration,
    pub stopped: Duration,
    /// Raw output, for failure messages.
    pub output: String,
}

pub(super) fn start(host: &Host, target: IpAddr, interval_ms: u32) -> ProbeObserver {
    assert!(interval_ms > 0, "lab: probe interval must be > 0");
    let seq = host.shared().next_seq();
    let t = super::ping_target(target);
    let iv = interval_ms.to_string();
    let log = format!("probe-{seq}-{}.log", host.name);
    let started = now_epoch();
    let proc = host.spawn(
        &[
            vipctl_bin(),
            "probe",
            "--interval-ms",
            &iv,
            "--timeout-ms",
            "1000",
            "--realtime",
            &t,
        ],
        log,
    );
    ProbeObserver {
        proc,
        target,
        started,
    }
}

impl Host {
    /// Starts `vipctl probe` to `target` every `interval_ms`.
    pub fn probe_observer(&self, target: IpAddr, interval_ms: u32) -> ProbeObserver {
        start(self, target, interval_ms)
    }
}

impl ProbeObserver {
    pub fn target(&self) -> IpAddr {
        self.target
    }

    pub fn process(&self) -> &ProcHandle {
        &self.proc
    }

    /// Replies so far (the probe writes a line per reply as it comes).
    pub fn replies_so_far(&self) -> usize {
        self.proc
            .log()
            .lines()
            .filter(|l| l.starts_with("reply "))
            .count()
    }

    /// Waits until at least `n` replies arrived; false on timeout.
    pub fn wait_replies(&self, n: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, Duration::from_millis(10), || {
            self.replies_so_far() >= n
        })
    }

    /// Stops the probe (SIGINT: it stops sending, waits at most its 1 s
    /// timeout for outstanding replies, and prints its summary) and parses
    /// its output.
    pub fn stop(self) -> ProbeStats {
        let stopped = now_epoch();
        self.proc
            .inner
            .stop_with(libc::SIGINT, Duration::from_secs(3));
        parse_probe_output(&self.proc.log(), self.started, stopped)
    }
}

impl ProbeStats {
    /// Longest interval between successive replies overlapping [start, end]:
    /// from the last reply at or before `start` to the first at or after
    /// `end` (the probe's own start / stop if there is none). (gap, from, to).
    pub fn longest_gap_in(&self, start: Duration, end: Duration) -> (Duration, Duration, Duration) {
        let before = self
            .replies
            .iter()
            .rev()
            .find(|r| **r <= start)
            .copied()
            .unwrap_or(self.started);
        let after = self
            .replies
            .iter()
            .find(|r| **r >= end)
            .copied()
            .unwrap_or(self.stopped);
        let mut points = vec![before];
        points.extend(self.replies.iter().filter(|r| **r > start && **r < end));
        points.push(after.max(*points.last().unwrap_or(&after)));
        points
            .windows(2)
            .map(|w| (w[1].saturating_sub(w[0]), w[0], w[1]))
            .max()
            .unwrap_or_default()
    }
}

/// Value of `key=` in a `key=value ...` line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn epoch_ns(s: &str) -> Option<Duration> {
    s.parse::<u64>().ok().map(Duration::from_nanos)
}

pub fn parse_probe_output(out: &str, spawned: Duration, stopped: Duration) -> ProbeStats {
    let mut st = ProbeStats {
        started: spawned,
        stopped,
        output: out.to_owned(),
        ..ProbeStats::default()
    };
    let mut first_sent: Option<Duration> = None;
    let mut nominal = Duration::from_millis(10);
    let mut mean = None;
    for line in out.lines() {
        let kind = line.split_whitespace().next().unwrap_or("");
        let sent = field(line, "sent").and_then(epoch_ns);
        if field(line, "seq") == Some("0") {
            first_sent = first_sent.or(sent);
        }
        match kind {
            "reply" => {
                if let (Some(r), Some(s)) = (field(line, "recv").and_then(epoch_ns), sent) {
                    st.replies.push(r);
                    st.reply_sent.push(s);
                }
            }
            "lost" => st.lost_sent.extend(sent),
            "probe" => {
                if let Some(us) = field(line, "interval_us").and_then(|v| v.parse().ok()) {
                    nominal = Duration::from_micros(us);
                }
            }
            "summary" => {
                let num = |k: &str| field(line, k).and_then(|v| v.parse::<u64>().ok());
                st.sent = num("sent").unwrap_or(0) as u32;
                st.received = num("received").unwrap_or(0) as u32;
                st.lost = num("lost").unwrap_or(0) as u32;
                st.skipped_slots = num("skipped_slots").unwrap_or(0) as u32;
                mean = num("mean_interval_us").map(Duration::from_micros);
                st.max_send_late = Duration::from_micros(num("max_send_late_us").unwrap_or(0));
            }
            _ => {}
        }
    }
    st.interval = mean.unwrap_or(nominal);
    if let Some(f) = first_sent {
        st.started = f;
    }
    let mut points = Vec::with_capacity(st.replies.len() + 2);
    points.push(st.started);
    points.extend(st.replies.iter().copied());
    points.push(stopped.max(*points.last().unwrap_or(&stopped)));
    st.longest_gap = points
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default();
    st
}

//! Fast ping observer: measures reachability gaps (e.g. across a failover).

use super::{Host, ProcHandle, now_epoch, ping_target, require_tool};
use std::net::IpAddr;
use std::time::Duration;

/// A running `ping -D -i INTERVAL -W 1 -n TARGET`.
///
/// Note: on this kind of kernel `-i 0.01` yields only ~60 requests per second
/// (timer granularity), so gap resolution is ~15-20 ms, not 10 ms.
pub struct PingObserver {
    proc: ProcHandle,
    target: IpAddr,
    started: Duration,
}

/// Result of a [`PingObserver`].
#[derive(Clone, Debug)]
pub struct PingStats {
    /// Echo requests sent (ping's summary; 0 if missing).
    pub sent: u32,
    /// Echo replies received (duplicates not counted).
    pub received: u32,
    /// Longest time without a reply: between successive replies, and from
    /// start to the first reply and from the last reply to stop (the whole
    /// run if there was no reply).
    pub longest_gap: Duration,
    /// Timestamps (since the Unix epoch, from `ping -D`) of the replies.
    pub replies: Vec<Duration>,
    /// Wall clock (since epoch) when ping was started / stopped.
    pub started: Duration,
    pub stopped: Duration,
    /// Raw ping output, for failure messages.
    pub output: String,
}

pub(super) fn start(host: &Host, target: IpAddr, interval_ms: u32) -> PingObserver {
    require_tool("ping");
    assert!(interval_ms > 0, "lab: ping interval must be > 0");
    let seq = host.shared().next_seq();
    let interval = format!("{}.{:03}", interval_ms / 1000, interval_ms % 1000);
    let fam = if target.is_ipv6() { "-6" } else { "-4" };
    let t = ping_target(target);
    let log = format!("ping-{seq}-{}.log", host.name);
    let started = now_epoch();
    let proc = host.spawn(
        &["ping", fam, "-D", "-n", "-i", &interval, "-W", "1", &t],
        log,
    );
    PingObserver {
        proc,
        target,
        started,
    }
}

impl PingObserver {
    pub fn target(&self) -> IpAddr {
        self.target
    }

    pub fn process(&self) -> &ProcHandle {
        &self.proc
    }

    /// Replies received so far (iputils ping flushes every line, so the log
    /// is live).
    pub fn replies_so_far(&self) -> usize {
        self.proc
            .log()
            .lines()
            .filter(|l| l.starts_with('[') && l.contains("bytes from") && !l.contains("DUP!"))
            .count()
    }

    /// Waits until at least `n` replies arrived (e.g. before starting the
    /// event to measure, to be sure the path works); false on timeout.
    pub fn wait_replies(&self, n: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, Duration::from_millis(10), || {
            self.replies_so_far() >= n
        })
    }

    /// Stops ping (SIGINT, which makes it print its summary) and computes
    /// the statistics.
    pub fn stop(self) -> PingStats {
        let stopped = now_epoch();
        self.proc
            .inner
            .stop_with(libc::SIGINT, Duration::from_secs(3));
        parse_ping_output(&self.proc.log(), self.started, stopped)
    }
}

/// Parses `[1700000000.123456]` into a duration since epoch.
fn parse_epoch(s: &str) -> Option<Duration> {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let sec: u64 = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some(Duration::new(sec, digits.parse().ok()?))
}

fn parse_ping_output(out: &str, started: Duration, stopped: Duration) -> PingStats {
    let mut replies = Vec::new();
    let mut sent = 0;
    let mut summary_received = None;
    for line in out.lines() {
        if line.starts_with('[') && line.contains("bytes from") && !line.contains("DUP!") {
            if let Some(ts) = line[1..]
                .split_once(']')
                .and_then(|(ts, _)| parse_epoch(ts))
            {
                replies.push(ts);
            }
        } else if line.contains("packets transmitted") {
            // "N packets transmitted, M received, ..."
            let mut parts = line.split(',');
            sent = parts
                .next()
                .and_then(|p| p.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            summary_received = parts
                .next()
                .and_then(|p| p.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok());
        }
    }
    let mut points = Vec::with_capacity(replies.len() + 2);
    points.push(started);
    points.extend(replies.iter().copied());
    points.push(stopped.max(*points.last().unwrap()));
    let longest_gap = points
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default();
    PingStats {
        sent,
        received: summary_received.unwrap_or(replies.len() as u32),
        longest_gap,
        replies,
        started,
        stopped,
        output: out.to_owned(),
    }
}

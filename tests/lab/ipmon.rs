//! When an address comes and goes on a lab host, from the kernel's netlink
//! notifications: `ip -ts monitor address dev DEV` in the host's namespace,
//! read afterwards from its log.
//!
//! The monitor runs with SCHED_FIFO (`chrt -f 10`) when allowed, so that it
//! is not scheduled late and does not read a delete and the re-add in one
//! batch, which would show a too short absence. The timestamps are taken by
//! `ip` when it reads the notification (netlink has none): a lone
//! notification is stamped after `ip`'s wake-up (~0.1-0.2 ms typical on the
//! development VM with SCHED_FIFO, tail ~2 ms); a burst is read in one go
//! and stamped within microseconds, so a very short absence inside a burst
//! can read shorter than it was.

use super::{Host, ProcHandle, now_epoch};
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

/// A running `ip -ts monitor address dev DEV`.
pub struct AddrMonitor {
    pub proc: ProcHandle,
    /// Wall clock (since the epoch) when it was started.
    pub started: Duration,
}

/// `chrt -f 10` if SCHED_FIFO is allowed here, else nothing.
pub fn rt_prefix() -> &'static [&'static str] {
    let ok = Command::new("chrt")
        .args(["-f", "10", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if ok { &["chrt", "-f", "10"] } else { &[] }
}

impl Host {
    /// Starts `ip -ts monitor address dev DEV` (TZ=UTC) in this host; returns
    /// once it has been running for 300 ms (panics with its log if it died).
    pub fn start_addr_monitor(&self, dev: &str) -> AddrMonitor {
        let mut args: Vec<&str> = rt_prefix().to_vec();
        args.extend(["ip", "-ts", "monitor", "address", "dev", dev]);
        let started = now_epoch();
        let log = format!("ipmon-{}-{dev}.log", self.name);
        let proc = self.spawn_env(&args, &[("TZ", "UTC")], log);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            proc.is_running(),
            "lab: {}: ip monitor died:\n{}",
            self.name,
            proc.log_tail(10)
        );
        AddrMonitor { proc, started }
    }
}

impl AddrMonitor {
    /// (time, added) of every add/delete of `cidr` seen so far.
    pub fn events(&self, cidr: &str) -> Vec<(Duration, bool)> {
        vip_events(&self.proc.log(), cidr)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-22T07:55:24.440274` (UTC, `ip -ts` with TZ=UTC) since the epoch.
pub fn parse_ip_ts(s: &str) -> Option<Duration> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Some(Duration::new(
        u64::try_from(secs).ok()?,
        digits.parse().ok()?,
    ))
}

/// One address notification of an `ip -ts monitor address` log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrEvent {
    pub ts: Duration,
    /// Added (or changed) when true, "Deleted" when false.
    pub added: bool,
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Every address notification (IPv4 and IPv6) in an `ip -ts monitor
/// address` log, in order.
///
/// With `dev DEV`, `ip` prints the timestamp of a notification before it
/// filters it out, so a notification about another device leaves a bare
/// `[stamp]` in front of the next line: a line's own stamp is its last one.
pub fn addr_events(log: &str) -> Vec<AddrEvent> {
    log.lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| {
            let mut line = l;
            let (ts, rest) = loop {
                let (ts, rest) = line[1..].split_once(']')?;
                match rest.strip_prefix(' ') {
                    Some(next) if next.starts_with('[') => line = next,
                    _ => break (ts, rest),
                }
            };
            let mut words = rest.split_whitespace().peekable();
            let added = words.peek() != Some(&"Deleted");
            words.find(|w| *w == "inet" || *w == "inet6")?;
            let (addr, prefix) = words.next()?.split_once('/')?;
            Some(AddrEvent {
                ts: parse_ip_ts(ts)?,
                added,
                addr: addr.parse().ok()?,
                prefix: prefix.parse().ok()?,
            })
        })
        .collect()
}

/// (time, added) of every add/delete of `cidr` ("ADDR/PREFIX", or "ADDR"
/// for any prefix) in an `ip -ts monitor address` log.
pub fn vip_events(log: &str, cidr: &str) -> Vec<(Duration, bool)> {
    let (addr, prefix) = match cidr.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()),
        None => (cidr, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        panic!("lab: bad address {cidr:?}");
    };
    addr_events(log)
        .into_iter()
        .filter(|e| e.addr == addr && prefix.is_none_or(|p| p == e.prefix))
        .map(|e| (e.ts, e.added))
        .collect()
}

/// A time the address was gone: its delete, and the re-add if there was one.
pub struct Outage {
    pub deleted: Duration,
    pub added: Option<Duration>,
}

/// The outages in `events` (as from [`vip_events`]; the address is taken to
/// be present before the first event).
pub fn outages(events: &[(Duration, bool)]) -> Vec<Outage> {
    let mut out: Vec<Outage> = Vec::new();
    let mut present = true;
    for &(ts, added) in events {
        match (present, added) {
            (true, false) => out.push(Outage {
                deleted: ts,
                added: None,
            }),
            (false, true) => {
                if let Some(o) = out.last_mut() {
                    o.added = Some(ts);
                }
            }
            _ => {}
        }
        present = added;
    }
    out
}
